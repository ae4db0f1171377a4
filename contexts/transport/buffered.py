"""``BufferedTransport``: a transport that answers from bytes already fetched, else asks its inner one.

Three kinds of held data:

* **verified bytes** (:meth:`BufferedTransport.hold`): extents of an object whose length was
  checked against the layout's metadata (a speculative first read, a background load). Any
  request they cover, whole or in part of one extent or across adjacent ones, is answered
  without a request. Only right-length bodies are held, so the layout's integrity re-reads
  (which ask again after a short body) never see a held bad body.
* **flights** (:meth:`BufferedTransport.expect`): a speculative fetch under way that will hold
  what it verifies. A request that held bytes and flights cover together waits for them instead
  of asking again.
* **one-shot answers** (:meth:`BufferedTransport.hold_once`): the outcome of a metadata request
  sent speculatively (a manifest body, or the ``ObjectNotFoundError`` it raised). It answers the
  next request for that object once, so the layout's open reads it without a round trip, and a
  re-read after a corrupt body goes to storage.

Demand requests in flight are counted, so background work can yield to them
(:meth:`BufferedTransport.wait_for_demand`): a caller's read never queues behind read-ahead.
While ``hold_demand`` is on, a caller's range of an object named in :meth:`BufferedTransport.
read_ahead` asks for more in the same request (what transfers in a quarter of a round trip,
64 KiB to 1 MiB, up to the next held byte): ``for i in range(n): ctx[i]`` costs one round trip
per few thousand lines, not one per index checkpoint.
With a hedge policy, a caller's request slower than its delay (an eager one: a caller waits
for it) is sent once more; with an inner
transport that reports its responses' first bytes, a request late to its first byte is copied
whatever its size (:func:`~contexts.transport.hedge.hedged`). A flight is its sender's to hedge.
"""

from __future__ import annotations

import itertools
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from typing import Any

from contexts.errors import ContextClosedError, ContextError
from contexts.transport.base import ByteRequest, Revalidated, Transport
from contexts.transport.hedge import HedgePolicy, hedged, settle

Extent = tuple[int, int]
"""A half-open byte range ``(start, stop)``."""

READ_AHEAD_SHARE = 0.25
"""A caller's range reads on for the bytes that transfer in this share of a round trip."""
READ_AHEAD_MIN_BYTES = 64 * 1024
READ_AHEAD_MAX_BYTES = 1024 * 1024


class HeldBytes:
    """Non-overlapping verified extents of one object, or its whole body."""

    def __init__(self) -> None:
        self.whole: bytes | None = None
        self._starts: list[int] = []
        self._pieces: list[bytes] = []

    @property
    def size(self) -> int:
        """Bytes held."""
        if self.whole is not None:
            return len(self.whole)
        return sum(len(piece) for piece in self._pieces)

    def gaps(self, start: int, stop: int) -> list[Extent]:
        """The parts of ``[start, stop)`` not held, in order."""
        if self.whole is not None:
            return []
        missing: list[Extent] = []
        at = start
        for piece_start, piece in zip(self._starts, self._pieces, strict=True):
            piece_stop = piece_start + len(piece)
            if piece_stop <= at:
                continue
            if piece_start >= stop:
                break
            if piece_start > at:
                missing.append((at, piece_start))
            at = max(at, piece_stop)
            if at >= stop:
                break
        if at < stop:
            missing.append((at, stop))
        return missing

    def add(self, start: int, data: bytes) -> None:
        """Hold ``data`` at ``start`` (only where nothing is held yet)."""
        stop = start + len(data)
        for gap_start, gap_stop in self.gaps(start, stop):
            piece = (
                data
                if (gap_start, gap_stop) == (start, stop)
                else data[gap_start - start : gap_stop - start]
            )
            at = bisect_right(self._starts, gap_start)
            self._starts.insert(at, gap_start)
            self._pieces.insert(at, piece)

    def read(self, start: int, stop: int) -> bytes | None:
        """Bytes ``[start, stop)`` if held (a whole body is cut like an S3 range), else ``None``."""
        if self.whole is not None:
            return self.whole[start:stop]
        if start >= stop:
            return b""
        at = bisect_right(self._starts, start) - 1
        if at < 0:
            return None
        found: list[bytes] = []
        position = start
        while position < stop:
            if at >= len(self._starts) or self._starts[at] > position:
                return None
            piece_start, piece = self._starts[at], self._pieces[at]
            piece_stop = piece_start + len(piece)
            if piece_stop <= position:
                return None
            end = min(stop, piece_stop)
            if piece_start == position and end == piece_stop:
                found.append(piece)
            else:
                found.append(piece[position - piece_start : end - piece_start])
            position = end
            at += 1
        return found[0] if len(found) == 1 else b"".join(found)


class BufferedTransport(Transport):
    """Answers from held bytes first, then from ``inner`` (which counts every request)."""

    def __init__(
        self,
        inner: Transport,
        *,
        hedge: HedgePolicy | None = None,
        pool: ThreadPoolExecutor | None = None,
        on_demand: Callable[[], None] = lambda: None,
    ) -> None:
        """With ``hedge`` and ``pool``, callers' requests run on ``pool``, each copied once if
        it is slower than the policy's delay (:mod:`contexts.transport.hedge`). ``on_demand``
        is called as each caller's read that needs storage (or a flight) begins."""
        super().__init__(inner.location, inner.stats)
        self.inner = inner
        self._on_demand = on_demand
        self._hedge = hedge if pool is not None else None
        self._pool = pool
        self.hold_demand = False
        """Hold the byte ranges callers fetch too (while a load runs: a read of the same lines
        again, or the load, needs no request)."""
        self.deadline_s = inner.deadline_s
        self._lock = threading.Lock()
        self._read_ahead: dict[str, int] = {}  # object name -> its size
        self._held: dict[str, HeldBytes] = {}
        self._once: dict[str, bytes | ContextError] = {}
        self._flights: dict[str, list[tuple[int, int, Future[Any]]]] = {}
        self._whole_flights: dict[str, Future[Any]] = {}
        self._etas: dict[Future[Any], float] = {}  # when a flight is expected to land
        self._demand: set[int] = set()  # tickets of callers' reads in flight
        self._tickets = itertools.count()
        self._demand_done = threading.Condition(self._lock)

    # -- what is held ------------------------------------------------------------------------------

    def hold(self, name: str, start: int, data: bytes) -> None:
        """Hold verified bytes of ``name`` at ``start``."""
        with self._lock:
            self._held.setdefault(name, HeldBytes()).add(start, data)

    def hold_whole(self, name: str, data: bytes) -> None:
        """Hold the verified whole body of ``name``."""
        with self._lock:
            self._held.setdefault(name, HeldBytes()).whole = data

    def read_ahead(self, name: str, size: int) -> None:
        """While ``hold_demand`` is on, callers' ranges of ``name`` (``size`` bytes) read on
        past their end, and what they fetch is held (see the module)."""
        with self._lock:
            self._read_ahead[name] = size

    def hold_once(self, name: str, outcome: bytes | ContextError) -> None:
        """Answer the next whole-object request for ``name`` with ``outcome``, once."""
        with self._lock:
            self._once[name] = outcome

    def expect(
        self, name: str, start: int, stop: int, flight: Future[Any], eta: float | None = None
    ) -> None:
        """``flight`` is fetching ``[start, stop)`` of ``name`` and holds what it verifies.
        With ``eta`` (a ``time.monotonic()`` value) and a hedge policy, a read waits for it only
        when it should land before a request of the read's own would, and no longer than that
        request should take."""
        with self._lock:
            self._flights.setdefault(name, []).append((start, stop, flight))
            if eta is not None:
                self._etas[flight] = eta
        flight.add_done_callback(partial(self._landed, name))  # no cycle through the flight

    def expect_whole(self, name: str, flight: Future[Any]) -> None:
        """``flight`` is fetching the whole of ``name`` and holds it if it verifies."""
        with self._lock:
            self._whole_flights[name] = flight
        flight.add_done_callback(partial(self._landed, name))  # no cycle through the flight

    def _landed(self, name: str, flight: Future[Any]) -> None:
        """``flight`` of ``name`` is done: no read waits for it any more."""
        with self._lock:
            self._etas.pop(flight, None)
            if self._whole_flights.get(name) is flight:
                del self._whole_flights[name]
            left = [entry for entry in self._flights.get(name, []) if entry[2] is not flight]
            if left:
                self._flights[name] = left
            else:
                self._flights.pop(name, None)

    def wait_for_flights(self, name: str, start: int = 0, stop: int | None = None) -> None:
        """Wait for every flight that overlaps ``[start, stop)`` of ``name`` (``stop=None``: to
        its end)."""
        if stop is None:
            stop = 1 << 62
        with self._lock:
            flights = [f for a, b, f in self._flights.get(name, ()) if a < stop and start < b]
            if name in self._whole_flights:
                flights.append(self._whole_flights[name])
        if flights:
            settle(flights)

    def _covering_flights(self, name: str, start: int, stop: int) -> list[Future[Any]] | None:
        """The flights to wait for when they and the held bytes cover ``[start, stop)``
        together, else ``None`` (call with the lock held)."""
        if name in self._whole_flights:
            return [self._whole_flights[name]]
        flights = self._flights.get(name)
        if not flights:
            return None
        held = self._held.get(name)
        gaps = [(start, stop)] if held is None else held.gaps(start, stop)
        over = sorted(
            (entry for entry in flights if entry[0] < stop and start < entry[1]),
            key=lambda entry: entry[0],
        )
        waiting: list[Future[Any]] = []
        for gap_start, gap_stop in gaps:
            at = gap_start
            for flight_start, flight_stop, flight in over:
                if flight_stop <= at:
                    continue
                if flight_start > at:
                    return None
                waiting.append(flight)
                at = flight_stop
                if at >= gap_stop:
                    break
            if at < gap_stop:
                return None
        return waiting

    def gaps(self, name: str, start: int, stop: int) -> list[Extent]:
        """The parts of ``name``'s ``[start, stop)`` not held."""
        with self._lock:
            held = self._held.get(name)
            return [(start, stop)] if held is None else held.gaps(start, stop)

    def read_held(self, name: str, start: int, stop: int) -> bytes | None:
        """Held bytes ``[start, stop)`` of ``name``, or ``None``."""
        with self._lock:
            held = self._held.get(name)
            return None if held is None else held.read(start, stop)

    def read_held_whole(self, name: str) -> bytes | None:
        """The held whole body of ``name``, or ``None``."""
        with self._lock:
            held = self._held.get(name)
            return None if held is None else held.whole

    def drop(self, name: str) -> None:
        """Forget the bytes held of ``name`` (they are no longer trusted)."""
        with self._lock:
            self._held.pop(name, None)

    def release(self) -> None:
        """Forget everything held (the data now lives elsewhere, or is no longer wanted)."""
        with self._lock:
            self._held.clear()
            self._once.clear()
            self._read_ahead.clear()

    # -- priority ------------------------------------------------------------------------------

    def wait_for_demand(self, timeout_s: float) -> None:
        """Block background work until the callers' reads in flight now have ended, at most
        ``timeout_s`` (reads that start meanwhile do not hold it up: a caller reading without
        pause would otherwise starve the load)."""
        deadline = time.monotonic() + timeout_s
        with self._demand_done:
            before = next(self._tickets)
            while not self.stopped and any(ticket < before for ticket in self._demand):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._demand_done.wait(min(left, 0.05))

    # -- fetching ------------------------------------------------------------------------------

    def _fetch(self, request: ByteRequest) -> bytes:
        return self._fetch_many([request])[0]

    def _fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        if self.stopped:
            raise ContextClosedError(f"the context reading {self.url()} is closed")
        bodies: list[bytes | None] = [self._answer(request) for request in requests]
        missing = [i for i, body in enumerate(bodies) if body is None]
        if not missing:
            return [body for body in bodies if body is not None]
        with self._demand_in_flight():
            flights = self._flights_covering([requests[i] for i in missing])
            if flights:
                wait(flights, timeout=self._flight_wait_s(flights, [requests[i] for i in missing]))
                for i in missing:
                    bodies[i] = self._answer(requests[i])
                missing = [i for i in missing if bodies[i] is None]
            if missing:
                asked = [requests[i] for i in missing]
                sent = self._reading_on(asked) if self.hold_demand else asked
                fetched = self.fetch_hedged(sent, eager=True)
                for i, request, out, body in zip(missing, asked, sent, fetched, strict=True):
                    if self.hold_demand and out.byte_range and len(body) == out.nbytes:
                        self.hold(out.name, out.byte_range[0], body)
                    bodies[i] = body if out is request else body[: request.nbytes]
        return [body for body in bodies if body is not None]

    def _reading_on(self, requests: Sequence[ByteRequest]) -> list[ByteRequest]:
        """``requests``, each range of an object named in :meth:`read_ahead` extended past its
        end by what transfers in ``READ_AHEAD_SHARE`` of a round trip (within the read-ahead
        bounds), up to the object's end, the next held byte or the next request's start."""
        if not self._read_ahead or self._hedge is None:
            return list(requests)
        extra = self._hedge.cheap_bytes(READ_AHEAD_SHARE)
        extra = min(READ_AHEAD_MAX_BYTES, max(READ_AHEAD_MIN_BYTES, extra))
        starts: dict[str, list[int]] = {}
        for request in requests:
            if request.byte_range is not None:
                starts.setdefault(request.name, []).append(request.byte_range[0])
        for found in starts.values():
            found.sort()
        extended: list[ByteRequest] = []
        with self._lock:
            for request in requests:
                size = self._read_ahead.get(request.name)
                if size is None or request.byte_range is None:
                    extended.append(request)
                    continue
                start, stop = request.byte_range
                limit = min(size, stop + extra)
                others = starts[request.name]
                after = bisect_right(others, stop - 1)
                if after < len(others):
                    limit = min(limit, others[after])
                held = self._held.get(request.name)
                if held is not None and limit > stop:
                    first_gap = held.gaps(stop, limit)[:1]
                    limit = first_gap[0][1] if first_gap and first_gap[0][0] == stop else stop
                fits = limit > stop
                extended.append(ByteRequest(request.name, (start, limit)) if fits else request)
        return extended

    def _flight_wait_s(
        self, flights: set[Future[Any]], requests: Sequence[ByteRequest]
    ) -> float | None:
        """How long a read waits for ``flights`` before it asks storage itself: for flights
        with an ``eta``, as long as its own requests should take (0 when the flights should
        land later than that); ``None`` (until they land) for the others."""
        with self._lock:
            etas = [self._etas[flight] for flight in flights if flight in self._etas]
        if not etas or self._hedge is None or len(etas) < len(flights):
            return None
        own = self._hedge.expected(max(request.nbytes or 0 for request in requests))
        return own if max(etas) <= time.monotonic() + own else 0.0

    def fetch_hedged(
        self, requests: Sequence[ByteRequest], *, eager: bool = False, urgent: bool = False
    ) -> list[bytes]:
        """``requests`` from storage, past what is held and in flight: hedged on the pool (a
        caller's read, or background work that a straggler would hold up; ``eager``: a caller
        waits for them; ``urgent``: parts a caller will wait for all of, see
        :func:`~contexts.transport.hedge.hedged`), else the inner transport's way."""
        if self._hedge is None or self._pool is None:
            return self.inner.fetch_many(requests)

        def fetch(request: ByteRequest) -> Callable[[], bytes]:
            return lambda: self.inner.fetch_many([request])[0]

        return self.hedged_calls(
            [fetch(request) for request in requests],
            [request.nbytes for request in requests],
            eager=eager,
            urgent=urgent,
        )

    def hedged_calls(
        self,
        fetches: Sequence[Callable[[], bytes]],
        sizes: Sequence[int | None],
        *,
        eager: bool = False,
        urgent: bool = False,
    ) -> list[bytes]:
        """Each of ``fetches`` (one request of the inner transport, of ``sizes`` bytes), timed
        and hedged on the pool (:func:`~contexts.transport.hedge.hedged`, on the first byte
        where the inner transport reports it; ``eager``: a caller waits for them); without a
        policy and a pool, one after another (``urgent``: see :meth:`fetch_hedged`)."""
        hedge, pool = self._hedge, self._pool
        if hedge is None or pool is None:
            return [fetch() for fetch in fetches]

        def task(fetch: Callable[[], bytes]) -> Callable[[], bytes]:
            return lambda: hedge.timed(fetch, eager=eager)

        try:
            return hedged(
                [task(fetch) for fetch in fetches],
                pool,
                hedge,
                sizes,
                lambda: self.stats.record_repeats(1),
                first_byte=self.inner.reports_first_byte,
                eager=eager,
                urgent=urgent,
            )
        except RuntimeError:  # the pool refused: the context closed meanwhile
            if self.stopped:
                raise ContextClosedError(f"the context reading {self.url()} is closed") from None
            raise

    def _flights_covering(self, requests: Sequence[ByteRequest]) -> set[Future[Any]]:
        """Flights that answer some of ``requests`` once they land."""
        found: set[Future[Any]] = set()
        with self._lock:
            for request in requests:
                if request.byte_range is not None:
                    found.update(self._covering_flights(request.name, *request.byte_range) or ())
                elif request.name in self._whole_flights:
                    found.add(self._whole_flights[request.name])
        return found

    @contextmanager
    def _demand_in_flight(self) -> Iterator[None]:
        """Count a caller's read in flight (background work yields to it)."""
        with self._lock:
            ticket = next(self._tickets)
            self._demand.add(ticket)
        self._on_demand()
        try:
            yield
        finally:
            with self._demand_done:
                self._demand.discard(ticket)
                self._demand_done.notify_all()

    def _answer(self, request: ByteRequest) -> bytes | None:
        """What is held for ``request``; raises a held one-shot error."""
        with self._lock:
            if request.byte_range is None and request.name in self._once:
                outcome = self._once.pop(request.name)
                if isinstance(outcome, ContextError):
                    raise outcome
                return outcome
            held = self._held.get(request.name)
            if held is None:
                return None
            if request.byte_range is None:
                return held.whole
            return held.read(*request.byte_range)

    def get_suffix(self, name: str, nbytes: int) -> bytes:
        return self.inner.get_suffix(name, nbytes)  # the inner transport counts it

    def fetch_revalidated(self, name: str, etag: str | None) -> Revalidated:
        return self.inner.fetch_revalidated(name, etag)  # the inner transport counts it

    def stop(self) -> None:
        super().stop()
        self.inner.stop()
        with self._demand_done:
            self._demand_done.notify_all()

    def close(self) -> None:
        self.release()
        self.inner.close()
