"""The embedded server's HTTP side: werkzeug's threaded WSGI server, with HTTP/1.1 keep-alive.

Werkzeug's development server closes every connection after one response (it sends
``Connection: close`` and then drains the socket), so every request through it paid a new TCP
connection and a new server thread: a cost S3 does not charge a client whose pool holds its
connections open, and one that grew with the number of requests a context makes, not with the
bytes it moves. Here a request without a body (``GET`` and ``HEAD``: every timed read) is
answered on a connection that stays open for the next one, as on S3; a request with a body
goes through werkzeug's own handling (which drains the body and closes the connection).

A connection idle for ``IDLE_TIMEOUT_S`` closes by itself; :meth:`KeepAliveServer.
close_connections` closes the rest when the server stops.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import ThreadedWSGIServer

from bench.network.shaping import InjectedReset

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

__all__ = ["IDLE_TIMEOUT_S", "KeepAliveServer", "RequestHandler"]

IDLE_TIMEOUT_S = 60.0
"""A kept-alive connection with no request for this long is closed by the server."""
_BODILESS = frozenset({"GET", "HEAD"})
_NO_BODY_STATUS = frozenset({204, 304})


class RequestHandler(MotoRequestHandler):
    """Moto's request handler (werkzeug's, keeping headers with underscores), quiet, keeping
    connections of bodiless requests alive, and able to abort a connection with a TCP reset."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    server: KeepAliveServer

    def setup(self) -> None:
        # Without TCP_NODELAY a response written in pieces (head, then body) waits for the
        # client's delayed ACK (40 ms on Linux) once the connection is reused.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.server.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.closed(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: it would cost CPU on every request."""

    def log_error(self, format: str, *args: Any) -> None:
        """Errors as werkzeug logs them, but not an idle kept-alive connection's timeout (the
        way it closes, not an error)."""
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        """Werkzeug calls this when the app raised a `ConnectionError`. For an injected reset,
        close the socket with SO_LINGER 0 so the client gets an RST, not an orderly FIN."""
        self.close_connection = True
        if isinstance(error, InjectedReset):
            sock: socket.socket = self.connection
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the makefile reference so close() really closes the fd
            sock.close()

    def run_wsgi(self) -> None:
        """Answer one request: one without a body on a connection kept open, one with a body
        werkzeug's way."""
        length = self.headers.get("Content-Length", "0").strip()
        if (
            self.command not in _BODILESS
            or length not in ("", "0")
            or "Transfer-Encoding" in self.headers
        ):
            super().run_wsgi()
            return
        environ = self.make_environ()
        self.environ = environ
        try:
            self._respond(self.server.app, environ)
        except (ConnectionError, TimeoutError) as error:
            self.connection_dropped(error, environ)

    def _respond(self, app: WSGIApplication, environ: dict[str, Any]) -> None:
        """Run ``app`` and write its response: with its ``Content-Length`` the connection
        stays open; without one the body runs to the connection's close."""
        started: list[tuple[str, list[tuple[str, str]]]] = []
        sent = False

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            if exc_info is not None and sent:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [(status, headers)]
            return write

        def write(data: bytes) -> None:
            nonlocal sent
            if not sent:
                status, headers = started[0]
                self._send_head(status, headers)
                sent = True
            if data:
                self.wfile.write(data)

        try:
            body: Iterable[bytes] = app(environ, start_response)
            try:
                for data in body:
                    write(data)
                if not sent:
                    write(b"")
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            self.close_connection = True
            if not sent:
                self.send_error(500, "the S3 app failed on this request")
            self.log_error("%s %s failed:\n%s", self.command, self.path, traceback.format_exc())

    def _send_head(self, status: str, headers: list[tuple[str, str]]) -> None:
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        names = set()
        for name, value in headers:
            self.send_header(name, value)
            names.add(name.lower())
        bodiless = self.command == "HEAD" or int(code) in _NO_BODY_STATUS
        if "content-length" not in names and not bodiless:
            self.send_header("Connection", "close")  # the body ends where the connection does
        self.end_headers()


class KeepAliveServer(ThreadedWSGIServer):
    """Werkzeug's threaded WSGI server on ``host``, one thread per open connection, with
    :class:`RequestHandler`; it knows its open connections, to close them when it stops."""

    def __init__(self, host: str, app: WSGIApplication) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(host, 0, app, handler=RequestHandler)

    def opened(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(connection)

    def close_connections(self) -> None:
        """Close every connection still open (kept alive or in a request): their threads end."""
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # closed meanwhile
                connection.shutdown(socket.SHUT_RDWR)
