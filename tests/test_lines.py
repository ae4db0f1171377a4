"""The line helpers agree with the independent regex reference on nasty texts."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from contexts.lines import count_lines, cut_lines, line_starts, split_lines
from tests.reference import reference_lines
from tests.strategies import nasty_texts


@given(nasty_texts())
def test_split_count_and_offsets(text: str) -> None:
    lines = reference_lines(text)
    assert split_lines(text) == lines
    assert count_lines(text) == len(lines)
    starts = line_starts(text)
    assert [text[a:b] for a, b in itertools.pairwise(starts)] == lines
    data = text.encode()
    byte_starts = line_starts(data)
    assert [data[a:b] for a, b in itertools.pairwise(byte_starts)] == [
        line.encode() for line in lines
    ]


@given(nasty_texts(), st.data())
def test_cut_lines(text: str, data: st.DataObject) -> None:
    lines = reference_lines(text)
    start = data.draw(st.integers(0, len(lines)))
    stop = data.draw(st.integers(start, len(lines)))
    assert cut_lines(text, start, stop, len(lines)) == "".join(lines[start:stop])


def test_splitlines_separators_are_not_line_ends() -> None:
    text = "a\rb\x0bc\x0cd\x1ce\x1df\x1eg\x85h\u2028i\u2029j\r\n"
    assert count_lines(text) == 1
    assert len(text.splitlines()) > 1  # the trap the seed code fell into
