"""``LayoutContext``: a context made of a layout reader (what to fetch) and a transport (how).

Every read runs under the transport's per-slice deadline (``deadline_s``). Data that fails the
layout's checks (a body shorter than its manifest or index says, a bad hash, a manifest cut
mid-JSON) is fetched again up to ``integrity_attempts`` times before the named error is raised:
a network that cuts bodies with a matching ``Content-Length`` looks exactly like that, and a
really corrupt object fails every attempt. A body whose length is known to be wrong (a range, or a
segment with a ``byte_count``) is fetched again alone first, so one cut body in a batch of a
thousand segments costs one more GET, not a thousand.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import TypeVar

from contexts.base import Context, LineRange
from contexts.errors import IndexFormatError, IntegrityError, ManifestError
from contexts.layouts import LayoutReader, open_layout
from contexts.layouts.base import expected_length
from contexts.lines import CharMap
from contexts.location import Location, parse_location
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest, Transport
from contexts.transport.retry import RetryPolicy, deadline_scope

T = TypeVar("T")

_BAD_DATA = (IntegrityError, IndexFormatError, ManifestError)


class LayoutContext(Context):
    """Opens the layout at ``url`` once, then answers each batch of line ranges with one
    ``transport.get_many`` call. Subclasses only choose the transport."""

    integrity_attempts: int = 3
    """Fetches of a batch (or of the layout's metadata) whose data fails the layout's checks."""

    def __init__(self, url: str, *, layout: str = "auto") -> None:
        super().__init__()
        self.url = url
        self.location = parse_location(url)
        self.transport = self._make_transport(self.location, self._recorder)
        try:
            self.reader: LayoutReader = self._checked(
                lambda issued: open_layout(self.transport, layout)
            )
        except BaseException:
            self.transport.close()
            raise

    @abstractmethod
    def _make_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        """The transport this context reads through."""

    def _line_count(self) -> int:
        return self.reader.line_count

    def char_map(self) -> CharMap | None:
        return self.reader.char_map()

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._check_open()

        def read(issued: list[int]) -> list[str]:
            plan = self.reader.plan(ranges)
            issued.append(len(plan.requests))
            return self.reader.assemble(plan, self._fetch_whole_bodies(plan.requests))

        return self._checked(read)

    def _fetch_whole_bodies(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        """The bodies of ``requests``; a body of the wrong length (a transfer cut short behind a
        matching ``Content-Length``) is fetched again on its own, not with its whole batch, up to
        ``integrity_attempts`` times. The layout's checks in ``assemble`` still decide."""
        bodies = list(self.transport.get_many(requests))
        expected = [expected_length(request, self.reader) for request in requests]
        policy = RetryPolicy(max_attempts=self.integrity_attempts)
        for attempt in range(1, policy.max_attempts):
            wrong = [
                i
                for i, (body, size) in enumerate(zip(bodies, expected, strict=True))
                if size is not None and len(body) != size
            ]
            if not wrong:
                break
            self._recorder.record_repeats(len(wrong))
            time.sleep(policy.backoff_s(attempt))
            again = self.transport.get_many([requests[i] for i in wrong])
            for i, body in zip(wrong, again, strict=True):
                bodies[i] = body
        return bodies

    def _checked(self, read: Callable[[list[int]], T]) -> T:
        """``read(issued)`` under the slice deadline, again while its data fails the layout
        checks. ``read`` appends the requests it made to ``issued`` (counted as repeats when
        it runs again); if it does not, the difference in request count is used (at open,
        when no other thread reads)."""
        policy = RetryPolicy(max_attempts=self.integrity_attempts)
        with deadline_scope(self.transport.deadline_s):
            for attempt in range(1, policy.max_attempts + 1):
                before = self._recorder.snapshot().requests
                issued: list[int] = []
                try:
                    return read(issued)
                except _BAD_DATA:
                    if attempt == policy.max_attempts:
                        raise
                repeats = sum(issued) if issued else self._recorder.snapshot().requests - before
                self._recorder.record_repeats(repeats)
                time.sleep(policy.backoff_s(attempt))
        raise AssertionError("unreachable")

    def _close(self) -> None:
        self.transport.stop()  # a slice running in another thread ends at its next request
        self.transport.close()

    def _describe(self) -> str:
        return f"{self.url} ({self.reader.layout}, {self.reader.line_count} lines)"
