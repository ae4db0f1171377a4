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
from contexts import InMemoryContext
from scenarios import Batch, Grep, Index, Iter, Len, Read, Text, Think, Trace, trace_from_events
from scenarios.record import Event, RecordingContext

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
    assert trace.params == {"recorded": True, "events": 6}


def test_grep_flags_are_kept_inline(tmp_path: Path) -> None:
    with RecordingContext(InMemoryContext(TEXT)) as ctx:
        hits = ctx.grep("error", re.IGNORECASE)
        compiled = ctx.grep(re.compile("^LINE 1", re.I | re.M))
        ops = ctx.trace().ops
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
        ops = ctx.trace().ops
    assert ops == (Read(0, 10),)


def test_record_cli_runs_a_script_with_context_wrapped(tmp_path: Path) -> None:
    script = tmp_path / "rlm.py"
    script.write_text("print(len(context)); print(context[0:2], end='')\n")
    (tmp_path / "ctx.txt").write_text(TEXT)
    out = tmp_path / "rec.jsonl"
    args = ["record", "--text", str(tmp_path / "ctx.txt"), "--out", str(out), str(script)]
    assert main(args) == 0
    assert Trace.load(out).ops == (Len(), Read(0, 2))


def test_record_cli_without_script_prints_how_to(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["record"]) == 0
    assert "RecordingContext(inner" in capsys.readouterr().out
