"""The line helpers agree with the independent regex reference on nasty texts."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from contexts.lines import count_lines, cut_lines, line_starts, plain_literal, split_lines
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


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab\n\u2028é", max_size=60),
    literal=st.text(alphabet="ab\u2028é", min_size=1, max_size=3),
    max_hits=st.none() | st.integers(min_value=0, max_value=4),
)
def test_a_plain_string_grep_is_the_per_line_search(
    text: str, literal: str, max_hits: int | None
) -> None:
    """The in-memory context finds plain strings with one str.find pass: same hits as the
    reference's search of every line."""
    from contexts import InMemoryContext

    lines = reference_lines(text)
    expected = [(i, line) for i, line in enumerate(lines) if literal in line]
    if max_hits is not None:
        expected = expected[: max(1, max_hits)]
    assert InMemoryContext(text).grep(literal, max_hits=max_hits) == expected
    assert plain_literal(literal, 0) == literal
    assert plain_literal("a.b", 0) is None and plain_literal("ab", re.IGNORECASE) is None
