"""What the bench process spent of the machine during a timed section: CPU (user and system)
and minor page faults, from ``getrusage``. A cell's time beyond the network's limits goes
somewhere; these say whether to the client's CPU, or to the kernel handing out fresh memory
(a large answer is one fault per 4 KiB page: a 400 MB string is ~100,000 of them, 1.5 µs each
on a quiet machine and several times that on a busy virtual one).

Process-wide: a context's own threads count (a background load during an op too); the
embedded S3 server runs in its own process and does not.
"""

from __future__ import annotations

from dataclasses import dataclass

try:
    import resource
except ImportError:  # not on Windows: every figure stays 0
    resource = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Usage:
    """CPU seconds and minor page faults, as counted since the process started (or a
    difference of two such counts)."""

    user_s: float = 0.0
    system_s: float = 0.0
    page_faults: int = 0

    def __sub__(self, earlier: Usage) -> Usage:
        return Usage(
            self.user_s - earlier.user_s,
            self.system_s - earlier.system_s,
            self.page_faults - earlier.page_faults,
        )


def process_usage() -> Usage:
    """This process's usage so far (all zero where ``getrusage`` is missing)."""
    if resource is None:
        return Usage()
    used = resource.getrusage(resource.RUSAGE_SELF)
    return Usage(used.ru_utime, used.ru_stime, used.ru_minflt)


__all__ = ["Usage", "process_usage"]
