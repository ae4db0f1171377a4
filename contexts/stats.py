"""Thread-safe counters of what a context cost: requests, bytes, cache hits and time spent waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class ContextStats:
    """A snapshot of a context's counters (``ctx.stats``)."""

    requests: int = 0
    """Storage requests issued: every GET attempt, including the manifest or index, failed
    attempts and the client library's own retries."""
    retries: int = 0
    """Of :attr:`requests`, the repeated attempts (client retries, re-reads of cut bodies and
    hedged copies of slow requests)."""
    bytes_fetched: int = 0
    """Body bytes received from storage."""
    cache_hits: int = 0
    """Reads answered from a cache without a storage request."""
    cache_misses: int = 0
    """Reads a cache had to pass on to storage."""
    wait_seconds: float = 0.0
    """Wall time callers spent blocked on storage (a concurrent batch counts once)."""
    read_ahead_failures: int = 0
    """Background read-ahead batches that failed (not an error: their lines are fetched again
    when a read needs them)."""


class StatsRecorder:
    """Mutable, lock-protected counters behind :class:`ContextStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._wait = 0.0
        self._read_ahead_failures = 0

    def record_request(self, nbytes: int) -> None:
        """Count one storage request that returned ``nbytes`` body bytes."""
        with self._lock:
            self._requests += 1
            self._bytes += nbytes

    def record_bytes(self, nbytes: int) -> None:
        """Count body bytes of a request already counted (a transport that learns sizes late)."""
        with self._lock:
            self._bytes += nbytes

    def record_retries(self, count: int) -> None:
        """Count ``count`` repeated attempts (each is also a request)."""
        if count > 0:
            with self._lock:
                self._requests += count
                self._retries += count

    def record_repeats(self, count: int) -> None:
        """Mark ``count`` already counted requests as repeats (a batch fetched again)."""
        if count > 0:
            with self._lock:
                self._retries += count

    def record_unsent(self) -> None:
        """Take back a counted request that never reached the network."""
        with self._lock:
            self._requests -= 1

    def record_read_ahead_failure(self) -> None:
        """Count one failed background read-ahead batch."""
        with self._lock:
            self._read_ahead_failures += 1

    def record_cache(self, *, hits: int = 0, misses: int = 0) -> None:
        """Count cache hits and misses."""
        with self._lock:
            self._hits += hits
            self._misses += misses

    def record_wait(self, seconds: float) -> None:
        """Add time a caller spent blocked on storage."""
        with self._lock:
            self._wait += seconds

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Time the enclosed block as storage wait."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record_wait(time.perf_counter() - started)

    def snapshot(self) -> ContextStats:
        """The current counters as an immutable snapshot."""
        with self._lock:
            return ContextStats(
                requests=self._requests,
                retries=self._retries,
                bytes_fetched=self._bytes,
                cache_hits=self._hits,
                cache_misses=self._misses,
                wait_seconds=self._wait,
                read_ahead_failures=self._read_ahead_failures,
            )
