"""A scripted RLM session through the runtimes' own loops (rlms ``RLM.completion``, then
``dspy.RLM``): the same answer on an S3 context as in memory, the REPL's ``context`` is the
live lab object, the recording is a clean trace that replays, and the committed
``rlms-session.jsonl`` and ``dspy-session.jsonl`` are what the script records; the example
runs both runtimes on S3 with the scripted models.

No test looks at a clock: think lengths are only checked to exist."""

from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "rlm",
    reason="the rlms extra is not installed (pip install -e '.[rlms]'; CI's test extra has it)",
)

import contexts
from bench import rlm_loops
from bench.oracle import LineListOracle
from bench.results import CellResult
from bench.runner import replay
from contexts import InMemoryContext
from scenarios import (
    RECORDED,
    Batch,
    FileScenario,
    Grep,
    Index,
    Len,
    Op,
    Read,
    RecordingContext,
    Think,
    Trace,
    get_scenario,
)
from scenarios.corpus import generate_corpus
from tests.conftest import S3Env

LINES = 3_000
SCRIPT = rlm_loops.SessionScript(chunk_lines=500, batch=4)
"""Six 500-line slices, two llm_query_batched calls (4 + 2): the 100,000-line shape, smaller."""
QUICK = 0.01
"""think_scale for the tests: a 2,000 ms nominal call sleeps 20 ms."""
SESSION_ID = re.compile(r"session_id=([0-9a-f]{8}-[0-9a-f]{4})")


@pytest.fixture(scope="module")
def corpus() -> str:
    return generate_corpus(LINES, seed=0)


def busiest_session(text: str) -> tuple[str, int]:
    """The answer's first part, computed without rlms: the session with most ERROR lines."""
    counts = Counter(
        SESSION_ID.findall(line)[-1]
        for line in text.split("\n")
        if re.search(r"Z ERROR \[worker-\d+\] .*session_id=", line)
    )
    return counts.most_common(1)[0]


def without_think(ops: tuple[Op, ...]) -> list[Op]:
    return [op for op in ops if not isinstance(op, Think)]


def test_same_answer_on_s3_as_in_memory(s3: S3Env, corpus: str) -> None:
    in_memory = rlm_loops.run_session(InMemoryContext(corpus), script=SCRIPT, think_scale=QUICK)

    url = s3.new_url()
    contexts.write_layout(corpus, url, endpoint_url=s3.endpoint_url, lines_per_segment=500)
    with contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url) as ctx:
        opened = ctx.stats.requests
        on_s3 = rlm_loops.run_session(ctx, script=SCRIPT, think_scale=QUICK)
        # the REPL's `context` was this object: the model's reads reached S3 through it
        assert ctx.stats.requests > opened
        assert f"{type(ctx).__name__} {LINES} lines" in on_s3.outputs[0]

    assert on_s3.answer == in_memory.answer
    top_id, top_count = busiest_session(corpus)
    assert f"session_id={top_id} " in on_s3.answer
    assert f"logged the most ERROR lines: {top_count} (recounted {top_count})" in on_s3.answer
    assert on_s3.root_calls == len(SCRIPT.turns()) == 8
    assert on_s3.sub_calls == 1 + LINES // SCRIPT.chunk_lines  # the session, then every slice


def test_the_repl_context_is_the_live_object_not_a_copy(corpus: str) -> None:
    with RecordingContext(InMemoryContext(corpus), trace_name="live") as recorder:
        result = rlm_loops.run_session(recorder, script=SCRIPT, think_scale=QUICK)
        ops = [event.op for event in recorder.events]
    assert "RecordingContext 3000 lines" in result.outputs[0]
    # every slice the model took came through the wrapper (a copied str would show none)
    assert ops[:2] == [Len(), Read(0, 100)]
    assert sum(isinstance(op, Read) for op in ops) >= 6 + 3 + 2
    assert not any(type(op).__name__ == "Text" for op in ops)


def test_the_recording_is_a_clean_trace(corpus: str) -> None:
    trace, result = rlm_loops.record_corpus(LINES, 0, script=SCRIPT, think_scale=QUICK)
    ops = trace.ops
    kinds = Counter(type(op).__name__ for op in ops)
    print(f"{rlm_loops.describe(trace)}; answer: {result.answer}")

    # sub-LLM calls run concurrently, slices one after another in the REPL thread: no batch
    assert not any(isinstance(op, Batch) for op in ops)
    assert kinds["Grep"] == 2 and kinds["Read"] >= 6 and kinds["Index"] == 1
    assert kinds["Think"] >= 6 and all(op.ms > 0 for op in ops if isinstance(op, Think))
    assert without_think(ops)[:3] == [Len(), Read(0, 100), Read(-100, None)]

    lines = corpus.split("\n")[:-1]
    for op in ops:
        if isinstance(op, Grep):
            assert any(re.search(op.pattern, line) for line in lines), op
        elif isinstance(op, Read):
            assert op.start is not None and -LINES <= op.start < LINES, op
            assert op.stop is None or 0 < op.stop <= LINES, op
            start, stop, _ = slice(op.start, op.stop).indices(LINES)
            assert start < stop, op
        elif isinstance(op, Index):
            assert -LINES <= op.i < LINES, op

    # the uniform sweep: consecutive 500-line slices over the whole context, in order
    reads = [(op.start, op.stop) for op in ops if isinstance(op, Read)]
    sweep = [(a, a + 500) for a in range(0, LINES, 500)]
    assert any(reads[i : i + len(sweep)] == sweep for i in range(len(reads))), reads

    assert trace.name == "rlms-session"
    params = trace.params
    assert params["recorded"] is True and params["events"] == len(without_think(ops))
    assert params["lines"] == LINES and params["seed"] == 0
    assert params["bytes"] == len(corpus.encode("utf-8")) and params["think_scale"] == QUICK

    # the recording replays through the bench runner with every answer right
    cell = CellResult("memory", trace.name, trace.version, "none", LINES)
    replay(cell, InMemoryContext(corpus), LineListOracle(corpus), trace, think_scale=0.0)
    assert cell.correct and cell.status == "ok"


def test_recording_context_stores_nominal_think_itself(corpus: str) -> None:
    inner = InMemoryContext(corpus)
    recorder = RecordingContext(inner, trace_name="native", think_scale=QUICK)
    rlm_loops.run_session(recorder, script=SCRIPT, think_scale=QUICK)
    params = recorder.trace().params
    assert params["recorded"] is True and params["events"] == len(recorder.events)
    assert params["think_scale"] == QUICK and params["lines"] == LINES
    assert params["bytes"] == len(corpus.encode("utf-8"))


def test_a_block_that_fails_stops_the_session() -> None:
    root = rlm_loops.ScriptedRootLM(SCRIPT.turns(), think_ms=0, think_scale=0)
    history = [{"role": "user", "content": "Turn 1/9:"}]
    first = root.completion(history)
    assert "```repl\n" in first and "[step 1]" in first
    history += [
        {"role": "assistant", "content": first},
        {"role": "user", "content": "REPL output:\nNameError: name 'context' is not defined"},
    ]
    with pytest.raises(RuntimeError, match="turn 1 did not finish"):
        root.completion(history)


def test_the_sub_llm_reads_its_excerpt() -> None:
    excerpt = "\n".join(
        [
            "USER: I get this error:",
            "Traceback (most recent call last):",
            '  File "a.py", line 3, in f',
            "    x()",
            "    ^^^",
            "botocore.exceptions.ClientError: An error occurred (NoSuchKey)",
            "Traceback (most recent call last):",
            '  File "b.py", line 9, in g',
            "KeyError: 'session_id'\r",
        ]
    )
    sub = rlm_loops.ScriptedSubLM(think_ms=0, think_scale=0)
    reply = sub.completion(rlm_loops.SUB_ASK + rlm_loops.SEPARATOR + excerpt)
    assert reply == '{"exceptions": {"ClientError": 1, "KeyError": 1}, "tracebacks": 2}'
    with pytest.raises(ValueError, match="cannot answer"):
        sub.completion("Summarise this." + rlm_loops.SEPARATOR + excerpt)


def test_the_committed_trace_is_what_the_script_records() -> None:
    committed = Trace.load(rlm_loops.TRACE_PATH)
    assert committed.name == "rlms-session"
    params = committed.params
    assert params["recorded"] is True and params["seed"] == 0
    assert params["lines"] == rlm_loops.RECORDED_LINES == 100_000
    assert committed.think_ms > 0 and sum(isinstance(op, Think) for op in committed.ops) >= 6
    assert not any(isinstance(op, Batch) for op in committed.ops)

    fresh, _ = rlm_loops.record_corpus(rlm_loops.RECORDED_LINES, 0, think_scale=QUICK)
    # think lengths (and a stray short pause on a busy machine) aside, the same ops
    assert without_think(committed.ops) == without_think(fresh.ops), (
        "stale: python -m bench.rlm_loops --lines 100000 --out scenarios/traces/rlms-session.jsonl"
    )


# -- the same session through dspy.RLM -------------------------------------------------------


def dspy_available() -> None:
    pytest.importorskip("dspy", reason="the dspy extra is not installed (CI's test extra has it)")


def test_dspy_session_answers_the_same_on_s3_as_in_memory(s3: S3Env, corpus: str) -> None:
    dspy_available()
    in_memory = rlm_loops.run_dspy_session(
        InMemoryContext(corpus), script=SCRIPT, think_scale=QUICK
    )

    url = s3.new_url()
    contexts.write_layout(corpus, url, endpoint_url=s3.endpoint_url, lines_per_segment=500)
    with contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url) as ctx:
        opened = ctx.stats.requests
        on_s3 = rlm_loops.run_dspy_session(ctx, script=SCRIPT, think_scale=QUICK)
        # the interpreter's `context` was this object: the model's reads reached S3 through it
        assert ctx.stats.requests > opened
        assert f"{type(ctx).__name__} {LINES} lines" in on_s3.outputs[0]

    assert on_s3.answer == in_memory.answer
    # the same turns give the same answer in rlms
    rlms = rlm_loops.run_session(InMemoryContext(corpus), script=SCRIPT, think_scale=QUICK)
    assert on_s3.answer == rlms.answer
    top_id, top_count = busiest_session(corpus)
    assert f"logged the most ERROR lines: {top_count} (recounted {top_count})" in on_s3.answer
    assert f"session_id={top_id} " in on_s3.answer
    assert on_s3.root_calls == len(SCRIPT.dspy_turns()) == 8
    assert on_s3.sub_calls == SCRIPT.sub_calls(LINES) == 1 + LINES // SCRIPT.chunk_lines
    assert [f"[step {n}]" in out for n, out in enumerate(on_s3.outputs[:7], 1)] == [True] * 7
    assert on_s3.outputs[7].startswith("FINAL: ")  # dspy took the SUBMIT


def test_the_dspy_interpreter_context_is_the_live_object_not_a_copy(corpus: str) -> None:
    dspy_available()
    with RecordingContext(InMemoryContext(corpus), trace_name="live") as recorder:
        result = rlm_loops.run_dspy_session(recorder, script=SCRIPT, think_scale=QUICK)
        ops = [event.op for event in recorder.events]
    assert f"RecordingContext {LINES} lines" in result.outputs[0]
    # every slice the model took came through the wrapper (a copied str would show none)
    assert ops[:2] == [Len(), Read(0, 100)]
    assert sum(isinstance(op, Read) for op in ops) >= 6 + 3 + 2
    assert not any(type(op).__name__ == "Text" for op in ops)


def test_the_dspy_recording_replays_and_reads_what_the_rlms_one_reads(corpus: str) -> None:
    dspy_available()
    trace, result = rlm_loops.record_corpus(
        LINES, 0, script=SCRIPT, think_scale=QUICK, runtime="dspy"
    )
    print(f"{rlm_loops.describe(trace)}; answer: {result.answer}")
    assert trace.name == "dspy-session"
    params = trace.params
    assert params["recorded"] is True and params["events"] == len(without_think(trace.ops))
    assert params["lines"] == LINES and params["seed"] == 0 and params["think_scale"] == QUICK
    assert params["bytes"] == len(corpus.encode("utf-8"))
    assert str(params["runtime"]).startswith("dspy ") and params["sub_calls"] == result.sub_calls
    assert sum(isinstance(op, Think) for op in trace.ops) >= 6
    assert not any(isinstance(op, Batch) for op in trace.ops)  # slices taken in the REPL thread

    rlms, _ = rlm_loops.record_corpus(LINES, 0, script=SCRIPT, think_scale=QUICK)
    assert without_think(trace.ops) == without_think(rlms.ops)

    cell = CellResult("memory", trace.name, trace.version, "none", LINES)
    replay(cell, InMemoryContext(corpus), LineListOracle(corpus), trace, think_scale=0.0)
    assert cell.correct and cell.status == "ok"


def test_the_dspy_root_model_reads_only_the_output_of_its_last_block() -> None:
    root = rlm_loops.DspyRootLM(SCRIPT.dspy_turns(), think_ms=0, think_scale=0)
    first = root.completion([{"role": "user", "content": "[[ ## repl_history ## ]]\n"}])
    assert first.startswith("[[ ## reasoning ## ]]\n") and "```python\nn = len(context)" in first
    code = first.partition("```python\n")[2].partition("\n```")[0]
    assert 'print("[step 1] read the first 100 lines")' in code  # the marker is in the code too

    def rendered(output: str) -> list[dict[str, str]]:
        """How dspy's ChatAdapter lays out the history in its last user message."""
        history = (
            f"=== Step 1 ===\nReasoning: Peek.\nCode:\n```python\n{code}\n```\n"
            f"Output ({len(output)} chars):\n{output}"
        )
        text = f"[[ ## repl_history ## ]]\n{history}\n\n[[ ## iteration ## ]]\n2/8\n\nRespond"
        return [{"role": "system", "content": "..."}, {"role": "user", "content": text}]

    failed = rendered("[Error] NameError: name 'context' is not defined")
    assert "[step 1]" not in root.since_last_turn(failed)
    with pytest.raises(RuntimeError, match="turn 1 did not finish"):
        root.completion(failed)
    assert "[step 1]" in root.since_last_turn(rendered("str 3000 lines\n[step 1] read\n"))


def test_the_committed_dspy_trace_is_what_the_script_records() -> None:
    committed = Trace.load(rlm_loops.trace_path("dspy"))
    assert committed.name == "dspy-session" == rlm_loops.TRACE_NAMES["dspy"]
    assert committed == RECORDED["dspy-session"].trace()
    scenario = get_scenario("dspy-session")
    assert isinstance(scenario, FileScenario) and scenario.trace(100_000).ops == committed.ops
    params = committed.params
    assert params["recorded"] is True and params["seed"] == 0 and params["think_scale"] == 1.0
    assert params["lines"] == rlm_loops.RECORDED_LINES == committed.corpus_lines == 100_000
    assert str(params["runtime"]).startswith("dspy ") and params["root_calls"] == 8
    assert params["sub_calls"] == rlm_loops.SessionScript().sub_calls(100_000) == 21
    assert committed.think_ms > 0 and sum(isinstance(op, Think) for op in committed.ops) >= 6
    # the same turns as the rlms recording: the same reads
    rlms = Trace.load(rlm_loops.trace_path("rlms"))
    assert without_think(committed.ops) == without_think(rlms.ops)

    dspy_available()
    fresh, _ = rlm_loops.record_corpus(
        rlm_loops.RECORDED_LINES, 0, think_scale=QUICK, runtime="dspy"
    )
    assert without_think(committed.ops) == without_think(fresh.ops), (
        "stale: " + RECORDED["dspy-session"].regenerate
    )


# -- examples/rlm_s3_context.py --------------------------------------------------------------


def load_example() -> Any:
    path = Path(__file__).parents[1] / "examples" / "rlm_s3_context.py"
    spec = importlib.util.spec_from_file_location("rlm_s3_context", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("runtime", ["rlms", "dspy"])
def test_the_example_runs_each_runtime_on_s3_without_a_model(
    runtime: str, s3: S3Env, corpus: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if runtime == "dspy":
        dspy_available()
    example = load_example()
    url = s3.new_url()
    contexts.write_layout(corpus, url, endpoint_url=s3.endpoint_url, lines_per_segment=500)
    answer = example.run(url, s3.endpoint_url, runtime=runtime)
    printed = capsys.readouterr().out
    assert f"answer: {answer}\n" in printed
    assert re.search(r"stats: ContextStats\(requests=[1-9]", printed)  # read from S3, lazily

    with InMemoryContext(corpus) as memory:
        assert answer == example.ask_scripted(memory, runtime)
    top_id, top_count = busiest_session(corpus)
    assert f"session_id={top_id} " in answer and f"lines: {top_count} " in answer
