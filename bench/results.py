"""The versioned results JSON: run metadata plus one record per (context, scenario, profile, size).

Schema (``schema_version`` 1) is documented in ``bench/RESULTS.md``; bump the version on any
incompatible change. Added fields do not bump it: readers ignore fields they do not know (kept in
``extra`` and written back) and default fields an older file lacks. The file is rewritten atomically after every cell, so an interrupted run
keeps every finished cell.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = "rlm-context-lab/results"
SCHEMA_VERSION = 1


@dataclass
class OpRecord:
    """One replayed op."""

    kind: str
    """Op kind: len, read, index, batch, grep, text, iter (think ops are not timed)."""
    latency_s: float
    """Wall time of the call, from ``perf_counter_ns``."""
    correct: bool
    """Whether the answer equalled the oracle's (``False`` too for an op that raised)."""
    lines: int = 0
    """Lines the op asked for (a grep, text or iteration: every line; ``len``: 0)."""
    bytes: int = 0
    """UTF-8 bytes of the answer handed back."""
    error: str | None = None
    """The named error (``ContextError`` subclass) the op raised instead of answering."""


@dataclass
class CellResult:
    """One bench cell: a fresh context replaying one scenario on one profile and corpus size."""

    context: str
    scenario: str
    scenario_version: str
    profile: str
    lines: int
    status: str = "ok"
    """``ok``, ``failed`` (wrong answer or error) or ``skipped``."""
    error: str | None = None
    """Why the cell failed or was skipped."""
    correct: bool = True
    """No answer differed from the oracle's (a cell that failed with an error may still be
    ``correct``: see ``status`` and ``error``)."""
    open_s: float = 0.0
    """Time to open the context (manifest / index GET, or preload), before the first op."""
    open_requests: int = 0
    """Requests made while opening."""
    total_s: float = 0.0
    """Open plus every op plus think time: what the RLM waited in all."""
    think_s: float = 0.0
    """Think time slept (already scaled by ``think_scale``)."""
    stall_s: float = 0.0
    """``total_s - think_s``: time lost to storage and client overhead."""
    requests: int = 0
    """Storage requests in all (``ctx.stats.requests``), including open."""
    bytes: int = 0
    """Body bytes fetched in all (``ctx.stats.bytes_fetched``)."""
    bytes_returned: int = 0
    """UTF-8 bytes of the answers returned to the caller."""
    faults_expected: bool = False
    """The profile injects faults (named errors are then counted, not fatal)."""
    faults: dict[str, int] = field(default_factory=dict)
    """Faults the simulated network injected during the cell, by kind (empty for local disk)."""
    retries: int = 0
    """Repeated requests (``ctx.stats.retries``): client retries, re-read cut bodies, batches
    fetched again after failing the layout's checks."""
    errors: int = 0
    """Ops that raised a named error (``ContextError``) instead of answering."""
    wrong_answers: int = 0
    """Ops whose answer differed from the oracle's: must be 0."""
    lower_bound_s: float = 0.0
    """The demand bound: the least time a client fetching only what the trace asks for could take
    on this trace and profile (``bench/lower_bound.py``)."""
    ratio: float | None = None
    """``total_s / lower_bound_s``; ``None`` when the bound is 0."""
    truncated: bool = False
    """The cell's budget (``--quick``, ``--cell-seconds``, ``--cell-ops``) stopped it before
    the end of its trace: its figures cover a prefix, and it never wins."""
    truncation: str | None = None
    """Where and why a truncated cell stopped."""
    abandoned_s: float = 0.0
    """Time spent in the op the budget abandoned mid-way (part of ``total_s``; not an op)."""
    physical_limit_s: float = 0.0
    """The least time a clairvoyant client could take: everything the trace needs fetched from
    open at the profile's bandwidth capped by the run's measured ceiling (``bench/lower_bound.py``);
    0 on a real network."""
    physical_ratio: float | None = None
    """``total_s / physical_limit_s``; ``None`` when the limit is 0 (winners rank by it)."""
    user_s: float = 0.0
    """CPU seconds in user mode the bench process spent during the open and the ops (the
    context's own threads included; think time, the bench's checks and the embedded server's
    process not): ``bench/usage.py``."""
    system_s: float = 0.0
    """CPU seconds in the kernel in the same sections (page faults, socket calls)."""
    page_faults: int = 0
    """Minor page faults in the same sections: fresh memory touched, one per 4 KiB page."""
    ops: list[OpRecord] = field(default_factory=list)
    """Every timed op, in order."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields this reader does not know (from newer writers), written back unchanged."""

    def latencies(self) -> list[float]:
        """Per-op latencies in seconds."""
        return [op.latency_s for op in self.ops]

    def quantile(self, q: float) -> float:
        """A latency quantile (0 < q < 1) over the ops, 0 if there are none."""
        values = sorted(self.latencies())
        if not values:
            return 0.0
        position = min(max(q, 0.0), 1.0) * (len(values) - 1)  # linear interpolation
        low = int(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)


@dataclass
class RunResults:
    """A whole run: metadata and cells."""

    meta: dict[str, Any]
    cells: list[CellResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run": self.meta,
            "cells": [_cell_json(cell) for cell in self.cells],
        }

    def write(self, path: Path) -> None:
        """Atomically (re)write the results file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".results.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(self.to_json(), out, indent=1)
        os.replace(temp, path)


def load_results(path: Path) -> RunResults:
    """Read a results file written by :meth:`RunResults.write`."""
    return results_from_json(json.loads(path.read_text(encoding="utf-8")), source=str(path))


def results_from_json(raw: dict[str, Any], *, source: str = "results") -> RunResults:
    """Rebuild :class:`RunResults` from :meth:`RunResults.to_json` output (checks the schema)."""
    if raw.get("schema") != SCHEMA or raw.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{source} is not a {SCHEMA} v{SCHEMA_VERSION} file "
            f"(schema={raw.get('schema')!r}, version={raw.get('schema_version')!r})"
        )
    return RunResults(raw["run"], [_cell_from_json(cell) for cell in raw["cells"]])


_CELL_FIELDS = {f.name for f in fields(CellResult)} - {"ops", "extra"}
_OP_FIELDS = {f.name for f in fields(OpRecord)}


def _cell_json(cell: CellResult) -> dict[str, Any]:
    data = asdict(cell)
    return {**data.pop("extra"), **data}


def _cell_from_json(raw: dict[str, Any]) -> CellResult:
    """A cell from JSON: unknown fields go to ``extra``, missing ones take their defaults."""
    known = {key: value for key, value in raw.items() if key in _CELL_FIELDS}
    extra = {key: value for key, value in raw.items() if key not in _CELL_FIELDS | {"ops"}}
    ops = [
        OpRecord(**{key: value for key, value in op.items() if key in _OP_FIELDS})
        for op in raw.get("ops", [])
    ]
    return CellResult(**known, ops=ops, extra=extra)


def run_metadata(**extra: Any) -> dict[str, Any]:
    """Commit, machine and start time, plus the caller's fields."""
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain")),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "libraries": library_versions(),
        **extra,
    }


CLIENT_LIBRARIES = ("boto3", "botocore", "obstore", "aioboto3", "s3fs", "moto")
"""The client libraries (and the server) whose versions a run records: ``auto`` reads with
obstore where it is installed, boto3 otherwise."""


def library_versions() -> dict[str, str | None]:
    """Each of :data:`CLIENT_LIBRARIES` with its installed version (``None``: not installed)."""
    found: dict[str, str | None] = {}
    for name in CLIENT_LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()
