"""``SizedLRU``: the least recently used out first, within a byte budget and a count."""

from __future__ import annotations

import pytest

from contexts.lru import SizedLRU


def test_the_least_recently_used_go_first_to_fit_the_bytes_and_the_count() -> None:
    lru: SizedLRU[str, int] = SizedLRU(max_bytes=10, max_entries=3)
    for key, size in (("a", 3), ("b", 3), ("c", 3)):
        lru.put(key, ord(key), size)
    assert lru.get("a") == ord("a")  # "b" is now the least recently used
    lru.put("d", 1, 1)  # a fourth entry: over the count
    assert lru.get("b") is None and len(lru) == 3 and lru.nbytes == 7
    lru.put("e", 5, 5)  # over the bytes: the least recently used, "c", goes
    assert lru.get("c") is None and lru.get("a") == ord("a") and lru.nbytes == 9
    lru.put("e", 6, 2)  # replaced: counted once, at its new size
    assert lru.get("e") == 6 and lru.nbytes == 6
    lru.put("huge", 0, 11)  # over the whole budget: not kept, nothing dropped
    assert lru.get("huge") is None and len(lru) == 3
    assert lru.find(lambda key: key in "de") == ("d", 1)  # the least recently used match
    assert lru.find(lambda key: key == "z") is None
    lru.clear()
    assert len(lru) == 0 and lru.nbytes == 0


def test_lent_bytes_shrink_the_budget_for_the_block_and_come_back() -> None:
    lru: SizedLRU[str, str] = SizedLRU(10)
    for key in "abcde":
        lru.put(key, key, 2)
    lru.get("a")  # now the most recently used
    with lru.lent(5):
        assert lru.max_bytes == 5 and lru.nbytes <= 5
        assert lru.get("a") == "a" and lru.get("b") is None  # the least recently used went
        lru.put("f", "f", 4)  # fits the rest only: the rest goes
        assert lru.nbytes <= 5 and lru.get("f") == "f"
        with lru.lent(100):  # at most the whole budget: nothing is kept
            assert lru.max_bytes == 0 and lru.nbytes == 0
            lru.put("g", "g", 1)
            assert lru.get("g") is None
        assert lru.max_bytes == 5
    assert lru.max_bytes == 10
    lru.put("h", "h", 6)
    assert lru.nbytes <= 10 and lru.get("h") == "h"


def test_a_lend_ends_when_its_block_raises() -> None:
    lru: SizedLRU[str, str] = SizedLRU(10)
    with pytest.raises(RuntimeError), lru.lent(4):
        raise RuntimeError("scan failed")
    assert lru.max_bytes == 10
