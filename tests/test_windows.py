"""``LineWindows``: aligned windows of lines, kept least recently used first out, cut exactly as
the reference cuts the text."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contexts.windows import LineWindows
from tests.reference import reference_lines
from tests.strategies import nasty_texts


def test_a_window_is_the_aligned_run_holding_a_range_or_two_across_an_edge() -> None:
    windows = LineWindows(100, window_lines=16)
    assert windows.window_of(3, 4) == (0, 16)
    assert windows.window_of(16, 32) == (16, 32)
    assert windows.window_of(15, 17) == (0, 32)  # across an edge: both windows
    assert windows.window_of(97, 100) == (96, 100)  # the last, short window
    assert windows.window_of(0, 17) is None  # longer than a window: not kept


def test_windows_are_kept_least_recently_used_first_out() -> None:
    windows = LineWindows(64, window_lines=16, capacity=2)
    for first in (0, 16):
        windows.keep((first, first + 16), "".join(f"{i}\n" for i in range(first, first + 16)))
    assert windows.cut(1, 2) == "1\n"  # (0, 16) is now the most recent
    windows.keep((32, 48), "".join(f"{i}\n" for i in range(32, 48)))
    assert windows.cut(17, 18) is None and windows.cut(2, 4) == "2\n3\n"
    assert windows.cut(40, 41) == "40\n" and len(windows) == 2
    windows.clear()
    assert windows.cut(40, 41) is None and len(windows) == 0
    with pytest.raises(ValueError, match="at least 1"):
        LineWindows(10, window_lines=0)


def test_longer_runs_are_kept_within_the_byte_budget() -> None:
    text = "".join(f"{i:03d}\n" for i in range(100))
    windows = LineWindows(100, window_lines=4, capacity=8, max_bytes=sys.getsizeof(text) + 100)
    windows.keep((0, 100), text)
    assert windows.cut(0, 100) is text  # read again whole: the same string
    assert windows.cut(10, 12) == "010\n011\n" and windows.kept_bytes == sys.getsizeof(text)
    windows.keep((0, 100), text)  # kept again: counted once
    assert windows.kept_bytes == sys.getsizeof(text)
    windows.keep((0, 4), text[:16])
    windows.keep((4, 8), text[16:32])
    assert windows.cut(0, 100) is None  # the oldest run made room within the budget
    assert windows.cut(5, 6) == "005\n" and windows.kept_bytes <= windows.max_bytes
    huge = "x\n" * 10_000
    windows.keep((0, 10_000), huge)  # over the budget alone: not kept
    assert windows.cut(0, 10_000) is None and len(windows) == 2


@settings(max_examples=150, deadline=None)
@given(text=nasty_texts(max_lines=60), size=st.integers(1, 9), data=st.data())
def test_cuts_of_a_kept_window_are_the_reference_lines(
    text: str, size: int, data: st.DataObject
) -> None:
    lines = reference_lines(text)
    if not lines:
        return
    windows = LineWindows(len(lines), window_lines=size)
    for _ in range(6):
        start = data.draw(st.integers(0, len(lines) - 1))
        stop = data.draw(st.integers(start + 1, min(len(lines), start + size)))
        window = windows.window_of(start, stop)
        assert window is not None and window[0] <= start < stop <= window[1]
        if windows.cut(start, stop) is None:
            windows.keep(window, "".join(lines[window[0] : window[1]]))
        assert windows.cut(start, stop) == "".join(lines[start:stop])
