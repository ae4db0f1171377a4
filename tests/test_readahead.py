"""The read-ahead controller alone: windows grow while a scan goes on, reset on a jump, and
follow strides; no I/O, so every case is exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contexts.policies.readahead import ReadAheadWindow


def test_the_first_read_asks_for_nothing() -> None:
    assert ReadAheadWindow(100).after(0, 50) == []


def test_a_sequential_scan_reads_ahead_in_doubling_windows_up_to_the_maximum() -> None:
    window = ReadAheadWindow(100, initial_blocks=2, max_blocks=8)
    window.after(0, 100)
    assert window.after(100, 200) == [(200, 400)]  # 2 blocks after the block of line 199
    assert window.blocks == 4
    assert window.after(200, 300) == [(300, 700)]
    assert window.after(300, 400) == [(400, 1200)]
    assert window.after(400, 500) == [(500, 1300)] and window.blocks == 8  # capped


def test_a_read_of_many_blocks_asks_for_at_least_its_own_size() -> None:
    window = ReadAheadWindow(100, initial_blocks=1, max_blocks=64)
    window.after(0, 1000)
    assert window.after(1000, 2000) == [(2000, 3000)]  # ten blocks read: ten ahead


def test_a_read_within_a_block_of_the_last_stop_is_sequential() -> None:
    window = ReadAheadWindow(100)
    window.after(0, 150)
    assert window.after(170, 260) == [(300, 500)]


def test_a_jump_resets_the_window_and_a_reread_keeps_it() -> None:
    window = ReadAheadWindow(10, initial_blocks=1, max_blocks=16)
    for start in range(0, 50, 10):
        window.after(start, start + 10)
    assert window.blocks == 16
    assert window.after(42, 48) == []  # a re-read within the last block
    assert window.blocks == 16
    assert window.after(5000, 5010) == []  # a jump
    assert window.blocks == 1


def test_a_stride_seen_twice_reads_the_next_reads_of_the_stride() -> None:
    window = ReadAheadWindow(100, initial_blocks=2, max_blocks=8)
    assert window.after(0, 10) == []
    assert window.after(1000, 1010) == []  # one gap is not a pattern yet
    assert window.after(2000, 2010) == [(3000, 3010), (4000, 4010)]
    assert window.after(3000, 3010) == [(k * 1000, k * 1000 + 10) for k in range(4, 8)]


def test_a_stride_broken_by_another_length_or_gap_resets() -> None:
    window = ReadAheadWindow(100)
    for start in (0, 1000, 2000):
        window.after(start, start + 10)
    assert window.after(3000, 3020) == []  # another length
    assert window.after(9000, 9020) == []  # another gap: a new candidate only
    assert window.after(15_000, 15_020) == [(21_000, 21_020), (27_000, 27_020)]


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_window_blocks"):
        ReadAheadWindow(10, initial_blocks=0)
    with pytest.raises(ValueError, match="initial_window_blocks"):
        ReadAheadWindow(10, initial_blocks=9, max_blocks=8)
    with pytest.raises(ValueError, match="block_lines"):
        ReadAheadWindow(0)


@given(
    st.integers(1, 50),
    st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 300)), max_size=40),
)
def test_the_window_stays_in_bounds_and_asks_only_ahead_of_the_read(
    block_lines: int, reads: list[tuple[int, int]]
) -> None:
    window = ReadAheadWindow(block_lines, initial_blocks=1, max_blocks=6)
    for start, length in reads:
        ahead = window.after(start, start + length)
        assert 1 <= window.blocks <= 6
        assert all(start < a < b for a, b in ahead)  # only what lies ahead of the read
        assert len(ahead) <= 6
