"""The line helpers agree with the independent regex reference on nasty texts."""

from __future__ import annotations

import itertools
import re
from array import array

import pytest
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
    text=st.text(alphabet="ab-.\n\u2028é", max_size=60),
    literal=st.text(alphabet="ab-.\u2028é", min_size=1, max_size=3),
    max_hits=st.none() | st.integers(min_value=0, max_value=4),
    stride=st.integers(min_value=1, max_value=4),
)
def test_a_plain_string_grep_is_the_per_line_search(
    text: str, literal: str, max_hits: int | None, stride: int
) -> None:
    """In-memory texts find plain strings (and re.escape'd ones) with one str.find pass: the
    same hits as the reference's search of every line."""
    from contexts import InMemoryContext
    from contexts.loaded import CheckpointedText

    lines = reference_lines(text)
    pattern = re.escape(literal)
    expected = [(i, line) for i, line in enumerate(lines) if re.search(pattern, line)]
    if max_hits is not None:
        expected = expected[: max(1, max_hits)]
    chars = array("q", [len("".join(lines[:k])) for k in range(0, len(lines), stride)])
    chars.append(len(text))
    checkpointed = CheckpointedText.from_text(text, len(lines), stride, chars, block_checkpoints=2)
    offsets = array("q", [len("".join(lines[:k]).encode()) for k in range(0, len(lines), stride)])
    offsets.append(len(text.encode()))
    decoded = CheckpointedText.from_bytes(
        text.encode(),
        line_count=len(lines),
        stride=stride,
        byte_offsets=offsets,
        chars=chars,
        url="test",
        block_checkpoints=2,
    )
    for a in range(len(lines) + 1):
        for b in range(a, len(lines) + 1):
            assert checkpointed[a:b] == decoded[a:b] == "".join(lines[a:b])
    for ctx in (InMemoryContext(text), checkpointed, decoded):
        assert ctx.grep(pattern, max_hits=max_hits) == expected
        assert ctx.grep(pattern + "|zz", max_hits=max_hits) == expected  # a regex: per line
    assert checkpointed[:] == text and list(checkpointed) == lines
    assert plain_literal(pattern, 0) == literal
    for regex in ("a.b", r"\d", "a\\", "(?i)a", "a\nb"):
        assert plain_literal(regex, 0) is None
    assert plain_literal("ab", re.IGNORECASE) is None


def test_checkpoints_that_do_not_match_the_text_are_an_integrity_error() -> None:
    from contexts.errors import IntegrityError
    from contexts.loaded import CheckpointedText

    text = "a\nbb\nc\n"
    assert CheckpointedText.from_text(text, 3, 2, array("q", [0, 5, 7]))[1:3] == "bb\nc\n"
    for chars in ([0, 4, 7], [0, 5, 8], [0, 7]):
        with pytest.raises(IntegrityError):
            CheckpointedText.from_text(text, 3, 2, array("q", chars))
