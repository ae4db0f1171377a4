"""The embedded S3 server: an S3 backend behind two HTTP endpoints.

- the **raw** endpoint serves the backend directly (setup traffic such as uploading corpora);
- the **shaped** endpoint serves the same backend through `ShapingMiddleware` (the simulated
  network).

The backend is moto by default, served on 127.0.0.1. With ``upstream="http://HOST:PORT"`` it is
any other S3 server (SeaweedFS, MinIO, ...): the raw endpoint is the upstream itself and the
shaped endpoint is a forwarding proxy on 127.0.0.1 (`bench.network.proxy.ForwardingApp`) behind
the same middleware, so one implementation shapes every server.

By default the server runs in its own process (spawned, so it never shares the client's GIL) and
is driven over a `multiprocessing` pipe. The child exits by itself when the pipe closes, i.e.
when the parent stops it or dies. `in_process=True` runs the same thing in threads (for tests).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import traceback
import urllib.request
from multiprocessing.connection import Connection
from types import TracebackType
from typing import TYPE_CHECKING, Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from bench.network.buckets import delete_all_buckets
from bench.network.http_server import KeepAliveServer
from bench.network.moto_storage import make_conditional_puts_atomic, serve_ranges_in_constant_time
from bench.network.profiles import NetworkProfile, Sampler, load_profile
from bench.network.proxy import ForwardingApp
from bench.network.shaping import ShapingMiddleware

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from _typeshed.wsgi import WSGIApplication

__all__ = ["S3Server", "ServerError"]

_HOST = "127.0.0.1"
_POLL_INTERVAL_S = 0.1


class ServerError(RuntimeError):
    """The embedded S3 server failed to start, crashed, or refused a control message."""


class S3Server:
    """Moto S3 (or the S3 server at ``upstream``) over real HTTP with a raw and a shaped
    endpoint; what it opens listens on 127.0.0.1 only.

    >>> with S3Server(profile="seed", seed=1) as server:   # doctest: +SKIP
    ...     boto3.client("s3", endpoint_url=server.shaped_endpoint)
    >>> with S3Server(upstream="http://127.0.0.1:8333") as proxy:   # doctest: +SKIP
    ...     boto3.client("s3", endpoint_url=proxy.shaped_endpoint)   # SeaweedFS, shaped
    """

    def __init__(
        self,
        profile: str | NetworkProfile = "none",
        seed: int = 0,
        *,
        in_process: bool = False,
        startup_timeout: float = 30.0,
        upstream: str | None = None,
    ) -> None:
        self._upstream = None if upstream is None else ForwardingApp(upstream).upstream
        self._profile = load_profile(profile)
        self._seed = seed
        self._in_process = in_process
        self._startup_timeout = startup_timeout
        self._lock = threading.Lock()
        self._core: _ServerCore | None = None
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._ports: tuple[int, int] | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> S3Server:
        """Start the server and wait until both endpoints accept connections."""
        if self._ports is not None:
            raise ServerError("S3Server is already running")
        if self._in_process:
            self._core = _ServerCore(self._profile, self._seed, self._upstream)
            self._ports = self._core.ports
        else:
            self._ports = self._start_child()
        return self

    def stop(self) -> None:
        """Stop the server; the child process is joined (terminated/killed if it lingers)."""
        with self._lock:
            core, process, conn = self._core, self._process, self._conn
            self._core = self._process = self._conn = None
            self._ports = None
        if core is not None:
            core.close()
        if conn is not None:
            try:
                conn.send(("stop", ()))
                if conn.poll(5.0):
                    conn.recv()
            except (OSError, EOFError):
                pass
            conn.close()
        if process is not None:
            process.join(5.0)
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- endpoints and control -------------------------------------------------------------------

    @property
    def raw_endpoint(self) -> str:
        """URL of the unshaped endpoint, e.g. `http://127.0.0.1:PORT` (the upstream itself when
        there is one)."""
        raw_port = self._require_ports()[0]
        if self._upstream is not None:
            return self._upstream
        return f"http://{_HOST}:{raw_port}"

    @property
    def shaped_endpoint(self) -> str:
        """URL of the endpoint behind the simulated network."""
        return f"http://{_HOST}:{self._require_ports()[1]}"

    @property
    def upstream(self) -> str | None:
        """The S3 server behind the shaped endpoint (None: the embedded moto)."""
        return self._upstream

    @property
    def profile(self) -> NetworkProfile:
        """The profile currently applied to the shaped endpoint."""
        return self._profile

    @property
    def seed(self) -> int:
        """The seed of the current profile's sampler."""
        return self._seed

    @property
    def pid(self) -> int | None:
        """The server process id (None when in-process or stopped)."""
        return self._process.pid if self._process is not None else None

    def set_profile(self, profile: str | NetworkProfile, seed: int = 0) -> NetworkProfile:
        """Apply a profile to the shaped endpoint, restart its RNG at `seed` and zero the fault
        counters. Call it between bench cells, while no request is in flight."""
        resolved = load_profile(profile)
        self._call("set_profile", resolved, seed)
        self._profile, self._seed = resolved, seed
        return resolved

    def fault_counts(self) -> dict[str, int]:
        """Shaped requests and injected faults by kind since the last `set_profile`."""
        counts: dict[str, int] = self._call("fault_counts")
        return counts

    def peak_in_flight(self) -> int:
        """The most shaped requests in flight at once since the last `set_profile`."""
        peak: int = self._call("peak_in_flight")
        return peak

    def serves_ranges_in_constant_time(self) -> bool:
        """True when ranged GETs cost O(range) in this server (`bench/network/moto_storage.py`)."""
        constant: bool = self._call("serves_ranges_in_constant_time")
        return constant

    def reset(self) -> None:
        """Delete every bucket and object (moto's `POST /moto-api/reset`, on the raw endpoint;
        with an upstream, every object and bucket it lists)."""
        if self._upstream is not None:
            import boto3

            client = boto3.client("s3", endpoint_url=self._upstream)
            try:
                delete_all_buckets(client)
            finally:
                client.close()
            return
        request = urllib.request.Request(f"{self.raw_endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    # --- internals -------------------------------------------------------------------------------

    def _require_ports(self) -> tuple[int, int]:
        if self._ports is None:
            raise ServerError(
                "S3Server is not running: call start() or use it as a context manager"
            )
        return self._ports

    def _call(self, op: str, *args: Any) -> Any:
        self._require_ports()
        if self._core is not None:
            return getattr(self._core, op)(*args)
        assert self._conn is not None
        with self._lock:
            try:
                self._conn.send((op, args))
                status, value = self._conn.recv()
            except (OSError, EOFError) as error:
                raise ServerError(f"S3 server process is gone ({op!r} failed): {error}") from error
        if status != "ok":
            raise ServerError(f"S3 server refused {op!r}: {value}")
        return value

    def _start_child(self) -> tuple[int, int]:
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        process = ctx.Process(
            target=_child_main,
            args=(child_conn, self._profile, self._seed, self._upstream),
            name="ctxlab-s3-server",
            daemon=True,
        )
        process.start()
        child_conn.close()  # so that the child's death shows up here as EOF
        self._process, self._conn = process, parent_conn
        deadline = time.monotonic() + self._startup_timeout
        try:
            while not parent_conn.poll(0.1):
                if not process.is_alive():
                    raise ServerError(_died_during_startup(process.exitcode))
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"S3 server process not ready after {self._startup_timeout:g} s"
                    )
            try:
                status, value = parent_conn.recv()
            except EOFError as error:
                process.join(1.0)
                raise ServerError(_died_during_startup(process.exitcode)) from error
            if status != "ready":
                raise ServerError(f"S3 server process failed to start:\n{value}")
            raw_port, shaped_port = value
            return raw_port, shaped_port
        except BaseException:
            self.stop()
            raise


def _died_during_startup(exitcode: int | None) -> str:
    return (
        f"S3 server process died during startup (exit code {exitcode}); its traceback is on "
        "stderr. From a script, start the server under `if __name__ == '__main__':` "
        "(the spawned process re-imports the main module)."
    )


def _child_main(conn: Connection, profile: NetworkProfile, seed: int, upstream: str | None) -> None:
    """Entry point of the server process: serve until told to stop or until the parent is gone."""
    try:
        core = _ServerCore(profile, seed, upstream)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        conn.close()
        return
    conn.send(("ready", core.ports))
    try:
        while True:
            try:
                op, args = conn.recv()
            except (EOFError, OSError):
                return  # the parent closed the pipe or died
            if op == "stop":
                core.close()
                conn.send(("ok", None))
                return
            try:
                conn.send(("ok", getattr(core, op)(*args)))
            except Exception as error:
                conn.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        core.close()
        conn.close()


class _ServerCore:
    """In this process: moto served raw and shaped, or (with ``upstream``) only the shaped
    endpoint, forwarding to the upstream. Werkzeug threaded servers on 127.0.0.1."""

    def __init__(self, profile: NetworkProfile, seed: int, upstream: str | None = None) -> None:
        self.constant_time_ranges = True  # a real S3 server reads only the range asked for
        self._forwarding: ForwardingApp | None = None
        apps: list[WSGIApplication] = []
        if upstream is None:
            self.constant_time_ranges = serve_ranges_in_constant_time()
            make_conditional_puts_atomic()  # a manifest swap is a compare-and-swap, as on S3
            app: WSGIApplication = DomainDispatcherApplication(create_backend_app)
            Client(app).get("/")  # build moto's S3 app now, not on the first timed request
            apps.append(app)
        else:
            app = self._forwarding = ForwardingApp(upstream)
        self.middleware = ShapingMiddleware(app, Sampler(profile, seed))
        apps.append(self.middleware)
        self._servers: list[KeepAliveServer] = []
        self._threads: list[threading.Thread] = []
        self._closed = False
        try:
            for wsgi_app in apps:
                server = KeepAliveServer(_HOST, wsgi_app)
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": _POLL_INTERVAL_S},
                    name=f"ctxlab-s3-{server.port}",
                    daemon=True,
                )
                self._servers.append(server)
                self._threads.append(thread)
                thread.start()
        except BaseException:
            self.close()
            raise
        shaped_port = self._servers[-1].port
        raw_port = self._servers[0].port if upstream is None else 0
        self.ports = (raw_port, shaped_port)

    def set_profile(self, profile: NetworkProfile, seed: int) -> None:
        self.middleware.set_sampler(Sampler(profile, seed))

    def fault_counts(self) -> dict[str, int]:
        return self.middleware.fault_counts()

    def peak_in_flight(self) -> int:
        return self.middleware.peak_in_flight()

    def serves_ranges_in_constant_time(self) -> bool:
        return self.constant_time_ranges

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.middleware.close()
        for server in self._servers:
            server.shutdown()
            server.server_close()
            server.close_connections()
        for thread in self._threads:
            thread.join(5.0)
        if self._forwarding is not None:
            self._forwarding.close()
