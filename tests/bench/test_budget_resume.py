"""Cell budgets (a truncated cell says so and never wins) and resuming a killed run.

Nothing here asserts how fast anything is: budgets are checked by what they cut (ops counted,
the timed sections that reached the limit), resume by which cells the file holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from bench.bench_command import DEFAULT_BUDGET, QUICK_BUDGET, budget_from_args
from bench.cli import build_parser, main
from bench.compare import Pair
from bench.lower_bound import LineBytes, lower_bound
from bench.network import load_profile
from bench.report.build import build_report
from bench.report.data import RunData, ok, verdict
from bench.report.winners import candidates, overall
from bench.results import load_results
from bench.runner import BenchConfig, CellBudget, run_bench
from scenarios import Trace, get_scenario
from scenarios.corpus import generate_corpus
from tests.bench.synthetic import write_run

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, **options: object) -> BenchConfig:
    base = BenchConfig(
        contexts=("memory",),
        scenarios=("line-by-line",),
        profiles=("none",),
        lines=(3_000,),
        out=tmp_path,
        think_scale=0.0,
    )
    return replace(base, **options)  # type: ignore[arg-type]


def test_budget_values_are_checked() -> None:
    with pytest.raises(ValueError, match="max_ops"):
        CellBudget(max_ops=0)
    with pytest.raises(ValueError, match="max_seconds"):
        CellBudget(max_seconds=-1)
    budget = CellBudget(max_ops=3, max_seconds=2.0)
    assert budget.exceeded(2, 1.9) is None
    assert "3 ops" in (budget.exceeded(3, 0.0) or "")
    assert "2 s" in (budget.exceeded(0, 2.0) or "")
    assert CellBudget.from_dict(budget.to_dict()) == budget


@pytest.mark.timeout(120)
def test_an_op_budget_truncates_the_cell_and_its_bound(tmp_path: Path) -> None:
    config = _config(
        tmp_path, contexts=("s3-sequential",), profiles=("seed",), budget=CellBudget(max_ops=5)
    )
    (cell,) = run_bench(config).cells
    assert cell.truncated and cell.status == "ok" and cell.correct
    assert len(cell.ops) == 5
    assert cell.truncation is not None and "5 ops" in cell.truncation
    assert "after 5 of 2,001 trace ops" in cell.truncation
    # The bound is that of the 5 ops that ran (len + 4 single lines: 5 x 150 ms), not of the
    # whole trace (2,001 x 150 ms).
    trace = get_scenario("line-by-line").trace(3_000)
    corpus = LineBytes.of_text(generate_corpus(3_000, seed=0))
    seed = load_profile("seed")
    prefix = lower_bound(Trace(trace.name, trace.ops[:5]), seed, corpus).total_s
    assert prefix == pytest.approx(5 * 0.150)
    assert cell.lower_bound_s == pytest.approx(prefix)
    assert lower_bound(trace, seed, corpus).total_s > 100 * prefix
    stored = load_results(tmp_path / "results.json")
    assert stored.cells[0].truncated and stored.meta["budget"] == {
        "max_ops": 5,
        "max_seconds": None,
    }


@pytest.mark.timeout(120)
def test_a_seconds_budget_stops_once_the_timed_sections_reach_it(tmp_path: Path) -> None:
    # linear-scan thinks 2 s x 0.05 = 0.1 s between chunks: a 0.25 s budget stops it early.
    config = _config(
        tmp_path,
        scenarios=("linear-scan",),
        lines=(30_000,),
        think_scale=0.05,
        budget=CellBudget(max_seconds=0.25),
    )
    (cell,) = run_bench(config).cells
    full = get_scenario("linear-scan").trace(30_000)
    assert cell.truncated and "0.25 s" in (cell.truncation or "")
    assert cell.open_s + sum(op.latency_s for op in cell.ops) + cell.think_s >= 0.25
    assert len(cell.ops) < sum(1 for op in full.ops if type(op).__name__ != "Think")


@pytest.mark.timeout(120)
def test_a_seconds_budget_abandons_a_long_op_and_sends_no_more_requests(tmp_path: Path) -> None:
    """head-50k on s3-sequential at seed is one op of 50 GETs at 150 ms each (at least 7.5 s);
    a 5 s budget (the open takes part of it: seconds on a very busy machine)
    closes the context under it, so the op ends at its next request: fewer requests than a
    whole head needs (counted)."""
    config = _config(
        tmp_path,
        contexts=("s3-sequential",),
        scenarios=("head-50k",),
        profiles=("seed",),
        lines=(60_000,),
        budget=CellBudget(max_seconds=5.0),
    )
    (cell,) = run_bench(config).cells
    assert cell.truncated and cell.status == "ok" and cell.errors == 0
    assert "during op #0" in (cell.truncation or "") and "abandoned" in (cell.truncation or "")
    assert cell.ops == []  # the abandoned op is not reported as an answer
    assert cell.requests < 1 + 50
    # ... but the time it took is the RLM's wait too
    assert cell.abandoned_s > 0
    assert cell.total_s == pytest.approx(cell.open_s + cell.abandoned_s + cell.think_s)


def test_a_cell_without_budget_runs_its_whole_trace(tmp_path: Path) -> None:
    (cell,) = run_bench(_config(tmp_path, lines=(300,))).cells
    assert not cell.truncated and cell.truncation is None and len(cell.ops) == 301


def test_quick_and_default_runs_bound_every_cell() -> None:
    parser = build_parser()
    quick = parser.parse_args(["bench", "--quick"])
    assert budget_from_args(quick) == QUICK_BUDGET
    assert QUICK_BUDGET.max_ops and QUICK_BUDGET.max_seconds
    assert budget_from_args(parser.parse_args(["bench"])) == DEFAULT_BUDGET
    lifted = parser.parse_args(["bench", "--quick", "--cell-seconds", "0", "--cell-ops", "7"])
    assert budget_from_args(lifted) == CellBudget(max_ops=7, max_seconds=None)


def test_a_truncated_cell_never_wins_nor_compares_with_a_full_one(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    raw = json.loads((run / "results.json").read_text())
    # The fastest S3 context (byte-range) stopped early in every cell: it must not win.
    for cell in raw["cells"]:
        if cell["context"] in ("s3-byte-range", "s3-sequential"):
            cell["truncated"], cell["truncation"] = True, "stopped after 1 of 3 trace ops"
    (run / "results.json").write_text(json.dumps(raw))
    data = RunData(run)
    truncated = [c for c in data.cells if c.context == "s3-byte-range"]
    assert truncated and all(verdict(c) == "TRUNCATED" and not ok(c) for c in truncated)
    for group in data.groups():
        for scenario in data.scenarios:
            ranked = candidates(data.cells_in(group, scenario))
            assert ranked and all(c.context != "s3-byte-range" for c in ranked)
        assert "s3-byte-range" not in dict(overall(data, group))
    full = next(c for c in load_results(tmp_path / "run" / "results.json").cells if c.ops)
    cut = replace(full, truncated=True, ops=full.ops[:1])
    assert not Pair(("k",), full, cut).comparable  # type: ignore[arg-type]
    assert Pair(("k",), cut, cut).comparable  # type: ignore[arg-type]
    report = build_report(run).markdown.read_text()
    assert "truncated" in report and "TRUNCATED" in report
    # the cut baseline's time is a floor, and so are the speed-ups over it
    assert "`s3-sequential` ≥ " in report and "(truncated) | ≥ " in report


# -- a killed run, resumed -------------------------------------------------------------------


def _cells_in(path: Path) -> int:
    try:
        return len(json.loads(path.read_text())["cells"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.timeout(300)
def test_a_killed_run_keeps_its_cells_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # memory's peek finishes in milliseconds; s3-sequential's head of 20 segments at 150 ms each
    # takes seconds, so the run is still going when its first cell lands.
    command = [
        sys.executable,
        "-m",
        "bench.cli",
        "bench",
        "--contexts",
        "memory,s3-sequential",
        "--scenarios",
        "peek,head-50k",
        "--lines",
        "20000",
        "--out",
        str(out),
        "--no-report",
    ]
    child = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 240
        while _cells_in(out / "results.json") < 1 and child.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail("the bench wrote no cell")
            time.sleep(0.02)
        assert child.poll() is None, "the run ended before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    killed = load_results(out / "results.json")
    kept = len(killed.cells)
    assert 1 <= kept < killed.meta["planned_cells"] == 4
    assert "finished_at" not in killed.meta and not killed.meta["interrupted"]
    partial = build_report(out).markdown.read_text()
    assert f"partial run ({kept} of 4 cells)" in partial and "--resume" in partial

    with pytest.raises(SystemExit, match="drop --contexts"):
        main(["bench", "--resume", str(out), "--contexts", "memory"])
    assert main(["bench", "--resume", str(out), "--no-report"]) == 0
    resumed = load_results(out / "results.json")
    keys = [(c.context, c.scenario, c.profile, c.lines) for c in resumed.cells]
    assert len(keys) == len(set(keys)) == 4
    assert resumed.cells[:kept] == killed.cells  # finished cells are kept as they were
    assert resumed.meta["started_at"] == killed.meta["started_at"]
    assert len(resumed.meta["resumed_at"]) == 1 and "finished_at" in resumed.meta
    assert all(cell.status == "ok" and cell.correct for cell in resumed.cells)
    assert "partial run" not in build_report(out).markdown.read_text()


def test_resume_refuses_what_it_cannot_continue(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="nothing to resume"):
        main(["bench", "--resume", str(tmp_path)])
    old = write_run(tmp_path / "old")  # written without a recorded matrix
    with pytest.raises(SystemExit, match="does not record its matrix"):
        main(["bench", "--resume", str(old)])
