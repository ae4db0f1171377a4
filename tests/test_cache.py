"""CachedContext: LRU order, a byte budget that holds, overlapping re-reads served from memory,
misses fetched as one batch, and concurrent use."""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence

import pytest

from contexts import InMemoryContext
from contexts.policies import CachedContext
from tests.reference import reference_lines
from tests.threads import run_in_threads

TEXT = "".join(f"{i:04d} €中 cached line\n" for i in range(1000))
LINES = reference_lines(TEXT)


class CountingContext(InMemoryContext):
    """The oracle, counting the batches asked of it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.batches: list[list[tuple[int, int]]] = []

    def _read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[str]:
        self.batches.append(list(ranges))
        return super()._read_ranges(ranges)


def block_size(lines: int = 10) -> int:
    """What one 10-line block of TEXT costs in the budget (text object + line offsets)."""
    return sys.getsizeof("".join(LINES[:lines])) + 8 * (lines + 1)


def test_overlapping_rereads_hit_and_misses_are_one_batch() -> None:
    inner = CountingContext(TEXT)
    cache = CachedContext(inner, max_bytes=10**7, block_lines=10)
    assert cache[0:150] == "".join(LINES[0:150])
    assert len(inner.batches) == 1 and len(inner.batches[0]) == 15  # 15 blocks, one batch
    assert cache[50:200] == "".join(LINES[50:200])
    assert cache.stats.cache_hits == 10 and cache.stats.cache_misses == 15 + 5
    assert inner.batches[-1] == [(150, 160), (160, 170), (170, 180), (180, 190), (190, 200)]
    assert cache[-3:] == "".join(LINES[-3:]) and cache[::97] == "".join(LINES[::97])


def test_least_recently_used_block_is_evicted_first() -> None:
    inner = CountingContext(TEXT)
    cache = CachedContext(inner, max_bytes=2 * block_size() + 100, block_lines=10)
    cache[0:10]
    cache[10:20]
    cache[0:10]  # block 0 is now the most recent
    cache[20:30]  # evicts block 1, the least recently used
    calls = len(inner.batches)
    cache[0:10]
    assert len(inner.batches) == calls  # still cached
    cache[10:20]
    assert len(inner.batches) == calls + 1  # was evicted, fetched again
    assert cache.cached_bytes <= cache.max_bytes


def test_budget_holds_over_a_scan_ten_times_larger() -> None:
    text = TEXT * 10
    budget = len(text.encode()) // 10
    cache = CachedContext(InMemoryContext(text), max_bytes=budget, block_lines=50)
    peak = 0
    for start in range(0, len(cache), 70):
        assert cache[start : start + 70] == "".join(reference_lines(text)[start : start + 70])
        peak = max(peak, cache.cached_bytes)
    assert 0 < peak <= budget


def test_block_larger_than_the_budget_is_served_not_kept() -> None:
    cache = CachedContext(InMemoryContext(TEXT), max_bytes=100, block_lines=10)
    assert cache[0:10] == "".join(LINES[:10])
    assert cache.cached_bytes == 0


def test_threads_share_the_cache() -> None:
    cache = CachedContext(InMemoryContext(TEXT), max_bytes=5 * block_size(), block_lines=10)
    failures: list[tuple[int, int]] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(300):
            a, b = sorted(rng.randrange(-1010, 1010) for _ in range(2))
            if cache[a:b] != "".join(LINES[a:b]):
                failures.append((a, b))

    run_in_threads(worker, 16)
    assert failures == [] and cache.cached_bytes <= cache.max_bytes


def test_close_closes_the_inner_context_and_bad_arguments() -> None:
    inner = InMemoryContext(TEXT)
    with CachedContext(inner) as cache:
        cache[0:5]
    assert inner.closed and cache.cached_bytes == 0
    with pytest.raises(ValueError, match="block_lines"):
        CachedContext(inner, block_lines=0)
    with pytest.raises(ValueError, match="max_bytes"):
        CachedContext(inner, max_bytes=-1)
