"""``CheckpointedText``: a whole text in memory, located by character offsets every ``stride`` lines.

A version-2 line index records the character offset of every ``stride``-th line. With them a
loaded text needs no per-line offsets (computing them splits the whole text: about a second for
1,000,000 lines); a line's offset is its checkpoint plus at most ``stride - 1`` ``str.find``
calls. The checkpoints are checked against the text when it is built (each block holds exactly
``stride`` lines, the total length matches).
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Sequence

from contexts.base import Context, GrepHit, LineRange
from contexts.errors import IntegrityError
from contexts.lines import NEWLINE, CharMap, plain_literal


class CheckpointedText(Context):
    """Lines of ``text`` located by ``chars``: the character offset of line ``k * stride`` for
    each ``k``, then the text's length."""

    name = "memory"
    chunk_lines = 50_000

    def __init__(self, text: str, line_count: int, stride: int, chars: Sequence[int]) -> None:
        super().__init__()
        blocks = -(-line_count // stride)
        if stride < 1 or len(chars) != blocks + 1 or chars[-1] != len(text):
            raise IntegrityError(
                f"the text ({len(text):,} characters) does not match its index's character "
                "offsets; rewrite it with contexts.write_layout(text, url, layout='single')"
            )
        for k in range(blocks):
            expected = min(stride, line_count - k * stride)
            found = text.count(NEWLINE, chars[k], chars[k + 1])
            ends_open = k == blocks - 1 and not text.endswith(NEWLINE)
            if found + ends_open != expected or (chars[k] and text[chars[k] - 1] != NEWLINE):
                raise IntegrityError(
                    f"lines {k * stride}-{k * stride + expected - 1} of the text do not match "
                    "its index's character offsets; rewrite it with contexts.write_layout(...)"
                )
        self._text = text
        self._count = line_count
        self._stride = stride
        self._chars = chars

    def _line_count(self) -> int:
        return self._count

    def _offset(self, line: int) -> int:
        """Where line ``line`` starts (the text's length for ``line_count``)."""
        if line >= self._count:
            return len(self._text)
        block, rest = divmod(line, self._stride)
        at = self._chars[block]
        find = self._text.index
        for _ in range(rest):
            at = find(NEWLINE, at) + 1
        return at

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        text, offset = self._text, self._offset
        return [text[offset(start) : offset(stop)] for start, stop in ranges]

    def text(self) -> str:
        self._check_open()
        return self._text

    def char_map(self) -> CharMap:
        lines = array("q", range(0, self._count, self._stride))
        lines.append(self._count)
        return lines, self._chars

    def grep(
        self, pattern: str | re.Pattern[str], flags: int = 0, *, max_hits: int | None = None
    ) -> list[GrepHit]:
        """As :meth:`Context.grep`; a plain string is found with one ``str.find`` pass."""
        literal = plain_literal(pattern, flags)
        if literal is None:
            return super().grep(pattern, flags, max_hits=max_hits)
        self._check_open()
        text, chars, stride = self._text, self._chars, self._stride
        limit = None if max_hits is None else max(1, max_hits)  # as Context.grep counts
        hits: list[GrepHit] = []
        at = text.find(literal)
        while at != -1 and (limit is None or len(hits) < limit):
            block = bisect_right(chars, at) - 1
            start = text.rfind(NEWLINE, 0, at) + 1
            number = block * stride + text.count(NEWLINE, chars[block], start)
            stop = text.find(NEWLINE, at) + 1 or len(text)
            hits.append(GrepHit(number, text[start:stop]))
            at = text.find(literal, stop) if stop < len(text) else -1
        return hits

    def _describe(self) -> str:
        return f"{self._count} lines, offsets every {self._stride}"
