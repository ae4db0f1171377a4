"""Which S3 server a bench run or a calibration talks to, and how its network is simulated.

``--server`` takes ``moto`` (the embedded server, the default), ``seaweedfs`` (a real S3 server,
started in a temporary directory for the run and stopped after it) or the URL of an S3 server
that is already running (``http://127.0.0.1:8333``). ``--shaping`` says where the simulated
network sits: ``middleware`` inside moto's process, or ``proxy``, a forwarding proxy on
127.0.0.1 in front of the server. Every server other than moto is shaped by the proxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from bench.network.profiles import NetworkProfile
from bench.network.proxy import ForwardingApp
from bench.network.server import S3Server

__all__ = [
    "EMBEDDED",
    "SERVERS",
    "SHAPINGS",
    "ServerChoice",
    "ServerChoiceError",
    "ServerStartError",
    "serve",
]

SERVERS = ("moto", "seaweedfs")
"""Servers the lab starts by itself (any ``http://HOST:PORT`` names one already running)."""
SHAPINGS = ("middleware", "proxy")


class ServerChoiceError(ValueError):
    """``--server`` / ``--shaping`` name something the lab cannot run."""


class ServerStartError(RuntimeError):
    """The server ``--server`` names could not be started (not installed, or it failed)."""


@dataclass(frozen=True)
class ServerChoice:
    """A server and where its network is shaped, checked."""

    server: str
    """``moto``, ``seaweedfs`` or an endpoint URL."""
    shaping: str
    """``middleware`` (moto only) or ``proxy``."""

    @classmethod
    def parse(cls, server: str = "moto", shaping: str | None = None) -> ServerChoice:
        """Check the pair; ``shaping`` defaults to ``middleware`` for moto, ``proxy`` otherwise."""
        if server not in SERVERS:
            try:
                server = ForwardingApp(server).upstream
            except ValueError as error:
                raise ServerChoiceError(
                    f"--server {server!r}: choose {' or '.join(SERVERS)}, or the URL of a "
                    f"running S3 server ({error})"
                ) from None
        if shaping is None:
            shaping = "middleware" if server == "moto" else "proxy"
        if shaping not in SHAPINGS:
            raise ServerChoiceError(f"--shaping {shaping!r}: choose {' or '.join(SHAPINGS)}")
        if shaping == "middleware" and server != "moto":
            raise ServerChoiceError(
                f"--shaping middleware runs inside moto's process; {server} is shaped by the "
                "proxy (--shaping proxy, the default for it)"
            )
        return cls(server, shaping)

    @property
    def label(self) -> str:
        """What the results and the report call this server."""
        return self.server if self.server in SERVERS else "s3-endpoint"

    def meta(self) -> dict[str, Any]:
        """Run metadata: the server, its endpoint when it was given, and the shaping."""
        network = (
            "simulated (WSGI shaping inside the moto server's process)"
            if self.shaping == "middleware"
            else f"simulated (a shaping proxy on 127.0.0.1 in front of {self.label})"
        )
        meta: dict[str, Any] = {"server": self.label, "shaping": self.shaping, "network": network}
        if self.label == "s3-endpoint":
            meta["server_endpoint"] = self.server
        return meta


EMBEDDED = ServerChoice("moto", "middleware")
"""The default: the embedded moto server, shaped inside its own process."""


def _start_seaweedfs(stack: ExitStack) -> str:
    """Start SeaweedFS, stopped when ``stack`` closes; its endpoint. A failure to start is a
    `ServerStartError` that says why (not installed: how to install it; failed: its log)."""
    from bench.network.seaweedfs import SeaweedFS, SeaweedFSError, SeaweedFSNotInstalledError

    try:
        weed = stack.enter_context(SeaweedFS())
    except (SeaweedFSNotInstalledError, SeaweedFSError) as error:
        raise ServerStartError(f"--server seaweedfs: {error}") from None
    return weed.endpoint


@contextmanager
def serve(
    choice: ServerChoice, profile: str | NetworkProfile = "none", seed: int = 0
) -> Iterator[S3Server]:
    """Start what ``choice`` names (and SeaweedFS when it is the server), yield the `S3Server`
    whose shaped endpoint is the simulated network, and stop all of it afterwards, also on an
    exception or Ctrl-C."""
    with ExitStack() as stack:
        if choice.shaping == "middleware":
            yield stack.enter_context(S3Server(profile, seed=seed))
            return
        if choice.server == "moto":
            upstream = stack.enter_context(S3Server()).raw_endpoint
        elif choice.server == "seaweedfs":
            upstream = _start_seaweedfs(stack)
        else:
            upstream = choice.server
        yield stack.enter_context(S3Server(profile, seed=seed, upstream=upstream))
