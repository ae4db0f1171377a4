"""``ctxlab replay`` on a canned trace end to end against the embedded server, and
``--scenarios all``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.bench_command import config_from_args
from bench.cli import build_parser, main
from bench.results import load_results
from scenarios import SCENARIOS, Trace
from scenarios.canned import TRACES_DIR


@pytest.mark.timeout(180)
def test_replay_a_canned_trace_end_to_end(tmp_path: Path) -> None:
    trace_file = TRACES_DIR / "mixed-session.jsonl"
    args = ["replay", str(trace_file), "--contexts", "memory,s3-sequential"]
    args += ["--profile", "none", "--lines", "2000", "--think-scale", "0", "--out", str(tmp_path)]
    assert main(args) == 0
    results = load_results(tmp_path / "results.json")
    version = Trace.load(trace_file).version
    assert {cell.context for cell in results.cells} == {"memory", "s3-sequential"}
    for cell in results.cells:
        assert cell.status == "ok" and cell.correct, cell.error
        assert cell.scenario == str(trace_file) and cell.scenario_version == version
        assert cell.lines == 2000 and len(cell.ops) > 20


def test_replay_rejects_what_is_not_a_trace(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.jsonl"
    bogus.write_text('{"op": "len"}\n')
    with pytest.raises(SystemExit, match="not a valid trace"):
        main(["replay", str(bogus)])
    with pytest.raises(SystemExit, match=r"not a \.jsonl trace file"):
        main(["replay", str(tmp_path / "missing.jsonl")])


def test_scenarios_all_expands_to_every_generator() -> None:
    args = build_parser().parse_args(["bench", "--scenarios", "peek,all"])
    assert config_from_args(args).scenarios == tuple(SCENARIOS)
    default = config_from_args(build_parser().parse_args(["bench"]))
    assert default.scenarios == ("peek", "head-50k", "linear-scan")  # make bench stays ~10 min
