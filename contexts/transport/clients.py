"""boto3 S3 clients shared by every context of a process that reaches the same endpoint the
same way, so an open does not pay for a new session and botocore's model loading (~80 ms, far
more on a busy 2-core machine).

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
from typing import Any

from contexts.transport.s3 import S3Options, make_s3_client

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

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}


def client_key(options: S3Options) -> tuple[Any, ...]:
    """What decides whether two contexts may share a client (credentials only as a digest)."""
    fields = dataclasses.asdict(options)
    fields.pop("deadline_s")  # applied per slice by the context, not by the client
    kwargs = repr(sorted(fields.pop("client_kwargs").items()))
    environment = "\0".join(f"{name}={os.environ.get(name, '')}" for name in _CREDENTIAL_VARIABLES)
    digest = hashlib.sha256(environment.encode("utf-8")).hexdigest()
    return (*sorted(fields.items()), kwargs, digest)


def shared_s3_client(options: S3Options) -> Any:
    """The process's client for ``options``, made on first use."""
    key = client_key(options)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = make_s3_client(options)
        return client


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
    for client in clients:
        client.close()
