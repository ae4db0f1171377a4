"""Scenario generators: deterministic, in bounds for tiny and huge contexts, modelling what they
say; the canned traces equal what the generators produce."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from bench.corpus import generate_corpus
from scenarios import SCENARIOS, Batch, Grep, Index, Len, Op, Read, Think, Trace, get_scenario
from scenarios.canned import CANNED_LINES, TRACES_DIR, canned_traces, readme
from scenarios.explore import needle_hits
from scenarios.scans import LINE_BY_LINE_MAX, SLICE_SIZES

SMALL = (0, 1, 2, 10, 137)
LARGE = (100_000, 1_000_000)


def _in_bounds(value: int | None, lines: int) -> bool:
    return value is None or -lines <= value <= lines


def check_bounds(op: Op, lines: int) -> None:
    if isinstance(op, Read):
        assert _in_bounds(op.start, lines) and _in_bounds(op.stop, lines), (op, lines)
    elif isinstance(op, Index):
        assert -lines <= op.i < lines, (op, lines)
    elif isinstance(op, Batch):
        assert op.reads, op
        for read in op.reads:
            check_bounds(read, lines)
    elif isinstance(op, Think):
        assert op.ms >= 0


def _trace(name: str, lines: int, seed: int = 0) -> Trace:
    return get_scenario(name).trace(lines, seed=seed)


@pytest.mark.parametrize("name", list(SCENARIOS))
@pytest.mark.parametrize("lines", SMALL + LARGE)
def test_deterministic_and_in_bounds(name: str, lines: int) -> None:
    if name == "needle" and lines == 1_000_000:
        lines = 200_000  # the needle generator reads the corpus; 1M costs seconds
    trace = _trace(name, lines)
    again = _trace(name, lines)
    assert trace == again and trace.version == again.version
    assert Trace.from_jsonl(trace.to_jsonl()) == trace
    assert trace.ops, name
    for op in trace.ops:
        check_bounds(op, lines)
    if lines >= 10:
        assert any(isinstance(op, Read | Index | Batch | Grep) for op in trace.ops)


@pytest.mark.parametrize("name", ["zoom", "overlap", "random", "mixed-session", "line-by-line"])
def test_seed_changes_seeded_scenarios(name: str) -> None:
    assert _trace(name, 100_000, seed=0).version != _trace(name, 100_000, seed=1).version


def test_slice_sizes_reads_each_size_once_cold() -> None:
    ops = _trace("slice-sizes", 1_000_000).ops
    reads = [op for op in ops if isinstance(op, Read)]
    assert len(ops) == len(reads) == len(SLICE_SIZES)
    assert [(r.stop or 0) - (r.start or 0) for r in reads] == list(SLICE_SIZES)
    spans = [(r.start or 0, r.stop or 0) for r in reads[:4]]
    assert all(a[1] <= b[0] for a, b in pairwise(spans))  # non-overlapping
    small = [op for op in _trace("slice-sizes", 10).ops if isinstance(op, Read)]
    assert [(r.start, r.stop) for r in small] == [(0, 10)] * 5


def test_line_by_line_is_bounded_and_consecutive() -> None:
    indices = [op.i for op in _trace("line-by-line", 1_000_000).ops if isinstance(op, Index)]
    assert len(indices) == LINE_BY_LINE_MAX
    assert indices == list(range(indices[0], indices[0] + LINE_BY_LINE_MAX))
    assert len([op for op in _trace("line-by-line", 10).ops if isinstance(op, Index)]) == 10


def test_batched_scan_covers_everything_in_batches() -> None:
    batches = [op for op in _trace("batched-scan", 100_000).ops if isinstance(op, Batch)]
    assert [len(batch.reads) for batch in batches] == [16, 4]
    covered = [(read.start, read.stop) for batch in batches for read in batch.reads]
    assert covered == [(start, start + 5_000) for start in range(0, 100_000, 5_000)]


def test_zoom_rereads_a_hot_region_most() -> None:
    deep = [op for op in _trace("zoom", 1_000_000).ops if isinstance(op, Read)][20:]
    centres = Counter(round(((op.start or 0) + (op.stop or 0)) / 2 / 5_000) for op in deep)
    assert len(deep) == 15 and centres.most_common(1)[0][1] >= 3


def test_needle_reads_around_real_hits_in_the_corpus() -> None:
    lines = 3_000
    text = generate_corpus(lines, seed=0).splitlines(keepends=True)
    pattern, hits = needle_hits(lines, 0)
    assert hits and all(pattern in text[hit] for hit in hits)
    ops = _trace("needle", lines).ops
    assert isinstance(ops[1], Grep)
    reads = [op for op in ops if isinstance(op, Read)]
    assert len(reads) == len(hits)
    for hit, read in zip(hits, reads, strict=True):
        assert (read.start or 0) <= hit < (read.stop or 0)


def test_mixed_session_has_20_to_30_thinking_rounds() -> None:
    for seed in range(5):
        ops = _trace("mixed-session", 100_000, seed=seed).ops
        assert ops[:1] == (Len(),)
        assert 20 <= sum(isinstance(op, Think) for op in ops) <= 30
        kinds = {type(op) for op in ops}
        assert {Read, Think} <= kinds


def test_canned_traces_equal_the_generators() -> None:
    expected = canned_traces()
    on_disk = {path.name for path in TRACES_DIR.glob("*.jsonl")}
    assert set(expected) <= on_disk, "run: python -m scenarios.canned"
    for file, trace in expected.items():
        stored = (TRACES_DIR / file).read_text(encoding="utf-8")
        assert stored == trace.to_jsonl(), f"{file} is stale; run: python -m scenarios.canned"
        assert get_scenario(str(TRACES_DIR / file)).trace(CANNED_LINES).version == trace.version
    assert (TRACES_DIR / "README.md").read_text(encoding="utf-8") == readme(expected)


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="peek"):
        get_scenario("nope")
    with pytest.raises(KeyError, match="no trace file"):
        get_scenario("missing.jsonl")


def test_sessions_concatenate_seeded_sessions_into_one_versioned_trace() -> None:
    scenario = get_scenario("mixed-session")
    one, two = scenario.trace(5_000, seed=4), scenario.trace(5_000, seed=5)
    both = scenario.sessions(5_000, seed=4, count=2)
    assert both.ops == one.ops + two.ops
    assert both.params["sessions"] == 2 and both.version not in (one.version, two.version)
    assert scenario.sessions(5_000, seed=4, count=1) == one
    with pytest.raises(ValueError, match="at least 1"):
        scenario.sessions(5_000, count=0)
