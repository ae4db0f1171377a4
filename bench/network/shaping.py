"""WSGI middleware that makes a local S3 app behave like a network: first-byte delay, paced body,
injected faults. It runs in the server's per-connection thread, so every connection is shaped on
its own (its own delay, its own bandwidth) and no client library is touched."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from bench.network.profiles import Draw, FaultKind, Sampler

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["InjectedClose", "InjectedReset", "ShapingMiddleware"]

_MIN_PIECE = 1024
_MAX_PIECE = 256 * 1024
_PACING_STEP_S = 0.005

_S3_ERRORS = {
    FaultKind.SLOWDOWN: (503, "SlowDown", "Please reduce your request rate."),
    FaultKind.INTERNAL_ERROR: (
        500,
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
}


class InjectedReset(ConnectionResetError):
    """Raised inside the response body to abort the connection. Werkzeug treats a
    `ConnectionError` as a dropped connection (no 500 page, no log); the server's request handler
    then closes the socket with an RST (see `bench.network.server`)."""


class InjectedClose(ConnectionAbortedError):
    """Raised inside the response body to end the connection cleanly (FIN) before the body is
    complete (`FaultKind.TRUNCATE`), or to drop a stalled request without an answer."""


_BODY_CUTS = (FaultKind.TRUNCATE, FaultKind.SHORT_BODY)


class ShapingMiddleware:
    """Wraps a WSGI app: each request takes one draw from the sampler, waits for its first-byte
    delay, then streams the body no faster than the profile's per-connection bandwidth, or
    replaces the response with an injected fault. Thread-safe; counts what it injected.

    Truncated and short bodies apply only to successful GETs with a body (a HEAD, an error or an
    empty body is served as is and not counted as a fault)."""

    def __init__(self, app: WSGIApplication, sampler: Sampler) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._sampler = sampler
        self._counts = _zero_counts()
        self._generation = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._stopping = threading.Event()

    def close(self) -> None:
        """Release every stalled request now (the server is stopping)."""
        self._stopping.set()

    def _count(self, kind: FaultKind, counts: dict[str, int]) -> None:
        with self._lock:
            counts[kind.value] += 1

    @property
    def sampler(self) -> Sampler:
        """The sampler in use."""
        return self._sampler

    def set_sampler(self, sampler: Sampler) -> None:
        """Switch profile/seed (between bench cells) and zero the fault counters and the peak
        of requests in flight."""
        with self._lock:
            self._sampler = sampler
            self._counts = _zero_counts()
            self._generation += 1  # requests still held from before are not this cell's
            self._in_flight = self._peak_in_flight = 0

    def fault_counts(self) -> dict[str, int]:
        """Shaped requests and injected faults by kind since the last `set_sampler`."""
        with self._lock:
            return dict(self._counts)

    def peak_in_flight(self) -> int:
        """The most shaped requests held for their first byte at the same moment since the last
        `set_sampler`. A request leaves the count before its first byte is sent, so a client
        that waits for each answer before its next request peaks at exactly 1 and one that
        overlaps its requests above 1: a count tests can check without timing anything."""
        with self._lock:
            return self._peak_in_flight

    def _enter(self) -> Callable[[], None]:
        """Count a request in; the function returned counts it out (once its answer is done)."""
        with self._lock:
            generation = self._generation
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

        left = False

        def leave() -> None:
            nonlocal left
            with self._lock:
                if not left and self._generation == generation:
                    self._in_flight -= 1
                left = True

        return leave

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        leave = self._enter()
        try:
            body = self._respond(environ, start_response, leave)
        except BaseException:
            leave()
            raise
        return _InFlight(body, leave)

    def _respond(
        self, environ: WSGIEnvironment, start_response: StartResponse, leave: Callable[[], None]
    ) -> Iterable[bytes]:
        arrived = time.perf_counter()
        with self._lock:
            sampler = self._sampler
            counts = self._counts
        draw = sampler.draw()
        with self._lock:
            counts["requests"] += 1
        if draw.fault is not None and draw.fault not in _BODY_CUTS:
            self._count(draw.fault, counts)
        if draw.fault is FaultKind.STALL:
            return self._stalled(sampler.profile.faults.stall_s)
        first_byte_at = arrived + draw.first_byte_s
        app: WSGIApplication = self.app
        if draw.fault is FaultKind.SLOWDOWN or draw.fault is FaultKind.INTERNAL_ERROR:
            app = _s3_error(draw.fault)
        bandwidth = sampler.profile.bandwidth_bytes_per_s
        if draw.fault in _BODY_CUTS and environ.get("REQUEST_METHOD") != "GET":
            draw = Draw(draw.first_byte_s, None, draw.reset_fraction)
        return self._shaped(
            app, environ, start_response, draw, first_byte_at, bandwidth, counts, leave
        )

    def _stalled(self, hold_s: float) -> Iterator[bytes]:
        """Never answer: hold the connection, then drop it without a status line."""
        self._stopping.wait(hold_s)
        raise InjectedClose("stall injected by the network profile")
        yield b""  # pragma: no cover - makes this a generator, run by the server's thread

    def _shaped(
        self,
        app: WSGIApplication,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        draw: Draw,
        first_byte_at: float,
        bandwidth: float | None,
        counts: dict[str, int],
        leave: Callable[[], None],
    ) -> Iterator[bytes]:
        """Run `app`, hold its response until `first_byte_at`, then pace and/or cut the body.

        The app's CPU time counts towards the first-byte delay (a real server's does too).
        ``leave`` is called as the hold ends, before any byte goes out."""
        headers: list[tuple[str, str]] = []
        cut: int | None = None

        def capture(
            status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            nonlocal cut
            length = _content_length(response_headers)
            if draw.fault in _BODY_CUTS and status.startswith("2") and length:
                cut = int(length * draw.reset_fraction)
                self._count(draw.fault, counts)
                if draw.fault is FaultKind.SHORT_BODY:
                    response_headers = [
                        (k, str(cut) if k.lower() == "content-length" else v)
                        for k, v in response_headers
                    ]
            headers[:] = response_headers
            return start_response(status, response_headers, exc_info)

        body = app(environ, capture)
        try:
            _sleep_until(first_byte_at)
            leave()
            if draw.fault is FaultKind.RESET:
                cut = int(_content_length(headers) * draw.reset_fraction)
            piece = _MAX_PIECE
            if bandwidth is not None:
                piece = int(min(_MAX_PIECE, max(_MIN_PIECE, bandwidth * _PACING_STEP_S)))
            sent = 0
            started = time.perf_counter()
            for chunk in body:
                for start in range(0, len(chunk), piece):
                    data = chunk[start : start + piece]
                    if cut is not None and sent + len(data) >= cut:
                        if cut > sent:
                            yield data[: cut - sent]
                        self._end_cut(draw)
                        return
                    yield data
                    sent += len(data)
                    if bandwidth is not None:
                        _sleep_until(started + sent / bandwidth)
            if cut is not None:
                self._end_cut(draw)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    @staticmethod
    def _end_cut(draw: Draw) -> None:
        """End a cut body: an RST for a reset, a FIN for a truncation, nothing more for a short
        body (its Content-Length already says the cut length)."""
        if draw.fault is FaultKind.RESET:
            raise InjectedReset("reset injected by the network profile")
        if draw.fault is FaultKind.TRUNCATE:
            raise InjectedClose("truncation injected by the network profile")


class _InFlight:
    """A response body that calls ``leave`` when the server closes it (WSGI servers call
    ``close()`` after the last chunk, after an error and after a dropped connection), for the
    answers that never reached their first byte (stalls, failures)."""

    def __init__(self, body: Iterable[bytes], leave: Callable[[], None]) -> None:
        self._body = body
        self._leave: Callable[[], None] | None = leave

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        leave, self._leave = self._leave, None
        if leave is None:
            return
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            leave()


def _content_length(headers: list[tuple[str, str]]) -> int:
    return next((int(v) for k, v in headers if k.lower() == "content-length"), 0)


def _zero_counts() -> dict[str, int]:
    return {"requests": 0, **{kind.value: 0 for kind in FaultKind}}


def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.perf_counter()
    if remaining > 0:
        time.sleep(remaining)


def _s3_error(kind: FaultKind) -> Response:
    """An S3-style XML error response, as botocore parses it (code, message, request id)."""
    status, code, message = _S3_ERRORS[kind]
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>ctxlab-shaping</HostId></Error>"
    )
    return Response(
        body, status=status, mimetype="application/xml", headers={"x-amz-request-id": request_id}
    )
