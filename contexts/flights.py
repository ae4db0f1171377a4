"""``Flights``: which keys some thread is fetching now, so that each is fetched by one thread
while the others wait for it (a single-flight table; it holds no results)."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Flights(Generic[K]):
    """``claim`` the keys to fetch, fetch the ones that are yours, ``release`` them, then
    ``wait`` for the others' and look again (a key whose fetch failed is free to claim)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[K, threading.Event] = {}

    def claim(self, keys: Iterable[K]) -> tuple[list[K], list[threading.Event]]:
        """The keys now this caller's to fetch, and the events of those others are fetching."""
        mine: list[K] = []
        theirs: list[threading.Event] = []
        with self._lock:
            for key in dict.fromkeys(keys):
                running = self._running.get(key)
                if running is None:
                    self._running[key] = threading.Event()
                    mine.append(key)
                else:
                    theirs.append(running)
        return mine, theirs

    def release(self, keys: Sequence[K]) -> None:
        """End this caller's flights of ``keys`` (landed or failed) and wake their waiters."""
        with self._lock:
            for key in keys:
                self._running.pop(key).set()

    @staticmethod
    def wait(events: Iterable[threading.Event]) -> None:
        """Until every one of the others' flights has ended."""
        for event in events:
            event.wait()
