"""Reliability figures of a bench cell: faults injected, retries, named errors, wrong answers.

Under a profile with faults an op may fail with a named :class:`contexts.ContextError`: that is
an *error* (counted, the cell goes on), never a wrong answer. A wrong answer always fails the
cell. On a network without faults a named error still fails the cell (it is a defect there).
"""

from __future__ import annotations

from bench.network import FaultKind
from bench.results import CellResult, OpRecord
from contexts import ContextError


def record_error(cell: CellResult, kind: str, latency_s: float, exc: ContextError) -> None:
    """Count an op that raised a named error (and fail the cell if no faults were injected)."""
    cell.ops.append(OpRecord(kind, latency_s, False, error=type(exc).__name__))
    cell.errors += 1
    if not cell.faults_expected and cell.error is None:
        cell.status = "failed"
        cell.error = f"{type(exc).__name__}: {exc}"


def record_faults(cell: CellResult, counts: dict[str, int] | None) -> None:
    """The faults the shaping layer injected during this cell (its counters restart with the
    cell's ``set_profile``), by kind; kinds never injected are listed with 0. ``None`` (a real
    network, nothing injected) leaves the cell's ``faults`` as they are."""
    if counts is None:
        return
    cell.faults = {kind.value: counts.get(kind.value, 0) for kind in FaultKind}
