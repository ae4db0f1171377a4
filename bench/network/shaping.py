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

__all__ = ["InjectedReset", "ShapingMiddleware"]

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


class ShapingMiddleware:
    """Wraps a WSGI app: each request takes one draw from the sampler, waits for its first-byte
    delay, then streams the body no faster than the profile's per-connection bandwidth, or
    replaces the response with an injected fault. Thread-safe; counts what it injected."""

    def __init__(self, app: WSGIApplication, sampler: Sampler) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._sampler = sampler
        self._counts = _zero_counts()

    @property
    def sampler(self) -> Sampler:
        """The sampler in use."""
        return self._sampler

    def set_sampler(self, sampler: Sampler) -> None:
        """Switch profile/seed (between bench cells) and zero the fault counters."""
        with self._lock:
            self._sampler = sampler
            self._counts = _zero_counts()

    def fault_counts(self) -> dict[str, int]:
        """Shaped requests and injected faults by kind since the last `set_sampler`."""
        with self._lock:
            return dict(self._counts)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        arrived = time.perf_counter()
        with self._lock:
            sampler = self._sampler
            counts = self._counts
        draw = sampler.draw()
        with self._lock:
            counts["requests"] += 1
            if draw.fault is not None:
                counts[draw.fault.value] += 1
        first_byte_at = arrived + draw.first_byte_s
        app: WSGIApplication = self.app
        if draw.fault is FaultKind.SLOWDOWN or draw.fault is FaultKind.INTERNAL_ERROR:
            app = _s3_error(draw.fault)
        bandwidth = sampler.profile.bandwidth_bytes_per_s
        return self._shaped(app, environ, start_response, draw, first_byte_at, bandwidth)

    def _shaped(
        self,
        app: WSGIApplication,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        draw: Draw,
        first_byte_at: float,
        bandwidth: float | None,
    ) -> Iterator[bytes]:
        """Run `app`, hold its response until `first_byte_at`, then pace and/or cut the body.

        The app's CPU time counts towards the first-byte delay (a real server's does too)."""
        headers: list[tuple[str, str]] = []

        def capture(
            status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            headers[:] = response_headers
            return start_response(status, response_headers, exc_info)

        body = app(environ, capture)
        try:
            _sleep_until(first_byte_at)
            cut: int | None = None
            if draw.fault is FaultKind.RESET:
                length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
                cut = int(length * draw.reset_fraction)
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
                        raise InjectedReset("reset injected by the network profile")
                    yield data
                    sent += len(data)
                    if bandwidth is not None:
                        _sleep_until(started + sent / bandwidth)
            if cut is not None:
                raise InjectedReset("reset injected by the network profile")
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()


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
