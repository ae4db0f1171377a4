"""``LineWindows``: the last few windows of lines a context decoded, kept for the reads that
come back to them.

A stored read of one line fetches (or finds held) its bytes, decodes and checks them, and cuts
the line out: tens of microseconds of Python, paid again by the next line. ``for i in
range(n): ctx[i]`` pays it ``n`` times. A window is an aligned run of ``window_lines`` lines
(two when a range crosses a window's edge): read once, decoded and checked once, its lines
indexed on the first cut, then each line of it is a slice of a ``str``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from contexts.base import LineRange
from contexts.lines import IndexedText

WINDOW_LINES = 1024
"""Lines per window (a multiple of the line index's default stride of 16)."""
KEPT_WINDOWS = 8
"""Windows kept, least recently used dropped first."""


class LineWindows:
    """The ``capacity`` windows read last of a text of ``line_count`` lines. Thread-safe."""

    def __init__(
        self, line_count: int, window_lines: int = WINDOW_LINES, capacity: int = KEPT_WINDOWS
    ) -> None:
        if window_lines < 1 or capacity < 1:
            raise ValueError("window_lines and capacity must be at least 1")
        self.line_count = line_count
        self.window_lines = window_lines
        self.capacity = capacity
        self._kept: OrderedDict[LineRange, IndexedText] = OrderedDict()
        self._lock = threading.Lock()

    def window_of(self, start: int, stop: int) -> LineRange | None:
        """The aligned window (or two adjacent ones) holding lines ``[start, stop)``; ``None``
        for a range longer than a window, which a window would not serve again."""
        size = self.window_lines
        if stop - start > size:
            return None
        return (start // size * size, min(self.line_count, -(-stop // size) * size))

    def cut(self, start: int, stop: int) -> str | None:
        """Lines ``[start, stop)`` if a kept window holds them all, else ``None``."""
        window = self.window_of(start, stop)
        if window is None:
            return None
        with self._lock:
            found = self._kept.get(window)
            if found is None:
                return None
            self._kept.move_to_end(window)
            return found.cut(start - window[0], stop - window[0])

    def keep(self, window: LineRange, text: str) -> None:
        """Keep ``text``, the lines of ``window`` (as given by :meth:`window_of`)."""
        first, last = window
        indexed = IndexedText(text, last - first, index_first_cut=True)
        with self._lock:
            self._kept[window] = indexed
            self._kept.move_to_end(window)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        """Drop every window."""
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


__all__ = ["KEPT_WINDOWS", "WINDOW_LINES", "LineWindows"]
