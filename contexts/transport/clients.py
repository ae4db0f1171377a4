"""boto3 S3 clients shared by every context of a process that reaches the same endpoint the
same way, so an open does not pay for a new session and botocore's model loading (~80 ms, far
more on a busy 2-core machine). Clients for other endpoints are made by one session per profile
and credential environment, which has loaded the models already (~4 ms instead of ~50 ms).

A client is keyed by everything that changes what it sends or whom it acts for: endpoint,
region, profile, timeouts, retries, pool size, extra client arguments, and a digest of the
credential environment variables (never the values themselves), so different endpoints, regions
or credentials never share one. boto3 clients are thread-safe; shared clients live for the
process and are closed by :func:`close_shared_clients` (tests) or at exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3

from contexts.transport.options import S3Options
from contexts.transport.s3 import make_s3_client, make_session

_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)

T = TypeVar("T")

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}
_sessions: dict[tuple[str | None, str], boto3.session.Session] = {}


def _credential_digest() -> str:
    """A digest of the credential environment variables (never the values themselves)."""
    environment = "\0".join(f"{name}={os.environ.get(name, '')}" for name in _CREDENTIAL_VARIABLES)
    return hashlib.sha256(environment.encode("utf-8")).hexdigest()


def client_key(options: S3Options) -> tuple[Any, ...]:
    """What decides whether two contexts may share a client (credentials only as a digest)."""
    fields = dataclasses.asdict(options)
    fields.pop("deadline_s")  # applied per slice by the context, not by the client
    kwargs = repr(sorted(fields.pop("client_kwargs").items()))
    return (*sorted(fields.items()), kwargs, _credential_digest())


def shared_s3_client(options: S3Options) -> Any:
    """The process's client for ``options``, made on first use."""
    key = client_key(options)
    with _lock:
        client = _clients.get(key)
        if client is None:  # boto3 sessions are not thread-safe: clients are made under the lock
            client = _clients[key] = make_s3_client(options, _session(options))
        return client


def with_shared_session(options: S3Options, use: Callable[[boto3.session.Session], T]) -> T:
    """``use(session)`` with the process's session for ``options``'s profile and credential
    environment (made on first use; a missing profile is ``CredentialsError``), under the
    lock that makes sharing it safe: its region, its credential chain."""
    with _lock:
        return use(_session(options))


def _session(options: S3Options) -> boto3.session.Session:
    """The shared session of ``options`` (call with the lock held)."""
    session_key = (options.profile_name, _credential_digest())
    session = _sessions.get(session_key)
    if session is None:
        session = _sessions[session_key] = make_session(options)
    return session


def shared_client_count() -> int:
    """How many shared clients exist (for tests and reports)."""
    with _lock:
        return len(_clients)


@atexit.register
def close_shared_clients() -> None:
    """Close every shared client's connections and forget them."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
        _sessions.clear()
    for client in clients:
        client.close()
