"""``SizedLRU``: values with their sizes in bytes, the least recently used dropped first to stay
within a byte budget (and a count, if given). The block cache (:mod:`contexts.policies.cache`)
and ``auto``'s windows of lines (:mod:`contexts.windows`) keep their decoded text in one."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedLRU(Generic[K, V]):
    """At most ``max_bytes`` of values (each counted at the size it was put with) and at most
    ``max_entries`` of them (``None``: no count). Thread-safe."""

    def __init__(self, max_bytes: int, max_entries: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def find(self, wanted: Callable[[K], bool]) -> tuple[K, V] | None:
        """The least recently used key ``wanted`` accepts, with its value (now the most
        recently used), or ``None``."""
        with self._lock:
            key = next((key for key in self._entries if wanted(key)), None)
            if key is None:
                return None
            self._entries.move_to_end(key)
            return key, self._entries[key][0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep ``value`` under ``key`` (replacing what was there), dropping the least recently
        used until it fits; a value larger than the whole budget is not kept."""
        if size > self.max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            self._drop_until_fits(size, self.max_entries)
            self._entries[key] = (value, size)
            self._bytes += size

    def _drop_until_fits(self, size: int, max_entries: int | None) -> None:
        """Drop the least recently used until ``size`` more bytes (and one more entry) fit."""
        while self._entries and (
            self._bytes + size > self.max_bytes
            or (max_entries is not None and len(self._entries) >= max_entries)
        ):
            _key, (_value, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    @contextmanager
    def lent(self, nbytes: int) -> Iterator[None]:
        """Lend ``nbytes`` of the budget (at most all of it) while the block runs: the least
        recently used go until the rest fits, and what is put meanwhile fits the rest."""
        with self._lock:
            nbytes = max(0, min(nbytes, self.max_bytes))
            self.max_bytes -= nbytes
            self._drop_until_fits(0, None)
        try:
            yield
        finally:
            with self._lock:
                self.max_bytes += nbytes

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """The sizes of the values kept, summed (at most ``max_bytes``)."""
        return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


__all__ = ["SizedLRU"]
