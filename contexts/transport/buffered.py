"""``BufferedTransport``: a transport that answers from bytes already fetched, else asks its inner one.

Two kinds of held data:

* **verified bytes** (:meth:`BufferedTransport.hold`): extents of an object whose length was
  checked against the layout's metadata (a speculative first read, a background load). Any
  request they cover, whole or in part of one extent or across adjacent ones, is answered
  without a request. Only right-length bodies are held, so the layout's integrity re-reads
  (which ask again after a short body) never see a held bad body.
* **one-shot answers** (:meth:`BufferedTransport.hold_once`): the outcome of a metadata request
  sent speculatively (a manifest body, or the ``ObjectNotFoundError`` it raised). It answers the
  next request for that object once, so the layout's open reads it without a round trip, and a
  re-read after a corrupt body goes to storage.

Demand requests in flight are counted, so background work can yield to them
(:meth:`BufferedTransport.wait_for_demand`): a caller's read never queues behind read-ahead.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_right
from collections.abc import Sequence

from contexts.errors import ContextClosedError, ContextError
from contexts.transport.base import ByteRequest, Transport

Extent = tuple[int, int]
"""A half-open byte range ``(start, stop)``."""


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

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.location, inner.stats)
        self.inner = inner
        self.deadline_s = inner.deadline_s
        self._lock = threading.Lock()
        self._held: dict[str, HeldBytes] = {}
        self._once: dict[str, bytes | ContextError] = {}
        self._demand = 0
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

    def hold_once(self, name: str, outcome: bytes | ContextError) -> None:
        """Answer the next whole-object request for ``name`` with ``outcome``, once."""
        with self._lock:
            self._once[name] = outcome

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

    def held_bytes(self) -> int:
        """Bytes held in all (for tests and memory accounting)."""
        with self._lock:
            return sum(held.size for held in self._held.values())

    def release(self) -> None:
        """Forget everything held (the data now lives elsewhere, or is no longer wanted)."""
        with self._lock:
            self._held.clear()
            self._once.clear()

    # -- priority ------------------------------------------------------------------------------

    def wait_for_demand(self, timeout_s: float) -> None:
        """Block background work while callers' requests are in flight, at most ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._demand_done:
            while self._demand and not self.stopped:
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
        if missing:
            with self._lock:
                self._demand += 1
            try:
                fetched = self.inner.fetch_many([requests[i] for i in missing])
            finally:
                with self._demand_done:
                    self._demand -= 1
                    self._demand_done.notify_all()
            for i, body in zip(missing, fetched, strict=True):
                bodies[i] = body
        return [body for body in bodies if body is not None]

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

    def stop(self) -> None:
        super().stop()
        self.inner.stop()
        with self._demand_done:
            self._demand_done.notify_all()

    def close(self) -> None:
        self.release()
        self.inner.close()
