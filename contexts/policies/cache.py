"""``CachedContext``: an LRU cache bounded in bytes, over any context.

Reads are served in aligned blocks of ``block_lines`` lines. The blocks a batch needs that are
not cached are fetched from the inner context as one batch (``read_many``), so a parallel inner
context still fetches them together. Overlapping re-reads — an RLM re-reads overlapping windows
constantly — are served from memory.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from contexts.base import Context, LineRange
from contexts.lines import IndexedText
from contexts.lru import SizedLRU
from contexts.policies.wrapper import WrappedContext
from contexts.stats import ContextStats

CACHE_BUDGET_BYTES = 256 * 1024 * 1024
"""Default budget of a block cache: the characters it holds plus 8 bytes per line offset."""
DEFAULT_BLOCK_LINES = 1000
_OFFSET_BYTES = 8  # one int64 per line offset (array "q")


class CachedContext(WrappedContext):
    """Wraps ``inner``; never holds more than ``max_bytes`` of cached text (as Python objects).

    ``stats`` are the inner context's, plus this cache's hits and misses (one per block).
    Closing the cache closes the inner context.
    """

    name = "cached"

    def __init__(
        self,
        inner: Context,
        *,
        max_bytes: int = CACHE_BUDGET_BYTES,
        block_lines: int = DEFAULT_BLOCK_LINES,
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        if block_lines < 1:
            raise ValueError(f"block_lines must be at least 1, not {block_lines}")
        super().__init__(inner)
        self.max_bytes = max_bytes
        self.block_lines = block_lines
        self.chunk_lines = max(inner.chunk_lines, block_lines)
        self._lines = len(inner)  # fixed once a context is open; read on every warm slice
        self._blocks: SizedLRU[int, IndexedText] = SizedLRU(max_bytes)

    @property
    def cached_bytes(self) -> int:
        """Bytes the cache holds now (always <= ``max_bytes``)."""
        return self._blocks.nbytes

    def lent(self, nbytes: int) -> AbstractContextManager[None]:
        """Lend ``nbytes`` of the budget while the block runs (the least recently used blocks
        go): for a scan that holds its batches outside the cache, so both fit the budget."""
        return self._blocks.lent(nbytes)

    @property
    def stats(self) -> ContextStats:
        own = self._recorder.snapshot()
        return replace(
            self.inner.stats,
            cache_hits=own.cache_hits,
            cache_misses=own.cache_misses,
            wait_seconds=self.inner.stats.wait_seconds,
            read_ahead_failures=own.read_ahead_failures,
        )

    def _line_count(self) -> int:
        return self._lines

    def __getitem__(self, key: Any) -> str:
        """``ctx[a:b]`` inside one cached block takes a short path; all else as for any context."""
        if key.__class__ is slice and key.step is None and not self._closed:
            start, stop, _step = key.indices(self._lines)
            if start < stop:
                hit = self._cached_single(start, stop)
                if hit is not None:
                    self._after_read(start, stop)
                    return hit
        return super().__getitem__(key)

    def _after_read(self, start: int, stop: int) -> None:
        """Called after each single-range read (a hook for read-ahead policies)."""

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._check_open()
        if len(ranges) == 1:
            hit = self._cached_single(*ranges[0])
            if hit is not None:
                return [hit]
        wanted = sorted({b for start, stop in ranges for b in self._block_ids(start, stop)})
        found = self._lookup(wanted)
        missing = [block for block in wanted if block not in found]
        self._recorder.record_cache(hits=len(wanted) - len(missing), misses=len(missing))
        if missing:
            total = len(self)
            spans = [
                (b * self.block_lines, min(total, (b + 1) * self.block_lines)) for b in missing
            ]
            for block, (start, stop), text in zip(
                missing, spans, self.inner.read_many(spans), strict=True
            ):
                found[block] = IndexedText(text, stop - start, index_first_cut=True)
                self._store(block, found[block])
        return [self._cut(start, stop, found) for start, stop in ranges]

    def _cached_single(self, start: int, stop: int) -> str | None:
        """The fast path of a warm read: one range inside one cached block."""
        block = start // self.block_lines
        if (stop - 1) // self.block_lines != block:
            return None
        entry = self._blocks.get(block)
        if entry is None:
            return None
        self._recorder.record_cache(hits=1)
        first = block * self.block_lines
        return entry.cut(start - first, stop - first)

    def _block_ids(self, start: int, stop: int) -> range:
        return range(start // self.block_lines, (stop - 1) // self.block_lines + 1)

    def _cut(self, start: int, stop: int, found: dict[int, IndexedText]) -> str:
        pieces = []
        for block in self._block_ids(start, stop):
            first = block * self.block_lines
            local_start = max(start, first) - first
            local_stop = min(stop, first + self.block_lines) - first
            pieces.append(found[block].cut(local_start, local_stop))
        return "".join(pieces)

    def _lookup(self, blocks: list[int]) -> dict[int, IndexedText]:
        found = {}
        for block in blocks:
            entry = self._blocks.get(block)
            if entry is not None:
                found[block] = entry
        return found

    def _store(self, block: int, text: IndexedText) -> None:
        # The text, plus the line-offset array IndexedText may build on a second cut.
        # larger than the whole budget: served, never kept
        self._blocks.put(block, text, sys.getsizeof(text.text) + _OFFSET_BYTES * (text.total + 1))

    def _close(self) -> None:
        self._blocks.clear()
        super()._close()

    def _describe(self) -> str:
        return f"LRU {self.max_bytes:,} B over {self.inner!r}"
