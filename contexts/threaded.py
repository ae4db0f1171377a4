"""``s3-threaded``: every GET a batch needs, at once, on a long-lived thread pool."""

from __future__ import annotations

from typing import Any, Unpack

from contexts.location import S3Location
from contexts.s3_context import S3ConnectionOptions, S3LayoutContext
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.options import S3Options
from contexts.transport.pool import PooledTransport
from contexts.transport.s3 import S3Transport


class ThreadedS3Transport(PooledTransport, S3Transport):
    """boto3 GETs on ``max_workers`` threads sharing one client (clients are thread-safe)."""

    def __init__(
        self,
        location: S3Location,
        options: S3Options,
        stats: StatsRecorder,
        max_workers: int,
        client: Any = None,
    ) -> None:
        super().__init__(location, options, stats, client)
        self.max_workers = max_workers


class ThreadedS3Context(S3LayoutContext):
    """``ctx[0:50000]`` over 1000-line segments: 50 GETs in flight together, about one
    first-byte latency instead of fifty.

    botocore's connection pool is raised to ``max_workers``: its default of 10 would silently
    serialise a wider fan-out.
    """

    name = "s3-threaded"
    chunk_lines = 50_000

    def __init__(
        self, url: str, *, max_workers: int = 64, **options: Unpack[S3ConnectionOptions]
    ) -> None:
        self.max_workers = max_workers
        super().__init__(url, pool_size=max_workers, **options)

    def _make_s3_transport(self, location: S3Location, stats: StatsRecorder) -> Transport:
        return ThreadedS3Transport(location, self.options, stats, self.max_workers)
