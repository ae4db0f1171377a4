"""Concurrent batches on a long-lived thread pool, for transports whose client blocks."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor

from contexts.errors import ContextClosedError
from contexts.transport.base import ByteRequest, Transport


class PooledTransport(Transport):
    """Mix in before a blocking transport: ``get_many`` runs its requests on ``max_workers``
    threads (created on first use, shut down by ``close``); single requests stay inline.

    Reads racing ``close()`` raise ContextClosedError; no pool is created after close.
    """

    max_workers: int = 32

    _pool: ThreadPoolExecutor | None = None
    _pool_closed: bool = False

    def _fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        if len(requests) < 2:
            return super()._fetch_many(requests)
        # Each request runs in the caller's context (its deadline), copied once per request.
        runs = [contextvars.copy_context().run for _ in requests]
        try:
            return list(
                self._thread_pool().map(
                    lambda run, request: run(self._fetch_counted, request), runs, requests
                )
            )
        except (CancelledError, RuntimeError):
            if self._pool_closed:  # cancelled or refused by close() meanwhile
                raise ContextClosedError(
                    f"the context for {self.url()} was closed while this read was in flight"
                ) from None
            raise

    def _thread_pool(self) -> ThreadPoolExecutor:
        with self._lock_for_pool():
            if self._pool_closed:
                raise ContextClosedError(f"the context for {self.url()} is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_workers,
                    thread_name_prefix=f"{type(self).__name__}-fetch",
                )
            return self._pool

    def _lock_for_pool(self) -> threading.Lock:
        lock: threading.Lock | None = self.__dict__.get("_pool_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_pool_lock", threading.Lock())
        return lock

    def close(self) -> None:
        with self._lock_for_pool():
            self._pool_closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        super().close()
