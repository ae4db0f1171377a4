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
import threading
from collections import OrderedDict

from contexts.base import LineRange
from contexts.lines import IndexedText

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
        self._kept: OrderedDict[LineRange, tuple[IndexedText, int]] = OrderedDict()
        self._kept_bytes = 0
        self._lock = threading.Lock()

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
        with self._lock:
            run = window if window in self._kept else None
            if run is None:
                run = next(
                    (kept for kept in self._kept if kept[0] <= start and stop <= kept[1]), None
                )
            if run is None:
                return None
            self._kept.move_to_end(run)
            return self._kept[run][0].cut(start - run[0], stop - run[0])

    def keep(self, run: LineRange, text: str) -> None:
        """Keep ``text``, lines ``run``: a window (as :meth:`window_of` gives it), its lines
        indexed on the first cut, or a longer read, indexed on a second partial cut (one that
        is read again whole is never indexed)."""
        first, last = run
        size = sys.getsizeof(text)
        if size > self.max_bytes:
            return
        window = last - first <= 2 * self.window_lines
        indexed = IndexedText(text, last - first, index_first_cut=window)
        with self._lock:
            replaced = self._kept.pop(run, None)
            if replaced is not None:
                self._kept_bytes -= replaced[1]
            self._kept[run] = (indexed, size)
            self._kept_bytes += size
            while len(self._kept) > self.capacity or self._kept_bytes > self.max_bytes:
                _run, (_text, dropped) = self._kept.popitem(last=False)
                self._kept_bytes -= dropped

    def clear(self) -> None:
        """Drop every run."""
        with self._lock:
            self._kept.clear()
            self._kept_bytes = 0

    @property
    def kept_bytes(self) -> int:
        """Memory the kept runs hold (at most ``max_bytes``)."""
        return self._kept_bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


__all__ = ["KEPT_BYTES", "KEPT_RUNS", "WINDOW_LINES", "LineWindows"]
