"""``ctxlab replay`` end to end against the embedded server (a canned, a generated and a
recorded trace), its defaults from the traces (size, think scale), the size check before any
work, and ``--scenarios all``."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest

from bench import replay_command
from bench.bench_command import config_from_args, unfit_recordings
from bench.cli import build_parser, main
from bench.results import load_results
from bench.runner import BenchConfig, run_bench
from contexts.policies.recording import Event
from scenarios import (
    RECORDED,
    SCENARIOS,
    Batch,
    FileScenario,
    Index,
    Len,
    Read,
    Trace,
    get_scenario,
    trace_from_events,
)
from scenarios.library import TRACES_DIR
from scenarios.trace import TraceSizeError


def _recorded_trace(path: Path, *, think_scale: float = 0.01) -> Trace:
    """A recording made on a 300-line context, with ops that reached past its end, synthetic
    timestamps (a 5 ms observed gap: 500 ms nominal at x0.01) and no sleeping."""
    ms = 1_000_000
    ops = [Len(), Read(0, 10**9), Read(-1000, None), Index(10**6), Read(290, 310), Index(-1)]
    events = [Event(op, 10 * ms * n, 10 * ms * n + 5 * ms, 1) for n, op in enumerate(ops)]
    trace = trace_from_events("rec", events, think_scale=think_scale, lines=300, byte_count=12_345)
    trace.save(path)
    return trace


@pytest.mark.timeout(180)
def test_replay_canned_generated_and_recorded_traces_end_to_end(tmp_path: Path) -> None:
    canned = TRACES_DIR / "peek.jsonl"  # made for 100k lines; its ops fit 2,000 (len, ends)
    generated = tmp_path / "mixed-2000.jsonl"
    SCENARIOS["mixed-session"].trace(2000).save(generated)
    recorded = tmp_path / "rec.jsonl"
    _recorded_trace(recorded)  # made on 300 lines: past its end everywhere, fine on 2,000
    files = [canned, generated, recorded]
    args = ["replay", *map(str, files), "--contexts", "memory,s3-sequential"]
    args += ["--profile", "none", "--lines", "2000", "--out", str(tmp_path / "out"), "--no-report"]
    assert main(args) == 0
    results = load_results(tmp_path / "out" / "results.json")
    assert results.meta["think_scale"] == 0.01  # the recording's, with no --think-scale
    assert {(cell.context, cell.scenario) for cell in results.cells} == {
        (name, str(path)) for name in ("memory", "s3-sequential") for path in files
    }
    for cell in results.cells:
        assert cell.status == "ok" and cell.correct, cell.error
        assert cell.scenario_version == Trace.load(Path(cell.scenario)).version
        assert cell.lines == 2000
    ops = {cell.scenario: len(cell.ops) for cell in results.cells}
    assert ops[str(canned)] == 3 and ops[str(generated)] > 20 and ops[str(recorded)] == 6


def test_replay_past_the_end_of_a_smaller_corpus_fails_naming_both_sizes(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    _recorded_trace(path)
    out = tmp_path / "out"
    args = ["replay", str(path), "--lines", "20", "--contexts", "memory", "--profile", "none"]
    with pytest.raises(SystemExit) as caught:
        main([*args, "--think-scale", "0", "--out", str(out)])
    message = str(caught.value)
    assert message.startswith(f"ctxlab replay: trace '{path}' reaches past the end of a corpus")
    assert "corpus of 20 lines: op #2 ctx[0:1000000000] (and 3 more)" in message
    assert "made for a corpus of 300 lines, 12,345 bytes" in message
    assert message.endswith("--lines 300")
    assert not out.exists()  # failed before any work


def _resolved(*argv: str) -> argparse.Namespace:
    args = build_parser().parse_args(["replay", *argv])
    replay_command.resolve(args)
    return args


def test_replay_defaults_to_the_traces_size_and_think_scale(tmp_path: Path) -> None:
    rec, fast, real = tmp_path / "rec.jsonl", tmp_path / "fast.jsonl", tmp_path / "real.jsonl"
    _recorded_trace(rec)
    _recorded_trace(fast)
    _recorded_trace(real, think_scale=1.0)
    args = _resolved(str(rec))
    assert (args.lines, args.think_scale, args.scenarios) == ((300,), 0.01, (str(rec),))
    assert _resolved(str(rec), str(fast)).think_scale == 0.01  # agree
    assert _resolved(str(rec), "--think-scale", "0").think_scale == 0.0  # told otherwise
    assert _resolved(str(rec), "--lines", "300,5000").lines == (300, 5000)
    with pytest.raises(SystemExit, match=r"different think scales.*x0\.01.*x1\b.*--think-scale"):
        _resolved(str(rec), str(real))
    assert _resolved(str(rec), str(real), "--think-scale", "1").think_scale == 1.0
    # Generator traces say no think scale: the bench's default stays (None here).
    peek, zoom = TRACES_DIR / "peek.jsonl", TRACES_DIR / "zoom.jsonl"
    assert _resolved(str(peek)).think_scale is None
    # Several sizes: those every trace fits (so at least the largest); rec fits any >= 300,
    # peek fits 300, zoom (100k) fits only its own size.
    assert _resolved(str(rec), str(peek)).lines == (300, 100_000)
    assert _resolved(str(rec), str(zoom)).lines == (100_000,)
    with pytest.raises(SystemExit, match=r"corpus of 300 lines.*--lines 100000"):
        _resolved(str(rec), str(zoom), "--lines", "300")


def test_replay_rejects_what_is_not_a_trace(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.jsonl"
    bogus.write_text('{"op": "len"}\n')
    with pytest.raises(SystemExit, match="not a valid trace"):
        main(["replay", str(bogus)])
    with pytest.raises(SystemExit, match=r"not a \.jsonl trace file"):
        main(["replay", str(tmp_path / "missing.jsonl")])


def test_scenarios_all_expands_to_every_generator_and_recording() -> None:
    args = build_parser().parse_args(["bench", "--scenarios", "peek,all"])
    assert config_from_args(args).scenarios == (*SCENARIOS, *RECORDED)
    default = config_from_args(build_parser().parse_args(["bench"]))
    # make bench: whole RLM sessions (scripted, rlms batching, recorded)
    assert default.scenarios == ("mixed-session", "chunk-then-batch", "rlms-session")


def test_all_and_the_defaults_leave_out_recordings_larger_than_every_size() -> None:
    parser = build_parser()
    quick_all = config_from_args(parser.parse_args(["bench", "--quick", "--scenarios", "all"]))
    assert quick_all.scenarios == tuple(SCENARIOS)  # both recordings were made at 100,000
    assert unfit_recordings(quick_all) == [
        "rlms-session (recorded at 100,000 lines)",
        "dspy-session (recorded at 100,000 lines)",
    ]
    quick = config_from_args(parser.parse_args(["bench", "--quick"]))
    assert quick.scenarios == ("mixed-session", "chunk-then-batch")
    full = config_from_args(parser.parse_args(["bench", "--scenarios", "all"]))
    assert full.scenarios == (*SCENARIOS, *RECORDED) and unfit_recordings(full) == []
    # named on purpose, it stays, and the run refuses it before any work
    named = ["bench", "--quick", "--scenarios", "rlms-session"]
    assert config_from_args(parser.parse_args(named)).scenarios == ("rlms-session",)
    with pytest.raises(SystemExit, match="reaches past the end of a corpus of 20,000 lines"):
        main([*named, "--contexts", "memory", "--no-report"])


def test_a_recorded_loop_runs_by_name_at_the_size_it_was_made_for() -> None:
    scenario = get_scenario("rlms-session")
    assert isinstance(scenario, FileScenario) and scenario.name == "rlms-session"
    trace = scenario.trace(100_000)
    assert trace.corpus_lines == 100_000 and trace.think_scale == 1.0
    assert not any(isinstance(op, Batch) for op in trace.ops)  # rlms reads in its REPL thread
    assert scenario.trace(1_000_000).ops == trace.ops  # a larger corpus: the same reads
    with pytest.raises(TraceSizeError, match="100,000 lines"):
        scenario.trace(20_000)


@pytest.mark.timeout(120)
def test_a_recording_is_skipped_where_it_does_not_fit_and_run_where_it_does(
    tmp_path: Path,
) -> None:
    recorded = tmp_path / "rec.jsonl"
    _recorded_trace(recorded)  # made on 300 lines, Read(290, 310) reaches line 310
    config = BenchConfig(
        contexts=("memory",),
        scenarios=("peek", str(recorded)),
        profiles=("none",),
        lines=(100, 300),
        out=tmp_path / "run",
        think_scale=0.0,
    )
    cells = {(c.scenario, c.lines): c for c in run_bench(config).cells}
    skipped = cells[str(recorded), 100]
    assert skipped.status == "skipped" and "300 lines" in (skipped.error or "")
    assert not skipped.ops
    ran = cells[str(recorded), 300]
    assert ran.status == "ok" and ran.correct and len(ran.ops) == 6
    assert all(cells["peek", n].status == "ok" for n in (100, 300))
    with pytest.raises(TraceSizeError):  # fits no size of the run: refused before any work
        run_bench(replace(config, lines=(100,), out=tmp_path / "none"))
    assert not (tmp_path / "none" / "results.json").exists()
