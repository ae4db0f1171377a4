"""Run a test's worker on many threads at once, bounded in time."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_in_threads(worker: Callable[[int], None], count: int, *, timeout_s: float = 60) -> None:
    """``worker(0)`` .. ``worker(count - 1)`` on ``count`` threads at once; fails if one is
    still running after ``timeout_s`` (a hang is a failure, never a stuck test run)."""
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    assert not any(thread.is_alive() for thread in threads), "a worker thread hung"
