"""``StoredContext``: the one stored context — a layout reader (what to fetch) and a transport
(how), both values handed in. Every stored preset (``s3-threaded``, ``obstore``, ``volume``...) is
this class with a different transport, layout and reader options: see :mod:`contexts.compose`.

Every read runs under the transport's per-slice deadline (``deadline_s``). Data that fails the
layout's checks (a body shorter than its manifest or index says, a bad hash, a manifest cut
mid-JSON) is fetched again up to ``integrity_attempts`` times before the named error is raised:
a network that cuts bodies with a matching ``Content-Length`` looks exactly like that, and a
really corrupt object fails every attempt. A body whose length is known to be wrong (a range, or a
segment with a ``byte_count``) is fetched again alone first, so one cut body in a batch of a
thousand segments costs one more GET, not a thousand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from contexts.base import Context, LineRange
from contexts.errors import IndexFormatError, IntegrityError, ManifestError
from contexts.flights import Flights
from contexts.layouts import LayoutReader, open_layout
from contexts.layouts.base import ReadPlan, expected_length
from contexts.lines import CharMap
from contexts.location import Location, parse_location
from contexts.stats import StatsRecorder
from contexts.transport.base import AwaitableTransport, ByteRequest, Transport
from contexts.transport.retry import RetryPolicy, deadline_scope

T = TypeVar("T")

_BAD_DATA = (IntegrityError, IndexFormatError, ManifestError)

TransportFactory = Callable[[Location, StatsRecorder], Transport]
"""Builds the transport a stored context reads through, counting into the context's stats."""


class StoredContext(Context):
    """Opens the layout at ``url`` once, then answers each batch of line ranges with one
    ``transport.get_many`` call.

    ``make_transport`` builds the transport for the parsed location; ``layout`` names the layout
    (``auto``: the manifest, else the line index), or is a function that names it once the
    transport is built (``auto`` names the one its first round found); ``reader_options`` go to
    the layout reader's ``configured`` (``coalesce_bytes``, ``part_bytes``, ``partial_reads``...);
    ``defer_table``: a line index's offset table is checked when first used (``auto``: reads of
    the text's ends are answered from the copies the index carries before it is decoded).
    Awaitable forms for async RLM code — :meth:`aslice`, :meth:`aread_many`, :meth:`alen` —
    give exactly the answers of ``ctx[a:b]``, ``read_many`` and ``len``; on a transport with its
    own event loop (aiobotocore) they run there, else on a worker thread.
    """

    integrity_attempts: int = 3
    """Fetches of a batch (or of the layout's metadata) whose data fails the layout's checks."""

    def __init__(
        self,
        url: str,
        *,
        make_transport: TransportFactory,
        layout: str | Callable[[], str] = "auto",
        reader_options: Mapping[str, Any] | None = None,
        name: str = "stored",
        chunk_lines: int = 50_000,
        detail: str = "",
        defer_table: bool = False,
    ) -> None:
        super().__init__()
        self.name = name
        self.chunk_lines = chunk_lines
        self.url = url
        self.location = parse_location(url)
        self._detail = detail
        self._prerequisite_flights: Flights[ByteRequest] = Flights()
        self.transport = make_transport(self.location, self._recorder)
        try:
            named = layout if isinstance(layout, str) else layout()
            reader: Any = self._checked(
                lambda issued: open_layout(self.transport, named, defer_table=defer_table)
            )
            # every reader has ``configured(**its planning options)``, each its own keywords
            self.reader: LayoutReader = (
                reader.configured(**reader_options) if reader_options else reader
            )
        except BaseException:
            self.transport.close()
            raise

    def _line_count(self) -> int:
        return self.reader.line_count

    def char_map(self) -> CharMap | None:
        return self.reader.char_map()

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._check_open()

        def read(issued: list[int]) -> list[str]:
            self._learn_prerequisites(ranges, issued)
            plan = self.reader.plan(ranges)
            issued.append(len(plan.requests))
            return self.reader.assemble(plan, self._fetch_whole_bodies(plan.requests))

        return self._checked(read)

    def _learn_prerequisites(self, ranges: Sequence[LineRange], issued: list[int]) -> None:
        """Fetch what the reader's plan of ``ranges`` needs first (segment indexes), each
        object by one thread at a time (the others wait for it), and hand it to the reader."""
        while needs := self.reader.prerequisites(ranges):
            mine, theirs = self._prerequisite_flights.claim(needs)
            try:
                if mine:
                    issued.append(len(mine))
                    self.reader.learn(mine, self.transport.get_many(mine))
            finally:
                self._prerequisite_flights.release(mine)
            Flights.wait(theirs)  # then look again: a failed flight is claimed anew

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
        detail = f", {self._detail}" if self._detail else ""
        return f"{self.url} ({self.reader.layout}, {self.reader.line_count} lines{detail})"

    # -- awaitable forms -------------------------------------------------------------------------

    async def alen(self) -> int:
        """``len(ctx)`` (known since open: no I/O)."""
        return len(self)

    async def aslice(self, start: int | None = None, stop: int | None = None) -> str:
        """``ctx[start:stop]``, awaited without blocking the caller's event loop."""
        return (await self.aread_many([(start, stop)]))[0]

    async def aread_many(self, ranges: Iterable[tuple[int | None, int | None]]) -> list[str]:
        """``ctx.read_many(ranges)`` (one concurrent batch), awaited without blocking the
        caller's event loop."""
        count = len(self)
        bounds = [slice(start, stop).indices(count)[:2] for start, stop in ranges]
        wanted = [(start, stop) for start, stop in bounds if start < stop]
        fetched = iter(await self._aread_ranges(wanted) if wanted else [])
        return [next(fetched) if start < stop else "" for start, stop in bounds]

    async def _aread_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._check_open()
        if not isinstance(self.transport, AwaitableTransport):
            return await asyncio.to_thread(self._read_ranges, ranges)
        if self.reader.prerequisites(ranges):
            await asyncio.to_thread(self._learn_prerequisites, ranges, [])
        plan = self.reader.plan(ranges)
        return await self.transport.acall(self._fetch_and_assemble(self.transport, plan))

    async def _fetch_and_assemble(self, transport: AwaitableTransport, plan: ReadPlan) -> list[str]:
        """On the transport's loop: fetch the plan's bodies (the storage wait, as for
        ``get_many``), then stitch (decode, verify) them on the loop's executor so other reads
        in flight keep moving."""
        with self._recorder.waiting():
            bodies = await transport.afetch_many(plan.requests)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.reader.assemble, plan, bodies)


def stored_bytes(context: StoredContext) -> int | None:
    """The UTF-8 size of a stored context when its metadata says, else ``None``."""
    reader: Any = context.reader
    index = getattr(reader, "index", None)
    if index is not None:
        size: int = index.byte_count
        return size
    manifest = getattr(reader, "manifest", None)
    if manifest is None or any(s.byte_count is None for s in manifest.segments):
        return None
    total: int = sum(s.byte_count for s in manifest.segments)
    return total
