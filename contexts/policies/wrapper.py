"""``WrappedContext``: the base of every policy — a context over another one that delegates
everything it does not change (zarr-python's ``WrapperStore`` is the model)."""

from __future__ import annotations

from collections.abc import Sequence

from contexts.base import Context, LineRange
from contexts.lines import CharMap
from contexts.stats import ContextStats


class WrappedContext(Context):
    """Over ``inner``: its lines, reads, character map, stats and chunk size, until a policy
    overrides one; closing the wrapper closes ``inner``."""

    name = "wrapped"

    def __init__(self, inner: Context) -> None:
        super().__init__()
        self.inner = inner
        self.chunk_lines = inner.chunk_lines

    @property
    def stats(self) -> ContextStats:
        return self.inner.stats

    def _line_count(self) -> int:
        return len(self.inner)

    def char_map(self) -> CharMap | None:
        return self.inner.char_map()

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        return self.inner.read_many(ranges)

    def _describe(self) -> str:
        return f"over {self.inner!r}"

    def _close(self) -> None:
        self.inner.close()


__all__ = ["WrappedContext"]
