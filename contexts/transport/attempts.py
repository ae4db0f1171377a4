"""Exact request accounting for botocore clients: a ``before-send`` hook counts every HTTP
attempt of the GetObject running in the current thread or task (botocore's own retries and
our re-reads of cut bodies included). The same hook refuses a new attempt once the read's
deadline has passed (:mod:`contexts.transport.retry`)."""

from __future__ import annotations

import contextvars
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from contexts.transport.retry import before_send_deadline

_ATTEMPTS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "ctxlab_get_attempts", default=None
)


_hooked: weakref.WeakSet[Any] = weakref.WeakSet()  # clients that count already
_hooked_lock = threading.Lock()


def _count_attempt(**kwargs: Any) -> None:
    before_send_deadline(**kwargs)  # past the deadline: no attempt, nothing to count
    counter = _ATTEMPTS.get()
    if counter is not None:
        counter[0] += 1


def count_get_attempts(client: Any) -> None:
    """Register the counting hook on a boto3 / aiobotocore S3 client (once per client: a
    registration inspects the hook's signature, a cost every open of a shared client paid)."""
    with _hooked_lock:
        if client in _hooked:
            return
        client.meta.events.register(
            "before-send.s3.GetObject", _count_attempt, unique_id="ctxlab-count-get-attempts"
        )
        _hooked.add(client)


@contextmanager
def attempts_counted() -> Iterator[list[int]]:
    """``with attempts_counted() as attempts:`` — ``attempts[0]`` HTTP sends happened inside."""
    counter = [0]
    token = _ATTEMPTS.set(counter)
    try:
        yield counter
    finally:
        _ATTEMPTS.reset(token)
