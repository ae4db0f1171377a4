"""``InMemoryContext``: a Python string addressed by line — the oracle every other context must match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

from contexts.base import Context, LineRange
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
        from contexts.sequential import SequentialS3Context

        with SequentialS3Context(url, **options) as source:
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

    def _describe(self) -> str:
        return f"{self._line_count()} lines"
