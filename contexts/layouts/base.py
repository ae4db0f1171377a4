"""What every layout reader provides: a line count, a read plan, and the stitched text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from contexts.lines import CharMap
from contexts.transport.base import ByteRequest

LineRange = tuple[int, int]


def expected_length(request: ByteRequest, reader: LayoutReader) -> int | None:
    """The body length ``request`` must return: its range's length, or the whole object's
    recorded size; ``None`` when the layout does not know it."""
    if request.byte_range is not None:
        start, stop = request.byte_range
        return stop - start
    return reader.object_size(request.name)


@dataclass(frozen=True)
class ReadPlan:
    """The requests that answer a batch of line ranges, in the order they are issued."""

    ranges: tuple[LineRange, ...]
    """The line ranges asked for, each ``0 <= start < stop <= line_count``."""
    requests: tuple[ByteRequest, ...]
    """The GETs (whole objects or byte ranges) that cover every range, each once."""


class LayoutReader(Protocol):
    """Maps line ranges to byte requests and stitches fetched bodies back into text; a pure
    planner (the context fetches): opening a layout reads its metadata, nothing else does."""

    layout: str
    """Layout name: ``segments`` or ``single``."""

    @property
    def line_count(self) -> int:
        """Lines in the whole context."""
        ...

    def prerequisites(self, ranges: Sequence[LineRange]) -> tuple[ByteRequest, ...]:
        """Metadata the plan of ``ranges`` would use and the reader has not learnt yet (the
        segments layout's per-segment line indexes); fetch them and hand them to :meth:`learn`
        before planning, or plan without them (a costlier but correct plan)."""
        ...

    def learn(self, requests: Sequence[ByteRequest], bodies: Sequence[bytes]) -> None:
        """Take the bodies of :meth:`prerequisites` (checked like any body)."""
        ...

    def plan(self, ranges: Sequence[LineRange]) -> ReadPlan:
        """The requests needed for ``ranges``, from what the reader knows: no I/O."""
        ...

    def object_size(self, name: str) -> int | None:
        """Bytes of the whole object ``name`` if the layout records them (else ``None``)."""
        ...

    def char_map(self) -> CharMap | None:
        """``(lines, chars)``: ascending line numbers from 0 to ``line_count`` and the character
        offset where each starts (the last is the text's length), as the layout's metadata
        records them; ``None`` when it does not (layouts written before character offsets)."""
        ...

    def assemble(self, plan: ReadPlan, bodies: Sequence[bytes]) -> list[str]:
        """The text of each range of ``plan`` from the bodies of its requests (same order).

        Raises :class:`contexts.errors.IntegrityError` when a body disagrees with the layout.
        """
        ...
