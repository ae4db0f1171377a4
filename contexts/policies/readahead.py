"""``ReadAheadWindow``: what to read ahead after each read — a pure controller, no I/O.

Mountpoint for S3's prefetcher is the model: a scan starts with a small window and the window
doubles while the scan goes on, up to a maximum; a jump elsewhere starts small again. Two kinds
of scan are recognised:

* **sequential**: a read starts where the previous one stopped (within a block); the window
  is that many blocks after the block holding the last line read;
* **strided**: reads of one length that start a constant distance apart (``for a in
  range(0, n, step): ctx[a:a+k]``), seen twice in a row; the window is that many of the next
  reads of the stride.

A re-read or a step back asks for nothing and keeps the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contexts.base import LineRange


@dataclass
class ReadAheadWindow:
    """Observe each read with :meth:`after`; it answers the line ranges worth reading ahead."""

    block_lines: int
    """Lines per cache block: the unit of a sequential window and of "within a block"."""
    initial_blocks: int = 2
    max_blocks: int = 64
    blocks: int = field(init=False)
    """The window now, in blocks (or in reads of a stride)."""
    _last: LineRange | None = field(default=None, init=False)
    _stride: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.initial_blocks <= self.max_blocks:
            raise ValueError(
                "need 1 <= initial_window_blocks <= max_window_blocks, not "
                f"{self.initial_blocks} and {self.max_blocks}"
            )
        if self.block_lines < 1:
            raise ValueError(f"block_lines must be at least 1, not {self.block_lines}")
        self.blocks = self.initial_blocks

    def after(self, start: int, stop: int) -> list[LineRange]:
        """The ranges to read ahead once ``[start, stop)`` was read (empty: none)."""
        last, self._last = self._last, (start, stop)
        if last is None:
            return []
        last_start, last_stop = last
        if abs(start - last_stop) <= self.block_lines:
            self._stride = None
            if stop <= last_stop:
                return []  # a re-read or a step back: nothing new ahead
            lines = self.block_lines
            window = self._grow((stop - 1) // lines - start // lines + 1)  # blocks it touched
            first = ((stop - 1) // lines + 1) * lines  # the block after the last line read
            return [(first, first + window * lines)]
        stride = start - last_start
        length = stop - start
        if stride > 0 and length == last_stop - last_start and stride == self._stride:
            window = self._grow(1)
            return [(stop - length + k * stride, stop + k * stride) for k in range(1, window + 1)]
        self._stride = stride if stride > 0 and length == last_stop - last_start else None
        self.blocks = self.initial_blocks  # a jump: start small again
        return []

    def _grow(self, at_least: int) -> int:
        """The window for this read (at least one read's worth), doubling the next one."""
        window = max(self.blocks, min(at_least, self.max_blocks))
        self.blocks = min(window * 2, self.max_blocks)
        return window
