"""A small synthetic run (results.json) for report and compare tests: made-up timings, real schema."""

from __future__ import annotations

from pathlib import Path

from bench.results import CellResult, OpRecord, RunResults, run_metadata

SCENARIOS = ("peek", "head-50k")
# (context, profile, seconds per op); s3fs-readahead is the peer, volume reads local disk.
CONTEXTS = (
    ("memory", "seed", 0.0001),
    ("s3-sequential", "seed", 1.0),
    ("s3-threaded", "seed", 0.2),
    ("s3-byte-range", "seed", 0.1),
    ("s3fs-readahead", "seed", 0.3),
    ("volume", "local-disk", 0.01),
)


def synthetic_cell(
    context: str, scenario: str, profile: str, lines: int, per_op: float, ops: int = 3
) -> CellResult:
    records = [
        OpRecord("read", per_op * (1 + i / 10), True, 100 * (10**i), 1000 * (10**i))
        for i in range(ops)
    ]
    total = sum(op.latency_s for op in records) + 0.05
    return CellResult(
        context,
        scenario,
        "v1",
        profile,
        lines,
        open_s=0.05,
        open_requests=1,
        total_s=total,
        stall_s=total,
        requests=10 * ops,
        bytes=2 * sum(op.bytes for op in records),
        bytes_returned=sum(op.bytes for op in records),
        lower_bound_s=0.15,
        ratio=total / 0.15,
        physical_limit_s=0.12,
        physical_ratio=total / 0.12,
        ops=records,
    )


def write_run(
    folder: Path,
    *,
    slow: dict[str, float] | None = None,
    failed: tuple[str, str] | None = None,
    sizes: tuple[int, ...] = (1_000, 10_000),
    target: str = "moto",
) -> Path:
    """A run of CONTEXTS x SCENARIOS x sizes on ``target``; ``slow`` multiplies a context's
    times, ``failed`` = (context, scenario) gets a wrong answer."""
    results = RunResults(
        run_metadata(
            target=target,
            network=f"simulated (synthetic {target})",
            seed=0,
            think_scale=0.01,
            segment_lines=1000,
            profiles={},
            ceiling_bytes_per_s=9e8,
            ceiling={"bytes_per_s": 9e8, "method": "synthetic", "error": None},
            corpora=[{"lines": n, "bytes": 106 * n} for n in sizes],
            interrupted=False,
        )
    )
    for lines in sizes:
        for scenario in SCENARIOS:
            for context, profile, per_op in CONTEXTS:
                factor = (slow or {}).get(context, 1.0) * (1 + lines / 100_000)
                cell = synthetic_cell(context, scenario, profile, lines, per_op * factor)
                if (context, scenario) == failed:
                    cell.status, cell.correct = "failed", False
                    cell.error = "wrong answer at op #1 (Read(start=0, stop=100))"
                results.cells.append(cell)
    results.meta["finished_at"] = results.meta["started_at"]
    results.write(folder / "results.json")
    return folder
