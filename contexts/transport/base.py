"""The transport interface: fetch an object (or a byte range of it) by layout-relative name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from contexts.errors import ContextClosedError, IntegrityError
from contexts.location import Location
from contexts.stats import StatsRecorder


@dataclass(frozen=True)
class ByteRequest:
    """One GET: an object name relative to the context's location, and an optional byte range."""

    name: str
    """Object name relative to the location (``segment_000001.log``, ``context.txt``)."""
    byte_range: tuple[int, int] | None = None
    """Half-open ``(start, stop)`` byte range, or ``None`` for the whole object."""

    @property
    def nbytes(self) -> int | None:
        """Bytes the range asks for (``None`` for a whole object, whose size is not known)."""
        return None if self.byte_range is None else self.byte_range[1] - self.byte_range[0]


def past_the_end(url: str, why: str) -> IntegrityError:
    """The error of a range that starts at or past the end of its object: the reader's
    metadata says the object is longer than it is."""
    return IntegrityError(
        f"{url} is shorter than its index says ({why}); rewrite the context with "
        "contexts.write_layout(...)"
    )


@dataclass(frozen=True)
class Revalidated:
    """The answer of :meth:`Transport.fetch_revalidated`."""

    body: bytes | None
    """The object, or ``None``: it still has the ETag asked about."""
    etag: str | None
    """Its ETag (``None`` where the storage has none)."""


class Transport(ABC):
    """Fetches bytes for a context and counts every request in the context's stats.

    A range ``(start, stop)`` answers ``data[start:stop]``, clipped at the object's end; an
    empty range is ``b""``; one that starts at or past the end raises :func:`past_the_end`'s
    ``IntegrityError`` (every backend: ``tests/transport_conformance.py``).

    ``get_many`` is the batch form: this base class runs it one request after another (the honest
    sequential baseline); concurrent transports override :meth:`_fetch_many`.
    """

    deadline_s: float | None = None
    """Overall deadline of one slice, applied by the context (``deadline_scope``); ``None``
    for none. Set by transports that honour it (the S3 ones)."""
    stopped: bool = False
    """Set by :meth:`stop`: every request not yet sent raises ``ContextClosedError``."""
    reports_first_byte: bool = False
    """Whether each request calls :func:`contexts.transport.hedge.first_byte_arrived` once its
    response begins (hedging then copies a request slow to its first byte whatever its size)."""

    def __init__(self, location: Location, stats: StatsRecorder) -> None:
        self.location = location
        self.stats = stats

    def get(self, name: str, byte_range: tuple[int, int] | None = None) -> bytes:
        """Fetch one object or byte range."""
        return self.get_many([ByteRequest(name, byte_range)])[0]

    def get_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        """Fetch every request; results in request order. Time blocked counts as wait."""
        with self.stats.waiting():
            return self._fetch_nonempty(requests)

    def fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        """:meth:`get_many` for background work: requests are counted, time is not a caller's
        wait."""
        return self._fetch_nonempty(requests)

    def _fetch_nonempty(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        """An empty range is ``b""`` without a request (S3 answers the invalid ``Range`` of
        one with the whole object); the rest go to :meth:`_fetch_many`. Nothing is asked once
        the transport is stopped."""
        self._refuse_if_stopped()
        empty = [request.nbytes is not None and request.nbytes <= 0 for request in requests]
        if not any(empty):
            return self._fetch_many(requests)
        asked = [request for request, skip in zip(requests, empty, strict=True) if not skip]
        bodies = iter(self._fetch_many(asked) if asked else [])
        return [b"" if skip else next(bodies) for skip in empty]

    def get_suffix(self, name: str, nbytes: int) -> bytes:
        """The last ``nbytes`` of ``name`` (all of it when it is shorter), in one request."""
        if nbytes < 1:
            raise ValueError(f"nbytes must be at least 1, not {nbytes}")
        return self._counted(lambda: self._fetch_suffix(name, nbytes))

    def fetch_revalidated(self, name: str, etag: str | None) -> Revalidated:
        """The whole object ``name`` and its ETag, in one request: with ``etag``, a conditional
        GET whose body is ``None`` when the object still has that ETag (counted, not timed as a
        caller's wait). Transports without ETags read the object (``etag`` ``None``)."""
        answer: list[Revalidated] = []

        def fetch() -> bytes:
            answer.append(self._fetch_revalidated(name, etag))
            return answer[0].body or b""

        self._counted(fetch)
        return answer[0]

    def _fetch_revalidated(self, name: str, etag: str | None) -> Revalidated:
        return Revalidated(self._fetch(ByteRequest(name)), None)

    def _fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        return [self._fetch_counted(request) for request in requests]

    def _fetch_counted(self, request: ByteRequest) -> bytes:
        return self._counted(lambda: self._fetch(request))

    def _refuse_if_stopped(self) -> None:
        """Raise ``ContextClosedError`` once :meth:`stop` has been called."""
        if self.stopped:
            raise ContextClosedError(
                f"the context reading {self.url()} was closed while this read was under way"
            )

    def _counted(self, fetch: Callable[[], bytes]) -> bytes:
        self._refuse_if_stopped()
        try:
            body = fetch()
        except BaseException:
            self.stats.record_request(0)  # a failed GET still cost a round trip
            raise
        self.stats.record_request(len(body))
        return body

    @abstractmethod
    def _fetch(self, request: ByteRequest) -> bytes:
        """Fetch one request, raising a :class:`contexts.errors.ContextError` on failure.

        The caller counts one request; a transport that retries reports the extra attempts
        with ``self.stats.record_retries(n)``.
        """

    def _fetch_suffix(self, name: str, nbytes: int) -> bytes:
        """The last ``nbytes`` of ``name``; transports that can ask for a suffix range override
        this (the default reads the whole object)."""
        return self._fetch(ByteRequest(name))[-nbytes:]

    def url(self, name: str = "") -> str:
        """Where ``name`` lives, for messages (never with credentials)."""
        return self.location.url(name)

    def stop(self) -> None:
        """Refuse every request not yet sent, so a batch or a long slice that another thread
        is running ends at its next request (a context's ``close()`` calls this first)."""
        self.stopped = True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and connections."""


T = TypeVar("T")


@runtime_checkable
class AwaitableTransport(Protocol):
    """A transport with its own event loop (aiobotocore): awaitable reads for async callers."""

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the transport's loop, without blocking the caller's loop."""
        ...

    async def afetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        """Every request's body, fetched concurrently on the transport's loop."""
        ...
