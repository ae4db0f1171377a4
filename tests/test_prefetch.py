"""PrefetchingContext: a sequential scan reads ahead (requests before the reads that need them),
a jump resets the window, the budget holds, and close() leaves no thread running."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from contexts import InMemoryContext
from contexts.policies import PrefetchingContext
from tests.reference import reference_lines

TEXT = "".join(f"{i:05d} ✓ prefetched line\n" for i in range(2000))
LINES = reference_lines(TEXT)


class CountingContext(InMemoryContext):
    """The oracle, recording every batch asked of it (by any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.batches: list[list[tuple[int, int]]] = []
        self._lock = threading.Lock()

    def _read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[str]:
        with self._lock:
            self.batches.append(list(ranges))
        return super()._read_ranges(ranges)


def scanner(**options: int) -> tuple[PrefetchingContext, CountingContext]:
    inner = CountingContext(TEXT)
    return PrefetchingContext(inner, block_lines=10, **options), inner


def test_sequential_scan_fetches_ahead_of_the_reads() -> None:
    ctx, inner = scanner(initial_window_blocks=2, max_window_blocks=8)
    assert ctx[0:10] == "".join(LINES[0:10])
    assert ctx[10:20] == "".join(LINES[10:20])  # sequential: blocks 2 and 3 go ahead
    ctx.wait_for_prefetch(timeout=10)
    assert [(20, 30), (30, 40)] in inner.batches
    batches_before = len(inner.batches)
    assert ctx[20:40] == "".join(LINES[20:40])
    # Served from the read-ahead; only the next (doubled) window went to storage.
    ctx.wait_for_prefetch(timeout=10)
    new = inner.batches[batches_before:]
    assert new == [[(40, 50), (50, 60), (60, 70), (70, 80)]]
    assert ctx.stats.cache_hits >= 2 and ctx.prefetched_blocks == 6


def test_reads_served_by_the_warm_path_keep_the_scan_going() -> None:
    ctx, inner = scanner(initial_window_blocks=2, max_window_blocks=8)
    ctx[0:10], ctx[10:20]
    ctx.wait_for_prefetch(timeout=10)  # blocks 2 and 3 are cached ahead
    before, hits = len(inner.batches), ctx.stats.cache_hits
    assert ctx[20:30] == "".join(LINES[20:30])  # one cached block: the short warm path
    ctx.wait_for_prefetch(timeout=10)
    assert ctx.stats.cache_hits == hits + 1
    # The hit still counts as the next step of the scan: the doubled window goes ahead.
    assert inner.batches[before:] == [[(40, 50), (50, 60), (60, 70)]]


def test_a_strided_scan_is_read_ahead_at_its_stride() -> None:
    ctx, inner = scanner(initial_window_blocks=2, max_window_blocks=8)
    for start in (0, 100, 200):  # the third read of one stride confirms it
        assert ctx[start : start + 5] == "".join(LINES[start : start + 5])
    ctx.wait_for_prefetch(timeout=10)
    assert [(300, 310), (400, 410)] in inner.batches  # the next two reads' blocks, ahead
    misses = ctx.stats.cache_misses
    assert ctx[300:305] == "".join(LINES[300:305])
    assert ctx[400:405] == "".join(LINES[400:405])
    assert ctx.stats.cache_misses == misses  # both served from the read-ahead


def test_window_grows_then_resets_on_a_jump() -> None:
    ctx, _inner = scanner(initial_window_blocks=1, max_window_blocks=4)
    for start in range(0, 100, 10):
        ctx[start : start + 10]
    assert ctx.window_blocks == 4  # doubled up to the maximum
    ctx[1500:1510]
    assert ctx.window_blocks == 1
    ctx.wait_for_prefetch(timeout=10)
    assert ctx[1510:1520] == "".join(LINES[1510:1520])


def test_random_reads_never_prefetch() -> None:
    ctx, inner = scanner()
    for start in (500, 100, 1700, 20, 900):
        assert ctx[start : start + 10] == "".join(LINES[start : start + 10])
    ctx.wait_for_prefetch(timeout=10)
    assert ctx.prefetched_blocks == 0 and len(inner.batches) == 5


def test_budget_holds_through_a_full_scan_with_read_ahead() -> None:
    budget = len(TEXT.encode()) // 10
    ctx = PrefetchingContext(
        InMemoryContext(TEXT), max_bytes=budget, block_lines=20, max_window_blocks=64
    )
    peak = 0
    for start in range(0, 2000, 50):
        assert ctx[start : start + 50] == "".join(LINES[start : start + 50])
        peak = max(peak, ctx.cached_bytes)
    ctx.wait_for_prefetch(timeout=10)
    assert ctx.prefetched_blocks > 0 and max(peak, ctx.cached_bytes) <= budget


def test_close_stops_the_prefetch_thread() -> None:
    ctx, inner = scanner()
    for start in range(0, 200, 10):
        ctx[start : start + 10]
    ctx.close()
    assert inner.closed
    assert not [t for t in threading.enumerate() if t.name.startswith("prefetch") and t.is_alive()]


def test_bad_windows() -> None:
    with pytest.raises(ValueError, match="window"):
        PrefetchingContext(InMemoryContext(TEXT), initial_window_blocks=8, max_window_blocks=4)


class FlakyContext(CountingContext):
    """The oracle, failing every batch a background thread asks of it."""

    def _read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[str]:
        if threading.current_thread().name.startswith("prefetch"):
            raise OSError("simulated outage of the read-ahead")
        return super()._read_ranges(ranges)


def test_a_failed_read_ahead_is_counted_in_stats_and_the_read_still_answers() -> None:
    inner = FlakyContext(TEXT)
    ctx = PrefetchingContext(inner, block_lines=10)
    ctx[0:10], ctx[10:20]  # sequential: a read-ahead goes out, and fails
    ctx.wait_for_prefetch(timeout=10)
    assert ctx.stats.read_ahead_failures == 1 == ctx.prefetch_failures
    assert ctx[20:40] == "".join(LINES[20:40])  # fetched on demand instead
    ctx.close()
