"""``LineWindows``: the last few runs of lines a context decoded, kept for the reads that come
back to them.

A stored read of one line fetches (or finds held) its bytes, decodes and checks them, and cuts
the line out: tens of microseconds of Python, paid again by the next line. ``for i in
range(n): ctx[i]`` pays it ``n`` times. A window is an aligned run of ``window_lines`` lines
(two when a range crosses a window's edge): read once, decoded and checked once, its lines
indexed on the first cut, then each line of it is a slice of a ``str``. A longer read is kept
as it was asked: reading it again (an RLM re-reads the slice it just read) costs nothing, and
a range inside it is cut from it.
"""

from __future__ import annotations

import sys

from contexts.base import LineRange
from contexts.lines import IndexedText
from contexts.lru import SizedLRU

WINDOW_LINES = 1024
"""Lines per window (a multiple of the line index's default stride of 16)."""
KEPT_RUNS = 8
"""Runs of lines kept (windows and longer reads), least recently used dropped first."""
KEPT_BYTES = 64 * 1024 * 1024
"""Memory the kept runs may hold (their ``str`` objects' size); a longer run is not kept."""


class LineWindows:
    """The ``capacity`` runs of lines read last (``max_bytes`` at most) of a text of
    ``line_count`` lines. Thread-safe."""

    def __init__(
        self,
        line_count: int,
        window_lines: int = WINDOW_LINES,
        capacity: int = KEPT_RUNS,
        max_bytes: int = KEPT_BYTES,
    ) -> None:
        if window_lines < 1 or capacity < 1:
            raise ValueError("window_lines and capacity must be at least 1")
        self.line_count = line_count
        self.window_lines = window_lines
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._kept: SizedLRU[LineRange, IndexedText] = SizedLRU(max_bytes, capacity)

    def window_of(self, start: int, stop: int) -> LineRange | None:
        """The aligned window (or two adjacent ones) holding lines ``[start, stop)``; ``None``
        for a range longer than a window (kept as it is read, if at all)."""
        size = self.window_lines
        if stop - start > size:
            return None
        return (start // size * size, min(self.line_count, -(-stop // size) * size))

    def cut(self, start: int, stop: int) -> str | None:
        """Lines ``[start, stop)`` if a kept run holds them all, else ``None``."""
        window = self.window_of(start, stop)
        if window is not None and (text := self._kept.get(window)) is not None:
            return text.cut(start - window[0], stop - window[0])
        found = self._kept.find(lambda run: run[0] <= start and stop <= run[1])
        if found is None:
            return None
        (first, _last), text = found
        return text.cut(start - first, stop - first)

    def keep(self, run: LineRange, text: str) -> None:
        """Keep ``text``, lines ``run``: a window (as :meth:`window_of` gives it), its lines
        indexed on the first cut, or a longer read, indexed on a second partial cut (one that
        is read again whole is never indexed)."""
        first, last = run
        window = last - first <= 2 * self.window_lines
        indexed = IndexedText(text, last - first, index_first_cut=window)
        self._kept.put(run, indexed, sys.getsizeof(text))

    def clear(self) -> None:
        """Drop every run."""
        self._kept.clear()

    @property
    def kept_bytes(self) -> int:
        """Memory the kept runs hold (at most ``max_bytes``)."""
        return self._kept.nbytes

    def __len__(self) -> int:
        return len(self._kept)


__all__ = ["KEPT_BYTES", "KEPT_RUNS", "WINDOW_LINES", "LineWindows"]
