"""``s3-threaded``: every GET a batch needs, at once, on a long-lived thread pool."""

from __future__ import annotations

from contexts.errors import InvalidURLError
from contexts.layout_context import LayoutContext
from contexts.location import Location, S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.pool import PooledTransport
from contexts.transport.s3 import S3Options, S3Transport


class ThreadedS3Transport(PooledTransport, S3Transport):
    """boto3 GETs on ``max_workers`` threads sharing one client (clients are thread-safe)."""

    def __init__(
        self, location: S3Location, options: S3Options, stats: StatsRecorder, max_workers: int
    ) -> None:
        super().__init__(location, options, stats)
        self.max_workers = max_workers


class ThreadedS3Context(LayoutContext):
    """``ctx[0:50000]`` over 1000-line segments: 50 GETs in flight together, about one
    first-byte latency instead of fifty.

    botocore's connection pool is raised to ``max_workers``: its default of 10 would silently
    serialise a wider fan-out.
    """

    name = "s3-threaded"
    chunk_lines = 50_000

    def __init__(
        self,
        url: str,
        *,
        layout: str = "auto",
        max_workers: int = 64,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        profile_name: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        max_attempts: int = 3,
        retry_mode: str = "standard",
    ) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self.max_workers = max_workers
        self.options = S3Options(
            endpoint_url=endpoint_url,
            region_name=region_name,
            profile_name=profile_name,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            max_attempts=max_attempts,
            retry_mode=retry_mode,
            max_pool_connections=max_workers,
        )
        super().__init__(url, layout=layout)

    def _make_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        if not isinstance(location, S3Location):
            raise InvalidURLError(
                f"{self.name} reads s3:// URLs, not {self.url!r}; use the 'volume' context "
                "for a directory"
            )
        return ThreadedS3Transport(location, self.options, stats, self.max_workers)
