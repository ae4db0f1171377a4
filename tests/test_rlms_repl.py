"""The rlms LocalREPL (the RLM authors' library) as a real client: model-style code runs through
the REPL's own ``execute_code`` against an S3-backed context, its output is checked against the
in-memory oracle, and the run is recorded and replayed as a scenario."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest

import contexts
from bench.oracle import LineListOracle
from bench.results import CellResult
from bench.runner import replay
from contexts import InMemoryContext
from scenarios import Batch, Read, RecordingContext, Trace, get_scenario
from scenarios.corpus import generate_corpus
from tests.conftest import S3Env

rlm_environments = pytest.importorskip(
    "rlm.environments",
    reason="the rlms extra is not installed (pip install -e '.[rlms]'; CI's test extra has it)",
)

LINES = 3_000
MODEL_BLOCKS = (
    "print(len(context))",
    "head = context[0:100]\nprint(head, end='')",
    "print(context[-5:], end='')",
    "import re\nerrors = re.findall(r'ERROR [^\\n]*', context.text())\nprint(len(errors))\n"
    "print(errors[-1])",
    "sizes = []\nfor a in range(0, len(context), 1000):\n    sizes.append(len(context[a:a + 1000]))\n"
    "print(sizes)",
    "from concurrent.futures import ThreadPoolExecutor\n"
    "with ThreadPoolExecutor(4) as pool:\n"
    "    chunks = list(pool.map(lambda a: context[a:a + 750], range(0, len(context), 750)))\n"
    "print(sum(map(len, chunks)), chunks[2][:40])",
)


def expected_outputs(oracle: LineListOracle) -> list[str]:
    """What each block prints, computed from the oracle's list of lines."""
    n = oracle.length()
    errors = re.findall(r"ERROR [^\n]*", oracle.text)
    chunks = [oracle.read(a, a + 750) for a in range(0, n, 750)]
    return [
        f"{n}\n",
        oracle.read(0, 100),
        oracle.read(-5, None),
        f"{len(errors)}\n{errors[-1]}\n",
        f"{[len(oracle.read(a, a + 1000)) for a in range(0, n, 1000)]}\n",
        f"{sum(map(len, chunks))} {chunks[2][:40]}\n",
    ]


def _own_stderr(stderr: str) -> str:
    """The REPL swaps sys.stderr process-wide; drop the in-process moto server's access log."""
    return "".join(line for line in stderr.splitlines(True) if ' HTTP/1.1" ' not in line)


def test_local_repl_runs_model_code_on_an_s3_context(s3: S3Env, tmp_path: Path) -> None:
    text = generate_corpus(LINES, seed=0)
    oracle = LineListOracle(text)
    url = s3.new_url()
    contexts.write_layout(text, url, endpoint_url=s3.endpoint_url, lines_per_segment=500)
    inner = contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url)
    path = tmp_path / "rlms-repl.jsonl"
    context = RecordingContext(inner, path, trace_name="rlms-repl")

    repl = rlm_environments.LocalREPL()
    repl.locals["context_0"] = repl.locals["context"] = context
    try:
        for number, (code, expected) in enumerate(
            zip(MODEL_BLOCKS, expected_outputs(oracle), strict=True)
        ):
            if number:
                time.sleep(0.02)  # the model writes its next block
            result = repl.execute_code(code)
            assert _own_stderr(result.stderr) == "", code
            assert result.stdout == expected, code
        assert repl.locals["context"] is context  # the REPL kept the lab context, no copy
    finally:
        repl.cleanup()
        context.close()

    trace = Trace.load(path)
    counts = Counter(type(op).__name__.lower() for op in trace.ops)
    print(f"recorded rlms trace {trace.version}: {dict(sorted(counts.items()))}")
    assert counts["len"] == 3 and counts["text"] == 1 and counts["think"] >= 5
    # the chunked loop's three reads, in order, and the concurrent chunks as batch(es)
    reads = [(op.start, op.stop) for op in trace.ops if isinstance(op, Read)]
    assert reads == [(0, 100), (-5, None), (0, 1000), (1000, 2000), (2000, 3000)]
    batched = [read for op in trace.ops if isinstance(op, Batch) for read in op.reads]
    assert batched, "the ThreadPoolExecutor reads overlapped in time: expected a batch op"
    assert sorted((r.start or 0, r.stop) for r in batched) == [
        (a, a + 750) for a in range(0, LINES, 750)
    ]

    # Replay the recording as a scenario, checked op by op against the oracle.
    scenario_trace = get_scenario(str(path)).trace(LINES)
    assert scenario_trace.version == trace.version
    cell = CellResult("memory", str(path), trace.version, "none", LINES)
    replay(cell, InMemoryContext(text), oracle, scenario_trace, think_scale=0.0)
    assert cell.correct and len(cell.ops) == sum(v for k, v in counts.items() if k != "think")
