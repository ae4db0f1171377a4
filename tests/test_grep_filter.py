"""Greps that search only the lines holding a pattern's literals answer as a search of every
line does; the literals read from a pattern are in every string it matches."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contexts import Context, InMemoryContext
from contexts.base import LineRange
from contexts.grep_filter import line_filter, lines_holding, required_literals
from contexts.loaded import CheckpointedText
from tests.reference import checkpoint_offsets, reference_grep, reference_lines

ALPHABET = "ab\n"


@st.composite
def patterns(draw: st.DrawFn, depth: int = 0) -> str:
    """Regexes over ``ab`` and newlines: literal runs, classes, anchors, groups, repeats and
    alternations, so that many hold literals of 3 characters and many match."""
    pieces = draw(st.lists(_pieces(depth), min_size=1, max_size=4))
    return "".join(pieces)


def _pieces(depth: int) -> st.SearchStrategy[str]:
    simple = st.one_of(
        st.text("ab", min_size=1, max_size=4),
        st.sampled_from([".", "[ab]", "[^a]", r"\n", r"\s", "^", "$", r"\b", "a*", "b?", r"\w+"]),
    )
    if depth >= 2:
        return simple
    inner = patterns(depth + 1)
    return st.one_of(
        simple,
        inner.map(lambda p: f"({p})"),
        inner.map(lambda p: f"(?:{p})+"),
        inner.map(lambda p: f"(?:{p})?"),
        inner.map(lambda p: f"(?:{p}){{2}}"),
        st.tuples(inner, inner).map(lambda pair: f"{pair[0]}|{pair[1]}"),
        st.tuples(inner, inner).map(lambda pair: f"(?:{pair[0]}|{pair[1]})"),
    )


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(pattern=patterns().filter(_compiles), subject=st.text(ALPHABET, max_size=24))
def test_every_match_holds_one_of_the_literals(pattern: str, subject: str) -> None:
    literals = required_literals(re.compile(pattern))
    if literals is None:
        return
    assert all(len(literal) >= 3 and "\n" not in literal for literal in literals)
    if re.search(pattern, subject):
        assert any(literal in subject for literal in literals), (pattern, literals)


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"^### session \d+ session_id=", ("### session ",)),
        (r"Z ERROR \[worker-\d+\] .*session_id=", ("Z ERROR [worker-",)),
        ("timeout|retry", ("retry", "timeout")),
        (r"^Traceback \(most|^\S+ ERROR ", (" ERROR ", "Traceback (most")),
        ("(?:abc)?defg", ("defg",)),
        ("(foo|bar)+x", ("bar", "foo")),
        ("(timeout|ret)(ry|ries)", ("ret", "timeout")),
        ("error\nline", ("error", "line")),  # either run, never one across the newline
        ("(?i)error", None),  # case-insensitive: every line is searched
        ("x(?i:abcdef)yz", None),
        ("ab|ac", None),  # "a" then [bc]: no literal of 3
        ("a.b", None),
        ("(?:abc)*", None),  # may match nothing
        ("abc|.", None),  # a branch without a literal
    ],
)
def test_literals_read_from_patterns(pattern: str, literals: tuple[str, ...] | None) -> None:
    found = required_literals(re.compile(pattern))
    if literals is not None and "\n" in pattern:
        assert found is not None and len(found) == 1 and found[0] in literals
    else:
        assert found == literals


def test_a_pattern_that_does_not_compile_raises_as_grep_does() -> None:
    with pytest.raises(re.error):
        line_filter("abc(")
    with pytest.raises(re.error):
        InMemoryContext("abc\n").grep("abc(")


def test_lines_holding_counts_each_line_once() -> None:
    text = "abcabc\nxx\nabc\nabc"
    assert lines_holding(text, ["abc", "bca"]) == [0, 10, 14]
    assert lines_holding(text, ["zzz"]) == []
    assert lines_holding("", ["abc"]) == []


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab\n\u2028é", max_size=80),
    pattern=patterns().filter(_compiles),
    max_hits=st.none() | st.integers(min_value=0, max_value=4),
    stride=st.integers(min_value=1, max_value=4),
)
def test_greps_in_memory_are_the_per_line_search(
    text: str, pattern: str, max_hits: int | None, stride: int
) -> None:
    """The in-memory text, the checkpointed blocks (``auto``'s loaded text) and the chunked
    search every stored context inherits give the hits of ``re.search`` on every line, with
    its ``"\\n"``, whichever way they search."""
    lines = reference_lines(text)
    expected = reference_grep(lines, pattern, max_hits)
    chars = checkpoint_offsets(lines, stride)
    blocks = CheckpointedText.from_text(text, len(lines), stride, chars, block_checkpoints=2)
    for ctx in (InMemoryContext(text), blocks, ChunkedLines(lines)):
        assert ctx.grep(pattern, max_hits=max_hits) == expected
        assert ctx.grep(re.compile(pattern), max_hits=max_hits) == expected


class ChunkedLines(Context):
    """A context with only :class:`Context`'s own grep, as every stored context has it: chunk
    by chunk, 3 lines each, so that hits fall on both sides of chunk edges."""

    chunk_lines = 3

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self._lines = lines

    def _line_count(self) -> int:
        return len(self._lines)

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        return ["".join(self._lines[start:stop]) for start, stop in ranges]
