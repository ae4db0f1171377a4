"""Named compositions of a transport and policies, registered like any context."""

from __future__ import annotations

from typing import Unpack

from contexts.policies.cache import CACHE_BUDGET_BYTES, DEFAULT_BLOCK_LINES
from contexts.policies.prefetch import PrefetchingContext
from contexts.s3_context import S3ConnectionOptions
from contexts.threaded import ThreadedS3Context


class CachedPrefetchS3Context(PrefetchingContext):
    """``s3-cached-prefetch``: parallel GETs (``s3-threaded``) + a byte-bounded LRU cache +
    read-ahead during the caller's think time — the composition expected to win in general.

    Open it by URL: ``CachedPrefetchS3Context.open("s3://bucket/ctx/", max_bytes=...)`` or
    ``contexts.open_context("s3-cached-prefetch", url)``.
    """

    name = "s3-cached-prefetch"

    @classmethod
    def open(  # type: ignore[override]
        cls,
        url: str,
        *,
        max_bytes: int = CACHE_BUDGET_BYTES,
        block_lines: int = DEFAULT_BLOCK_LINES,
        max_workers: int = 64,
        initial_window_blocks: int = 2,
        max_window_blocks: int = 64,
        **options: Unpack[S3ConnectionOptions],
    ) -> CachedPrefetchS3Context:
        inner = ThreadedS3Context(url, max_workers=max_workers, **options)
        try:
            return cls(
                inner,
                max_bytes=max_bytes,
                block_lines=block_lines,
                initial_window_blocks=initial_window_blocks,
                max_window_blocks=max_window_blocks,
            )
        except BaseException:
            inner.close()
            raise

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._describe()}>"


__all__ = ["CachedPrefetchS3Context"]
