"""A forwarding WSGI app: every request goes to an upstream S3 endpoint unchanged, and its answer
streams back. Put `ShapingMiddleware` in front of it and any S3 server (SeaweedFS, MinIO, moto in
another process, a real bucket) sits behind the lab's simulated network, shaped by the same code
that shapes the embedded moto server.

The request is forwarded byte for byte: method, raw path and query (so a SigV4 signature made
for the proxy's URL still matches), every end-to-end header including ``Host``, and the body.
Hop-by-hop headers (``Connection``, ``Expect``, ...) are the proxy's own and are not forwarded.
Upstream connections are kept alive in a small pool; one that was closed while idle is replaced
once, before any answer was read. An upstream that cannot be reached answers ``502`` with an
S3-style error body that names it (botocore treats a 502 as transient and retries it).
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["ForwardingApp", "UpstreamError"]

_PIECE = 256 * 1024
_MAX_IDLE = 64
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class UpstreamError(ValueError):
    """The upstream URL cannot be forwarded to (not ``http://host:port`` with no path)."""


class ForwardingApp:
    """WSGI app that forwards each request to ``upstream`` (``http://HOST:PORT``).

    Thread-safe: each request borrows a kept-alive connection from a pool (a new one if none is
    idle) and returns it once its answer has been read to the end. ``close()`` closes the idle
    ones; a request still running keeps its own until it ends."""

    def __init__(self, upstream: str, *, timeout_s: float = 60.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise UpstreamError(
                f"cannot forward to {upstream!r}: give the S3 endpoint as http://HOST:PORT "
                "(plain HTTP, no path), e.g. http://127.0.0.1:8333"
            )
        self.upstream = f"http://{parts.netloc}"
        self._host = parts.hostname
        self._port = parts.port or 80
        self._timeout_s = timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.connections_opened = 0
        """Upstream connections opened so far (a kept-alive pool opens few)."""

    def close(self) -> None:
        """Close the idle upstream connections; later answers close theirs when done."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for connection in idle:
            connection.close()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
        method = environ["REQUEST_METHOD"]
        target = environ.get("RAW_URI") or _target_of(environ)
        headers = _request_headers(environ)
        body = _request_body(environ)
        if body or method in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        try:
            connection, response = self._send(method, target, headers, body)
        except (OSError, http.client.HTTPException) as error:
            return _bad_gateway(self.upstream, error, start_response)
        start_response(
            f"{response.status} {response.reason}",
            [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP],
        )
        return self._stream(connection, response)

    def _send(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request on a pooled connection (once more on a new one if the pooled one
        turns out to have been closed by the upstream while idle)."""
        connection, reused = self._borrow()
        try:
            connection.request(method, target, body=body or None, headers=headers)
            return connection, connection.getresponse()
        except _STALE:
            connection.close()
            if not reused:
                raise
        except BaseException:
            connection.close()
            raise
        connection = self._new_connection()
        try:
            connection.request(method, target, body=body or None, headers=headers)
            return connection, connection.getresponse()
        except BaseException:
            connection.close()
            raise

    def _stream(
        self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> Iterator[bytes]:
        """Yield the answer's body; the connection goes back to the pool only when the body was
        read to its end (an answer cut short, e.g. by an injected fault, closes it)."""
        complete = False
        try:
            while piece := response.read(_PIECE):
                yield piece
            complete = not response.will_close
        finally:
            response.close()
            if complete:
                self._give_back(connection)
            else:
                connection.close()

    def _borrow(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._new_connection(), False

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < _MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    def _new_connection(self) -> http.client.HTTPConnection:
        with self._lock:
            self.connections_opened += 1
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)


def _target_of(environ: WSGIEnvironment) -> str:
    """The request target rebuilt from PATH_INFO and QUERY_STRING (servers without RAW_URI)."""
    path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/~")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _request_headers(environ: WSGIEnvironment) -> dict[str, str]:
    """The end-to-end request headers, as the client sent them."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        if name.lower() not in _HOP_BY_HOP and value != "":
            headers[name] = value
    return headers


def _request_body(environ: WSGIEnvironment) -> bytes:
    """The whole request body (a chunked one is read to its end)."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        data: bytes = stream.read(int(length))
        return data
    if environ.get("wsgi.input_terminated"):
        data = stream.read()
        return data
    return b""


def _bad_gateway(upstream: str, error: Exception, start_response: StartResponse) -> Iterator[bytes]:
    """A 502 in S3's error format naming the unreachable upstream."""
    request_id = uuid.uuid4().hex[:16].upper()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Error><Code>BadGateway</Code>"
        f"<Message>the simulated network could not reach the S3 server at {upstream}: "
        f"{type(error).__name__}: {error}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>ctxlab-proxy</HostId></Error>"
    ).encode()
    start_response(
        "502 Bad Gateway",
        [
            ("Content-Type", "application/xml"),
            ("Content-Length", str(len(body))),
            ("x-amz-request-id", request_id),
        ],
    )
    return iter((body,))
