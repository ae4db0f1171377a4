"""``InMemoryContext``: a Python string addressed by line — the oracle every other context must match."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any, Self

from contexts.base import Context, GrepHit, LineRange
from contexts.grep_filter import LineFilter, matching_lines
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

    def _grep_filtered(self, found: LineFilter, max_hits: int | None) -> list[GrepHit]:
        """As :meth:`Context._grep_filtered`, in one pass over the whole text, each line
        number from the line offsets."""
        self._check_open()
        starts, limit = self._starts, None if max_hits is None else max(1, max_hits)
        hits: list[GrepHit] = []
        for start, line in matching_lines(self._text, found):
            if limit is not None and len(hits) >= limit:
                break
            hits.append(GrepHit(bisect_right(starts, start) - 1, line))
        return hits

    def _describe(self) -> str:
        return f"{self._line_count()} lines"
