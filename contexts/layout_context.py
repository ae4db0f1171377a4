"""``LayoutContext``: a context made of a layout reader (what to fetch) and a transport (how)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from contexts.base import Context, LineRange
from contexts.layouts import LayoutReader, open_layout
from contexts.location import Location, parse_location
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport


class LayoutContext(Context):
    """Opens the layout at ``url`` once, then answers each batch of line ranges with one
    ``transport.get_many`` call. Subclasses only choose the transport."""

    def __init__(self, url: str, *, layout: str = "auto") -> None:
        super().__init__()
        self.url = url
        self.location = parse_location(url)
        self.transport = self._make_transport(self.location, self._recorder)
        try:
            self.reader: LayoutReader = open_layout(self.transport, layout)
        except BaseException:
            self.transport.close()
            raise

    @abstractmethod
    def _make_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        """The transport this context reads through."""

    def _line_count(self) -> int:
        return self.reader.line_count

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._check_open()
        plan = self.reader.plan(ranges)
        bodies = self.transport.get_many(plan.requests)
        return self.reader.assemble(plan, bodies)

    def _close(self) -> None:
        self.transport.close()

    def _describe(self) -> str:
        return f"{self.url} ({self.reader.layout}, {self.reader.line_count} lines)"
