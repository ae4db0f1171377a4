"""``obstore``: Rust ``object_store`` GETs, every GET of a batch at once on a private event loop."""

from __future__ import annotations

from typing import Unpack

from contexts.location import S3Location
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES
from contexts.s3_context import S3ConnectionOptions, S3LayoutContext
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.obstore import ObstoreTransport


class ObstoreContext(S3LayoutContext):
    """``ctx[0:50000]`` over 1000-line segments: 50 GETs in flight together through one obstore
    ``S3Store``; with the single-object layout, nearby byte ranges share a GET and long ranges
    are read as parallel parts.

    Needs the ``obstore`` extra (``pip install 'rlm-context-lab[obstore]'``). Credentials come
    from boto3's standard chain, as for every S3 context. ``max_attempts`` counts attempts made
    by the transport itself (obstore's own retries are off), so ``ctx.stats`` sees each one.
    """

    name = "obstore"
    chunk_lines = 50_000

    def __init__(
        self,
        url: str,
        *,
        max_concurrency: int = 64,
        coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
        part_bytes: int | None = DEFAULT_PART_BYTES,
        **options: Unpack[S3ConnectionOptions],
    ) -> None:
        self.max_concurrency = max_concurrency
        self.coalesce_bytes = coalesce_bytes
        self.part_bytes = part_bytes
        super().__init__(url, pool_size=max_concurrency, **options)

    def _make_s3_transport(self, location: S3Location, stats: StatsRecorder) -> Transport:
        return ObstoreTransport(
            location,
            self.options,
            stats,
            max_concurrency=self.max_concurrency,
            coalesce_bytes=self.coalesce_bytes,
            part_bytes=self.part_bytes,
        )
