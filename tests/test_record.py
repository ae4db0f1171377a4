"""RecordingContext: calls pass through and are logged; think gaps and concurrent batches are
recovered; a recording replays through the bench runner with the same ops and the same answers."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import contexts
from bench.cli import main
from bench.oracle import LineListOracle
from bench.results import CellResult
from bench.runner import apply_op, replay
from contexts import Context, InMemoryContext
from contexts.policies.cache import CachedContext
from contexts.policies.recording import Event, RecordingContext, known_byte_count
from scenarios import (
    Batch,
    FileScenario,
    Grep,
    Index,
    Iter,
    Len,
    Op,
    Read,
    Text,
    Think,
    Trace,
    get_scenario,
    trace_from_events,
)
from scenarios.trace import TraceSizeError, check_fits, op_reach


def storage_ops(trace: Trace) -> tuple[Op, ...]:
    """A live recording's ops without its think ops: a gap becomes a think op once it passes
    ``min_think_ms`` of wall time, which a busy machine decides, not the code under test."""
    return tuple(op for op in trace.ops if not isinstance(op, Think))


TEXT = "".join(f"line {i} {'ERROR' if i % 7 == 0 else 'ok'}\n" for i in range(300)) + "tail"


class MeetingContext(InMemoryContext):
    """Reads of ``parties`` threads wait for each other, so they certainly overlap in time."""

    def __init__(self, text: str, parties: int) -> None:
        super().__init__(text)
        self.barrier = threading.Barrier(parties, timeout=10)
        self.meet = False

    def _read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[str]:
        if self.meet:
            self.barrier.wait()
        return super()._read_ranges(ranges)


def test_recorded_from_contexts_and_scenarios_is_one_class() -> None:
    import scenarios

    assert contexts.RecordingContext is scenarios.RecordingContext is RecordingContext


def test_events_become_think_and_batch_ops() -> None:
    ms = 1_000_000
    events = [
        Event(Len(), 0, 1 * ms // 10, 1),
        Event(Read(0, 5), 50 * ms, 51 * ms, 1),  # 49.9 ms gap: think
        Event(Read(5, 10), 60 * ms, 70 * ms, 2),  # overlaps the next two: one batch
        Event(Index(-1), 61 * ms, 65 * ms, 3),
        Event(Read(20, 30), 64 * ms, 72 * ms, 4),
        Event(Read(30, 31), 72 * ms, 73 * ms, 1),  # no gap, no overlap
    ]
    trace = trace_from_events("t", reversed(events))
    assert trace.ops == (
        Len(),
        Think(49.9),
        Read(0, 5),
        Think(9.0),
        Batch((Read(5, 10), Read(-1, None), Read(20, 30))),
        Read(30, 31),
    )
    assert trace.params == {
        "recorded": True,
        "events": 6,
        "lines": None,
        "bytes": None,
        "think_scale": 1.0,
    }


def test_think_ops_are_nominal_gaps_divided_by_the_think_scale() -> None:
    ms = 1_000_000
    events = [
        Event(Len(), 0, 1 * ms, 1),
        Event(Read(0, 5), 21 * ms, 22 * ms, 1),  # 20 ms observed: a "2 s" call at x0.01
        Event(Read(5, 9), 22 * ms + ms // 2, 23 * ms, 1),  # 0.5 ms observed: REPL overhead
        Event(Index(3), 23 * ms + 1234 * ms // 1000, 24 * ms, 1),  # 1.234 ms observed
    ]
    trace = trace_from_events("t", events, think_scale=0.01, lines=40, byte_count=400)
    assert trace.ops == (Len(), Think(2000.0), Read(0, 5), Read(5, 9), Think(123.4), Index(3))
    assert trace.params["think_scale"] == trace.think_scale == 0.01
    assert (trace.corpus_lines, trace.corpus_bytes) == (40, 400)
    # Replayed at the recorded scale, the pauses are the observed gaps again.
    assert [op.ms * 0.01 for op in trace.ops if isinstance(op, Think)] == pytest.approx(
        [20.0, 1.234]
    )
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="think_scale"):
            trace_from_events("t", events, think_scale=bad)
        with pytest.raises(ValueError, match="think_scale"):
            RecordingContext(InMemoryContext(TEXT), think_scale=bad)


def test_a_recording_carries_the_corpus_size_and_think_scale(tmp_path: Path) -> None:
    text = "".join(f"ligne {i} é\n" for i in range(40)) + "fin ∎"  # non-ASCII: bytes != chars
    path = tmp_path / "sized.jsonl"
    with RecordingContext(InMemoryContext(text), path, think_scale=0.01) as ctx:
        ctx[0:3]
        assert (ctx.lines, ctx.byte_count) == (41, len(text.encode("utf-8")))
    trace = Trace.load(path)
    assert trace.params == {
        "recorded": True,
        "events": 1,
        "lines": 41,
        "bytes": len(text.encode("utf-8")),
        "think_scale": 0.01,
    }
    utf8 = 10 * 11 + 30 * 12 + 4 + 3  # "ligne 7 é\n" is 11 bytes, "ligne 17 é\n" 12, "∎" 3
    assert (trace.corpus_lines, trace.corpus_bytes, trace.think_scale) == (41, utf8, 0.01)
    header = json.loads((tmp_path / "sized.events.jsonl").read_text().splitlines()[0])
    assert header["lines"] == 41 and header["bytes"] == trace.corpus_bytes
    assert header["think_scale"] == 0.01


@pytest.mark.parametrize("layout", ["segments", "single"])
def test_stored_contexts_report_their_size_from_metadata(tmp_path: Path, layout: str) -> None:
    text = "".join(f"Zeile {i} ü\n" for i in range(250))
    url = str(tmp_path / layout)
    contexts.write_layout(text, url, layout, lines_per_segment=100)
    stored = contexts.open_context("volume", url)
    opened = stored.stats
    with RecordingContext(CachedContext(stored)) as ctx:  # through a cache: the inner's size
        assert known_byte_count(ctx) == ctx.byte_count == len(text.encode("utf-8"))
        assert ctx.trace().params["lines"] == 250
        assert stored.stats == opened  # from what opening read: no request for the text


def test_a_context_that_cannot_tell_its_size_records_null_bytes() -> None:
    class Opaque(Context):
        def _line_count(self) -> int:
            return 2

        def _read_ranges(self, ranges: Sequence[tuple[int, int]]) -> list[str]:
            return ["x\n" * (stop - start) for start, stop in ranges]

    with RecordingContext(Opaque()) as ctx:
        ctx[0:1]
        params = ctx.trace().params
    assert params["lines"] == 2 and params["bytes"] is None


def test_old_recordings_without_size_or_scale_still_load(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    header = {"trace": "recorded", "version": "0", "params": {"recorded": True, "events": 3}}
    ops = [{"op": "len"}, {"op": "think", "ms": 12.5}, {"op": "read", "start": 50, "stop": 60}]
    path.write_text("\n".join(json.dumps(row) for row in [header, *ops]) + "\n")
    trace = Trace.load(path)
    assert trace.ops == (Len(), Think(12.5), Read(50, 60))
    assert (trace.corpus_lines, trace.corpus_bytes, trace.think_scale) == (None, None, None)
    scenario = get_scenario(str(path))
    assert scenario.trace(60).ops == trace.ops  # fits: nothing past the end
    with pytest.raises(TraceSizeError, match=r"does not say.*--lines 60"):
        scenario.trace(59)  # no recorded size: any op past the end is an error


def test_grep_flags_are_kept_inline(tmp_path: Path) -> None:
    with RecordingContext(InMemoryContext(TEXT)) as ctx:
        hits = ctx.grep("error", re.IGNORECASE)
        compiled = ctx.grep(re.compile("^LINE 1", re.I | re.M))
        ops = storage_ops(ctx.trace())
    assert ops == (Grep("(?i)error"), Grep("(?im)^LINE 1"))
    oracle = LineListOracle(TEXT)
    assert [tuple(hit) for hit in hits] == oracle.grep("(?i)error")
    assert [tuple(hit) for hit in compiled] == oracle.grep("(?im)^LINE 1")


def test_record_then_replay_round_trips(tmp_path: Path) -> None:
    inner = MeetingContext(TEXT, parties=3)
    path = tmp_path / "run.jsonl"
    ctx = RecordingContext(inner, path, trace_name="round-trip")
    answers: list[Any] = [len(ctx), ctx[0:100], ctx[-5:], ctx[7]]
    with pytest.raises(IndexError):
        ctx[10_000]
    answers.append(IndexError)
    time.sleep(0.05)  # the model thinks
    inner.meet = True
    with ThreadPoolExecutor(3) as pool:  # llm_query_batched-style concurrent reads
        answers.append(
            list(pool.map(lambda r: ctx[r[0] : r[1]], [(0, 50), (50, 120), (200, None)]))
        )
    inner.meet = False
    answers += [
        [tuple(hit) for hit in ctx.grep("ERROR")],
        ctx.text(),
        ctx.read_many([(1, 3), (None, 2)]),
        ctx.read(5, 9),
    ]
    lines = 0
    for _line in ctx:
        lines += 1
    ctx.close()
    assert inner.closed and lines == 301

    trace = Trace.load(path)
    kinds = [type(op) for op in trace.ops if not isinstance(op, Think)]
    assert kinds == [Len, Read, Read, Index, Index, Batch, Grep, Text, Batch, Read, Iter]
    assert any(isinstance(op, Think) and op.ms >= 50 for op in trace.ops)
    (batch,) = [op for op in trace.ops if isinstance(op, Batch) and len(op.reads) == 3]
    assert sorted(batch.reads, key=lambda r: r.start or 0) == [
        Read(0, 50),
        Read(50, 120),
        Read(200, None),
    ]
    events = (tmp_path / "run.events.jsonl").read_text().splitlines()
    assert json.loads(events[0])["events"] == "round-trip" and len(events) == 1 + 13

    # Same answers from the replayed ops (the batch's reads answered in recorded order) ...
    fresh = InMemoryContext(TEXT)
    with ThreadPoolExecutor(4) as pool:
        replayed = [apply_op(fresh, op, pool) for op in trace.ops if not isinstance(op, Think)]
    replayed[5] = [
        replayed[5][batch.reads.index(Read(*r))] for r in [(0, 50), (50, 120), (200, None)]
    ]
    assert replayed[:-1] == answers  # the last op is the iteration (a digest)
    # ... and every op checks out against the oracle in the bench runner.
    cell = CellResult("memory", str(path), trace.version, "none", 301)
    replay(cell, InMemoryContext(TEXT), LineListOracle(TEXT), trace, think_scale=0.0)
    assert cell.correct and len(cell.ops) == len(kinds)


def test_partial_iteration_is_recorded_as_a_read() -> None:
    with RecordingContext(InMemoryContext(TEXT)) as ctx:
        for number, _line in enumerate(ctx):
            if number == 9:
                break
        ops = storage_ops(ctx.trace())
    assert ops == (Read(0, 10),)


def test_record_cli_runs_a_script_with_context_wrapped(tmp_path: Path) -> None:
    script = tmp_path / "rlm.py"
    script.write_text("print(len(context)); print(context[0:2], end='')\n")
    (tmp_path / "ctx.txt").write_text(TEXT)
    out = tmp_path / "rec.jsonl"
    args = ["record", "--text", str(tmp_path / "ctx.txt"), "--out", str(out), str(script)]
    assert main(args) == 0
    trace = Trace.load(out)
    assert storage_ops(trace) == (Len(), Read(0, 2))
    assert (trace.corpus_lines, trace.corpus_bytes, trace.think_scale) == (301, len(TEXT), 1.0)
    assert main([*args[:-1], "--think-scale", "0.01", str(script)]) == 0
    assert Trace.load(out).think_scale == 0.01
    with pytest.raises(SystemExit):
        main([*args[:-1], "--think-scale", "0", str(script)])


def test_record_cli_without_script_prints_how_to(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record"]) == 0
    assert "RecordingContext(inner" in capsys.readouterr().out


def _fixed(ops: tuple[Op, ...], lines: int | None, byte_count: int | None = None) -> Trace:
    params: dict[str, Any] = {"recorded": True, "lines": lines, "bytes": byte_count}
    return Trace("t", ops, params)


@pytest.mark.parametrize(
    ("op", "reach"),
    [
        (Len(), 0),
        (Grep("x"), 0),
        (Text(), 0),
        (Iter(), 0),
        (Think(5.0), 0),
        (Read(None, None), 0),
        (Read(0, 100), 100),
        (Read(5, None), 5),  # ctx[5:] on 5 lines is "" without clamping
        (Read(-100, None), 100),  # the last 100 lines
        (Read(None, -3), 3),
        (Read(-150, -140), 150),
        (Read(20, -10), 20),
        (Index(0), 1),
        (Index(99), 100),
        (Index(-1), 1),
        (Index(-100), 100),
        (Batch((Read(0, 10), Read(-40, None), Read(90, 120))), 120),
    ],
)
def test_op_reach_is_the_fewest_lines_without_clamping(op: Op, reach: int) -> None:
    assert op_reach(op) == reach
    for lines in (reach, reach + 1):  # on that many lines Python clamps nothing
        for start, stop in [(r.start, r.stop) for r in _reads(op)]:
            assert slice(start, stop).indices(lines)[:2] == _unclamped(start, stop, lines)
        if isinstance(op, Index):
            list(range(lines))[op.i]  # no IndexError
    if reach:
        with pytest.raises(TraceSizeError):
            check_fits(_fixed((op,), None), reach - 1)


def _reads(op: Op) -> tuple[Read, ...]:
    return op.reads if isinstance(op, Batch) else (op,) if isinstance(op, Read) else ()


def _unclamped(start: int | None, stop: int | None, lines: int) -> tuple[int, int]:
    def at(value: int | None, default: int) -> int:
        return default if value is None else value + lines if value < 0 else value

    return at(start, 0), at(stop, lines)


@pytest.mark.parametrize(
    ("op", "recorded", "corpus", "fits"),
    [
        # Past the end of a corpus at least the recorded size: past it when recorded too.
        (Read(0, 10**9), 100, 100, True),
        (Read(0, 10**9), 100, 150, True),
        (Index(10**6), 100, 100, True),  # an IndexError then and now
        (Read(-150, None), 100, 120, True),  # clamped to the start then and now
        # Past the end of a smaller corpus: the replay would read less than the recording.
        (Read(0, 10**9), 100, 50, False),
        (Read(60, 80), 100, 70, False),
        (Index(99), 100, 99, False),
        (Index(10**6), 100, 99, False),
        (Read(-100, None), 100, 80, False),  # would clamp its start: fewer than 100 lines
        (Read(-150, None), 100, 99, False),
        # Inside a smaller corpus: replayed as written (negative bounds count from its end).
        (Read(0, 50), 100, 50, True),
        (Read(-100, None), 1000, 100, True),
        (Index(-1), 100, 1, True),
        (Batch((Read(0, 10), Read(-20, -10))), 100, 20, True),
        # Without a recorded size any op past the end is an error, else it fits.
        (Read(0, 10**9), None, 10**6, False),
        (Read(0, 30), None, 30, True),
    ],
)
def test_check_fits(op: Op, recorded: int | None, corpus: int, fits: bool) -> None:
    trace = _fixed((Len(), op), recorded)
    if fits:
        check_fits(trace, corpus)
    else:
        with pytest.raises(TraceSizeError, match=rf"corpus of {corpus:,} lines: op #1 "):
            check_fits(trace, corpus)


def test_the_size_error_names_both_sizes_and_the_fix() -> None:
    ops = (Len(), Read(0, 10), Batch((Read(0, 10), Read(60_000, 61_000))), Index(99_999))
    trace = _fixed(ops, 100_000, 5_432_100)
    with pytest.raises(TraceSizeError) as caught:
        check_fits(trace, 20_000)
    assert str(caught.value) == (
        "trace 't' reaches past the end of a corpus of 20,000 lines: op #2 ctx[60000:61000] "
        "in a batch of 2 reads (and 1 more); it was made for a corpus of 100,000 lines, "
        "5,432,100 bytes; replay it on the size it was made for: --lines 100000"
    )
    assert isinstance(caught.value, ValueError)
    with pytest.raises(TraceSizeError, match=r"100,000 lines; replay"):  # bytes unknown
        check_fits(_fixed(ops, 100_000), 20_000)


def test_file_scenarios_check_the_size_so_every_path_fails_up_front(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    _fixed((Len(), Read(0, 100), Read(400, 10**9)), 500, 9_000).save(path)
    scenario = get_scenario(str(path))
    assert isinstance(scenario, FileScenario)
    for lines in (500, 2_000):
        assert scenario.trace(lines).ops == scenario.sessions(lines, count=2).ops[:3]
    for call in (lambda: scenario.trace(499), lambda: scenario.sessions(100, count=3)):
        with pytest.raises(TraceSizeError, match=rf"trace '{re.escape(str(path))}'.*500 lines"):
            call()
    # Generators adapt to the corpus and clamp by design: never checked.
    assert get_scenario("slice-sizes").trace(50).ops


def test_a_recorded_trace_fits_the_context_it_was_recorded_on(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl"
    with RecordingContext(InMemoryContext(TEXT), path) as ctx:
        ctx[0 : 10**9], ctx[-1000:], ctx[299:305]
        with pytest.raises(IndexError):
            ctx[10**6]
    scenario = get_scenario(str(path))
    for lines in (301, 302, 10_000):
        scenario.trace(lines)
    with pytest.raises(TraceSizeError, match=r"corpus of 300 lines.*made for a corpus of 301"):
        scenario.trace(300)
