"""``s3fs-*``: the peers — the single-object layout read through an s3fs file and fsspec's caches.

Not a lab design: what a user gets by reaching for fsspec/s3fs, configured fairly
(``max_pool_connections`` raised, ``block_size`` a parameter), so the report can show the lab's
contexts next to it in the same run. The line index (``context.idx``) maps line ranges to byte
ranges exactly as for ``s3-byte-range``; the bytes come through one ``S3File`` whose fsspec
cache (``readahead``, ``blockcache`` or ``background``) decides what is fetched.
"""

from __future__ import annotations

from typing import Unpack

from contexts.layouts.single import TEXT_NAME
from contexts.location import S3Location
from contexts.s3_context import S3ClientOptions, S3LayoutContext
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.s3fs import S3fsTransport


class S3fsContext(S3LayoutContext):
    """Line slices through ``s3fs.S3FileSystem().open(".../context.txt", cache_type=...)``.

    ``block_size`` is fsspec's block (``None``: s3fs's default, 50 MiB); ``max_pool_connections``
    is botocore's pool (s3fs's default 10 is raised to 64). Reads of one context are serialised:
    an s3fs file has one position.
    """

    name = "s3fs"
    chunk_lines = 50_000

    def __init__(
        self,
        url: str,
        *,
        cache_type: str = "readahead",
        block_size: int | None = None,
        max_pool_connections: int = 64,
        layout: str = "single",
        **options: Unpack[S3ClientOptions],
    ) -> None:
        if layout != "single":
            raise ValueError(
                f"{self.name} reads the single-object layout only, not {layout!r}; write it with "
                "contexts.write_layout(text, url, layout='single')"
            )
        self.cache_type = cache_type
        self.block_size = block_size
        super().__init__(url, pool_size=max_pool_connections, layout="single", **options)

    def _make_s3_transport(self, location: S3Location, stats: StatsRecorder) -> Transport:
        return S3fsTransport(
            location,
            self.options,
            stats,
            file_name=TEXT_NAME,
            cache_type=self.cache_type,
            block_size=self.block_size,
        )

    def _describe(self) -> str:
        return f"{super()._describe()}, s3fs cache {self.cache_type}"
