"""The one definition of a line, and fast helpers to count and cut lines without splitting.

A line is the text up to and including ``"\\n"``; the last line may lack it. Only ``"\\n"`` ends a
line: ``\\r``, ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028`` and ``\\u2029`` are
ordinary characters, so :meth:`str.splitlines` is *not* this definition.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import accumulate

NEWLINE = "\n"

CharMap = tuple[Sequence[int], Sequence[int]]
"""``(lines, chars)``: ascending line numbers from 0 to the line count, and the character offset
where each of those lines starts (the last entry: the text's length in characters). Layouts that
record character offsets give one at their checkpoints; the str view reads by it."""


def split_lines(text: str) -> list[str]:
    """All lines of ``text``, each keeping its ``"\\n"`` (the reference split)."""
    parts = text.split(NEWLINE)
    lines = [part + NEWLINE for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def count_lines(text: str) -> int:
    """Number of lines in ``text`` (0 for the empty string)."""
    newlines = text.count(NEWLINE)
    return newlines + (0 if not text or text.endswith(NEWLINE) else 1)


def line_starts(text: str | bytes) -> array[int]:
    """Offsets where each line starts, plus ``len(text)`` as a final sentinel.

    Character offsets for ``str``, byte offsets for UTF-8 ``bytes``. The result has one entry
    more than there are lines, so line ``i`` is ``text[starts[i]:starts[i + 1]]``.
    """
    parts: list[str] | list[bytes] = (
        text.split(b"\n") if isinstance(text, bytes) else text.split(NEWLINE)
    )
    if not parts[-1]:
        parts.pop()
    starts = array("q", [0])
    starts.extend(accumulate(len(part) + 1 for part in parts))
    starts[-1] = len(text)
    return starts


def nth_line_start(text: str, n: int, total: int) -> int:
    """Offset where line ``n`` starts in ``text`` of ``total`` lines (``len(text)`` if n = total).

    Walks from whichever end is nearer, so trimming a few lines off either end of a large chunk
    costs a few ``find`` calls, not a split of the whole chunk.
    """
    if n <= 0:
        return 0
    if n >= total:
        return len(text)
    if n <= total - n:
        pos = -1
        for _ in range(n):
            pos = text.find(NEWLINE, pos + 1)
        return pos + 1
    # Walk back from the end: line n starts after the (total - n)-th newline from the end,
    # counting the final line's own newline if the text ends with one.
    pos = len(text) - 1 if text.endswith(NEWLINE) else len(text)
    for _ in range(total - n):
        pos = text.rfind(NEWLINE, 0, pos)
    return pos + 1


def cut_lines(text: str, start: int, stop: int, total: int) -> str:
    """Lines ``[start, stop)`` of ``text``, which holds exactly ``total`` lines."""
    if start <= 0 and stop >= total:
        return text
    if start >= stop:
        return ""
    return text[nth_line_start(text, start, total) : nth_line_start(text, stop, total)]


class IndexedText:
    """A text of known line count that may be cut many times (one fetched segment or byte span
    serving several ranges of a batch, or a cached block).

    Whole-text cuts are free. Partial cuts walk the text, and the second one builds line
    offsets; ``index_first_cut=True`` builds them on the first (for cached blocks, so the cost
    lands on the cold read, behind its network latency, and warm reads are plain slices).
    """

    __slots__ = ("_cuts", "_starts", "text", "total")

    def __init__(self, text: str, total: int, *, index_first_cut: bool = False) -> None:
        self.text = text
        self.total = total
        self._cuts = 1 if index_first_cut else 0
        self._starts: array[int] | None = None

    def cut(self, start: int, stop: int) -> str:
        """Lines ``[start, stop)`` of the text."""
        if start <= 0 and stop >= self.total:
            return self.text
        if start >= stop:
            return ""
        if self._starts is None:
            self._cuts += 1
            if self._cuts < 2:
                return cut_lines(self.text, start, stop, self.total)
            self._starts = line_starts(self.text)
        return self.text[self._starts[start] : self._starts[stop]]


_REGEX_SYNTAX = frozenset(".^$*+?{}[]|()")


def plain_literal(pattern: object, flags: int) -> str | None:
    """The string ``pattern`` matches when ``re.search(pattern, line)`` only asks whether that
    string occurs in ``line``: no flags, no regex syntax (``re.escape``'s escapes of punctuation
    are fine), no ``"\\n"``; else ``None``."""
    if flags or not isinstance(pattern, str) or not pattern:
        return None
    literal: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "a")  # a trailing backslash is an error: not a literal
            if char.isascii() and char.isalnum():
                return None  # a class (\d), an escape (\t) or a back-reference
        elif char in _REGEX_SYNTAX:
            return None
        if char == "\n":
            return None
        literal.append(char)
    return "".join(literal)
