"""``InMemoryContext``: a Python string addressed by line — the oracle every other context must match."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, Self

from contexts.base import Context, GrepHit, LineRange
from contexts.grep_filter import line_filter, lines_holding
from contexts.lines import CharMap, line_starts


class InMemoryContext(Context):
    """The whole text in RAM; slices are string slices between precomputed line offsets."""

    name = "memory"

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(
                f"InMemoryContext needs a str, not {type(text).__name__}; "
                "decode bytes first, e.g. data.decode('utf-8')"
            )
        super().__init__()
        self._text = text
        self._starts = line_starts(text)

    @classmethod
    def open(cls, url: str, **options: Any) -> Self:
        """Load the whole context stored at ``url`` into memory (through ``s3-sequential``)."""
        from contexts.registry import open_context

        with open_context("s3-sequential", url, **options) as source:
            return cls(source.text())

    def _line_count(self) -> int:
        return len(self._starts) - 1

    def char_map(self) -> CharMap:
        """Exact: the character offset of every line."""
        return range(len(self._starts)), self._starts

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        starts, text = self._starts, self._text
        return [text[starts[start] : starts[stop]] for start, stop in ranges]

    def text(self) -> str:
        self._check_open()
        return self._text

    def grep(
        self, pattern: str | re.Pattern[str], flags: int = 0, *, max_hits: int | None = None
    ) -> list[GrepHit]:
        """As :meth:`Context.grep`; a pattern holding literals searches only the lines that
        hold one (:mod:`contexts.grep_filter`: a ``str.find`` pass over the text per literal)
        instead of every line."""
        found = line_filter(pattern, flags)
        if found is None:
            return super().grep(pattern, flags, max_hits=max_hits)
        self._check_open()
        starts, text = self._starts, self._text
        limit = None if max_hits is None else max(1, max_hits)  # as Context.grep counts
        hits: list[GrepHit] = []
        for start in lines_holding(text, found.literals):
            number = bisect_right(starts, start) - 1
            line = text[start : starts[number + 1]]
            if found.matches(line):
                if limit is not None and len(hits) >= limit:
                    break
                hits.append(GrepHit(number, line))
        return hits

    def _describe(self) -> str:
        return f"{self._line_count()} lines"
