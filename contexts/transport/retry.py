"""The retry and deadline policy every S3 transport shares.

* **Client retries first.** botocore's own retry modes (``standard``/``adaptive``) repeat a GET
  until its response *headers* arrive: 503 SlowDown, 500, refused or silent connections, and a
  GET with no first byte within ``read_timeout_s`` (2 s by default: AWS advises retrying a GET
  that has not started answering in about 2 s, rather than waiting for a straggler).
* **Cut bodies are read again here**, with :class:`RetryPolicy`'s bounded, fully jittered
  exponential back-off: botocore does not retry a body that breaks off mid-transfer. A
  transport marks such a failure by raising :class:`BodyCut` from its read.
* **One overall deadline per slice.** :func:`deadline_scope` sets a monotonic deadline for the
  current thread or task (``deadline_s``); transports refuse to start an attempt after it
  (``before-send`` hook, re-read loop, event-loop wait) and raise
  :class:`~contexts.errors.DeadlineExceededError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from contexts.errors import ContextError, DeadlineExceededError

T = TypeVar("T")

_DEADLINE: contextvars.ContextVar[tuple[float, float] | None] = contextvars.ContextVar(
    "ctxlab_deadline", default=None
)
"""``(monotonic deadline, deadline_s)`` of the read running in this thread or task."""


class BodyCut(Exception):
    """Raised by a transport when a response body broke off after its headers: retryable."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts with "full jitter" exponential back-off (AWS architecture blog)."""

    max_attempts: int = 3
    """Attempts in all, including the first."""
    base_s: float = 0.05
    """Back-off scale: before attempt ``n + 1`` wait ``uniform(0, base_s * 2**n)``."""
    cap_s: float = 2.0
    """Longest back-off between two attempts."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")

    def backoff_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based), jittered."""
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))

    def _delay_or_raise(
        self,
        exc: Exception,
        attempt: int,
        classify: Callable[[Exception], tuple[ContextError, bool]],
    ) -> float:
        """The back-off before the next attempt, or raise the named error for ``exc``."""
        if isinstance(exc, ContextError):
            raise exc
        error, retryable = classify(exc)
        if not retryable or attempt >= self.max_attempts:
            raise error from exc
        return _within_deadline(self.backoff_s(attempt))

    def run(
        self,
        once: Callable[[], T],
        classify: Callable[[Exception], tuple[ContextError, bool]],
        *,
        url: str,
        on_retry: Callable[[], None] | None = None,
    ) -> T:
        """``once()`` until it succeeds, ``classify(exc)`` says not retryable, attempts run out
        or the deadline passes. ``classify`` gives the named error and whether to retry."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return once()
            except Exception as exc:
                delay = self._delay_or_raise(exc, attempt, classify)
            time.sleep(delay)
            check_deadline(url)
            if on_retry is not None:
                on_retry()

    async def arun(
        self,
        once: Callable[[], Awaitable[T]],
        classify: Callable[[Exception], tuple[ContextError, bool]],
        *,
        url: str,
        on_retry: Callable[[], None] | None = None,
    ) -> T:
        """:meth:`run` for coroutines (the back-off is an ``asyncio.sleep``)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await once()
            except Exception as exc:
                delay = self._delay_or_raise(exc, attempt, classify)
            await asyncio.sleep(delay)
            check_deadline(url)
            if on_retry is not None:
                on_retry()


# -- the per-slice deadline -------------------------------------------------------------------


@contextmanager
def deadline_scope(seconds: float | None) -> Iterator[None]:
    """Reads inside must finish within ``seconds`` (``None``: no overall deadline). A scope
    inside another keeps the earlier deadline."""
    if seconds is None:
        yield
        return
    current = _DEADLINE.get()
    wanted = (time.monotonic() + seconds, seconds)
    token = _DEADLINE.set(wanted if current is None or wanted[0] < current[0] else current)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining_s() -> float | None:
    """Seconds left before the current deadline, or ``None`` without one."""
    current = _DEADLINE.get()
    return None if current is None else current[0] - time.monotonic()


def check_deadline(url: str) -> None:
    """Raise :class:`DeadlineExceededError` if the current deadline has passed."""
    current = _DEADLINE.get()
    if current is not None and time.monotonic() >= current[0]:
        raise deadline_error(url, current[1])


def deadline_error(url: str, seconds: float | None = None) -> DeadlineExceededError:
    """The named error for a read of ``url`` that ran out of time."""
    if seconds is None:
        current = _DEADLINE.get()
        seconds = current[1] if current is not None else 0.0
    return DeadlineExceededError(
        f"reading {url} did not finish within deadline_s={seconds:g} s (retries included); "
        "the endpoint is slow or not answering: check it, or raise deadline_s"
    )


def before_send_deadline(**kwargs: Any) -> None:
    """botocore ``before-send`` hook: no new HTTP attempt once the deadline has passed."""
    url = str(getattr(kwargs.get("request"), "url", "the request"))
    check_deadline(url.partition("?")[0])  # the path only: never a query string


def _within_deadline(delay: float) -> float:
    left = remaining_s()
    return delay if left is None else max(0.0, min(delay, left))
