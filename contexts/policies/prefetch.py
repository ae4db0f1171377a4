"""``PrefetchingContext``: read ahead during the caller's think time, inside the cache's budget.

After each read, :class:`~contexts.policies.readahead.ReadAheadWindow` (a pure controller) says
what to fetch in the background: the next ``window`` blocks of a sequential scan, or the next
``window`` reads of a strided one; the window doubles while the scan continues (Mountpoint for
S3 starts small and doubles too), up to ``max_window_blocks``, and a jump elsewhere resets it.
Prefetched blocks live in the LRU cache, so the byte budget covers them; the read-ahead never
takes more than half of it. A read that needs a block being fetched waits for that fetch instead
of issuing its own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait

from contexts.base import Context, LineRange
from contexts.lines import IndexedText
from contexts.policies.cache import CACHE_BUDGET_BYTES, DEFAULT_BLOCK_LINES, CachedContext
from contexts.policies.readahead import ReadAheadWindow


class PrefetchingContext(CachedContext):
    """An LRU cache over ``inner`` that reads ahead when access is sequential."""

    name = "prefetch"

    def __init__(
        self,
        inner: Context,
        *,
        max_bytes: int = CACHE_BUDGET_BYTES,
        block_lines: int = DEFAULT_BLOCK_LINES,
        initial_window_blocks: int = 2,
        max_window_blocks: int = 64,
    ) -> None:
        window = ReadAheadWindow(block_lines, initial_window_blocks, max_window_blocks)
        super().__init__(inner, max_bytes=max_bytes, block_lines=block_lines)
        self.window = window
        """What to read ahead after each read (sequential and strided scans)."""
        self.prefetched_blocks = 0
        """Blocks fetched ahead of any read (for tests and reports)."""
        self._in_flight: dict[int, Future[None]] = {}
        self._flight_lock = threading.Lock()
        self._pattern_lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self._average_block_bytes = 0

    # -- reads ------------------------------------------------------------------------------------

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._wait_for_in_flight(ranges)
        results = super()._read_ranges(ranges)
        if len(ranges) == 1:
            self._after_read(*ranges[0])
        return results

    def _wait_for_in_flight(self, ranges: Sequence[LineRange]) -> None:
        """Let fetches already running for these blocks land in the cache first."""
        if not self._in_flight:  # the common case; a fetch starting now is merely duplicated
            return
        blocks = {b for start, stop in ranges for b in self._block_ids(start, stop)}
        with self._flight_lock:
            pending = [future for block, future in self._in_flight.items() if block in blocks]
        if pending:
            wait(pending)

    def _after_read(self, start: int, stop: int) -> None:
        with self._pattern_lock:
            ahead = self.window.after(start, stop)
        blocks = sorted({b for a, b_stop in ahead for b in self._block_ids(a, b_stop)})
        self._prefetch(blocks[: self._affordable(len(blocks))])

    @property
    def prefetch_failures(self) -> int:
        """Read-ahead batches that failed (``stats.read_ahead_failures``)."""
        return self._recorder.snapshot().read_ahead_failures

    @property
    def window_blocks(self) -> int:
        """The read-ahead window now, in blocks (or reads of a stride)."""
        return self.window.blocks

    def _affordable(self, blocks: int) -> int:
        """At most half the budget ahead of the reader, so the working set is not evicted."""
        if self._average_block_bytes <= 0:
            return blocks
        return max(1, min(blocks, self.max_bytes // 2 // self._average_block_bytes))

    # -- background fetches -----------------------------------------------------------------------

    def _prefetch(self, blocks: Sequence[int]) -> None:
        total_blocks = -(-len(self) // self.block_lines)
        wanted = [b for b in blocks if b < total_blocks]
        cached = self._lookup(wanted)
        with self._flight_lock:
            todo = [b for b in wanted if b not in cached and b not in self._in_flight]
            if not todo or self.closed:
                return
            future: Future[None] = Future()
            for block in todo:
                self._in_flight[block] = future
        try:
            self._worker.submit(self._fetch_ahead, todo, future)
        except RuntimeError:  # the worker was shut down by close()
            self._finish(todo, future)

    def _fetch_ahead(self, blocks: list[int], future: Future[None]) -> None:
        try:
            total = len(self.inner)
            spans = [(b * self.block_lines, min(total, (b + 1) * self.block_lines)) for b in blocks]
            for block, (start, stop), text in zip(
                blocks, spans, self.inner.read_many(spans), strict=True
            ):
                entry = IndexedText(text, stop - start, index_first_cut=True)
                self._store(block, entry)
                self._note_block_size(len(text))
            self.prefetched_blocks += len(blocks)
        except Exception:  # a failed read-ahead is not an error: the real read retries it
            self._recorder.record_read_ahead_failure()
        finally:
            self._finish(blocks, future)

    def _finish(self, blocks: list[int], future: Future[None]) -> None:
        with self._flight_lock:
            for block in blocks:
                if self._in_flight.get(block) is future:
                    del self._in_flight[block]
            if not future.done():  # close() may have released the waiters already
                future.set_result(None)

    def _note_block_size(self, characters: int) -> None:
        # A rough running size, enough to keep the read-ahead inside half the budget.
        size = characters + 8 * self.block_lines
        self._average_block_bytes = (self._average_block_bytes * 3 + size) // 4 or size

    def wait_for_prefetch(self, timeout: float | None = None) -> None:
        """Block until the read-ahead in flight has landed (tests and benchmarks)."""
        with self._flight_lock:
            pending = list(self._in_flight.values())
        wait(pending, timeout=timeout)

    def _close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        with self._flight_lock:
            for future in self._in_flight.values():
                if not future.done():
                    future.set_result(None)
            self._in_flight.clear()
        super()._close()
