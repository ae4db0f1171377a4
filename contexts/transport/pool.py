"""Concurrent batches on a long-lived thread pool, for transports whose client blocks."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from contexts.transport.base import ByteRequest, Transport


class PooledTransport(Transport):
    """Mix in before a blocking transport: ``get_many`` runs its requests on ``max_workers``
    threads (created on first use, shut down by ``close``); single requests stay inline."""

    max_workers: int = 32

    _pool: ThreadPoolExecutor | None = None
    _pool_lock = threading.Lock()

    def _fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        if len(requests) < 2:
            return super()._fetch_many(requests)
        return list(self._thread_pool().map(self._fetch_counted, requests))

    def _thread_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        max_workers=self.max_workers,
                        thread_name_prefix=f"{type(self).__name__}-fetch",
                    )
        return self._pool

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        super().close()
