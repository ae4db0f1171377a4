"""Scenario generators: deterministic, in bounds for tiny and huge contexts, modelling what they
say; the canned traces equal what the generators produce."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import pytest

from contexts import InMemoryContext
from scenarios import SCENARIOS, Batch, Grep, Index, Len, Op, Read, Think, Trace, get_scenario
from scenarios.canned import CANNED_LINES, canned_traces, readme
from scenarios.corpus import generate_corpus
from scenarios.explore import FILTER_HITS, FILTER_PATTERN, VERIFY_READS, filter_hits, needle_hits
from scenarios.library import TRACES_DIR
from scenarios.scans import BATCH_WIDTH, LINE_BY_LINE_MAX, SCAN_CHUNK, SLICE_SIZES, THINK_JITTER

SMALL = (0, 1, 2, 10, 137, 1_000)
LARGE = (100_000, 1_000_000)
CORPUS_READERS = ("needle", "probe-filter-verify")
"""Generators that read the bench corpus to find real grep hits."""


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
    if name in CORPUS_READERS and lines == 1_000_000:
        lines = 200_000  # these generators read the corpus; 1M costs seconds
    trace = _trace(name, lines)
    again = _trace(name, lines)
    assert trace == again and trace.version == again.version
    assert Trace.from_jsonl(trace.to_jsonl()) == trace
    assert trace.ops, name
    for op in trace.ops:
        check_bounds(op, lines)
    if lines >= 10:
        assert any(isinstance(op, Read | Index | Batch | Grep) for op in trace.ops)


@pytest.mark.parametrize(
    "name",
    [
        "zoom",
        "overlap",
        "random",
        "mixed-session",
        "line-by-line",
        "chunk-then-batch",
        "probe-filter-verify",
    ],
)
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
    text = generate_corpus(lines, seed=0).split("\n")  # only "\n" ends a line
    pattern, hits = needle_hits(lines, 0)
    assert hits and all(pattern in text[hit] for hit in hits)
    ops = _trace("needle", lines).ops
    assert isinstance(ops[1], Grep)
    reads = [op for op in ops if isinstance(op, Read)]
    assert len(reads) == len(hits)
    for hit, read in zip(hits, reads, strict=True):
        assert (read.start or 0) <= hit < (read.stop or 0)


def _rounds(ops: tuple[Op, ...]) -> list[tuple[list[Read], Think]]:
    """``ops`` (after the leading ``len``) as rounds of reads each ended by one think; fails on
    any other shape."""
    assert ops[0] == Len()
    rounds: list[tuple[list[Read], Think]] = []
    reads: list[Read] = []
    for op in ops[1:]:
        if isinstance(op, Think):
            assert reads, "a think with no read before it"
            rounds.append((reads, op))
            reads = []
        else:
            assert isinstance(op, Read), op
            reads.append(op)
    assert not reads, "reads after the last think"
    return rounds


@pytest.mark.parametrize("lines", [12_345, 100_000, 1_000_000])
def test_chunk_then_batch_slices_back_to_back_then_thinks_once(lines: int) -> None:
    ops = _trace("chunk-then-batch", lines).ops
    assert not any(isinstance(op, Batch) for op in ops)
    rounds = _rounds(ops)
    assert [len(reads) for reads, _think in rounds[:-1]] == [BATCH_WIDTH] * (len(rounds) - 1)
    assert 1 <= len(rounds[-1][0]) <= BATCH_WIDTH
    covered = [(read.start, read.stop) for reads, _think in rounds for read in reads]
    assert covered == [
        (start, min(lines, start + SCAN_CHUNK)) for start in range(0, lines, SCAN_CHUNK)
    ]
    for _reads, think in rounds:  # about one sub-LLM latency: the batched calls run at once
        assert 2_000 * (1 - THINK_JITTER) <= think.ms <= 2_000 * (1 + THINK_JITTER)
    batched = [op for op in _trace("batched-scan", lines).ops if isinstance(op, Batch)]
    assert [read for reads, _think in rounds for read in reads] == [
        read for batch in batched for read in batch.reads
    ]  # the same slices as batched-scan: the two differ only in read concurrency


def test_chunk_then_batch_clamps_small_contexts_and_scales_think() -> None:
    scenario = get_scenario("chunk-then-batch")
    assert scenario.trace(0).ops == (Len(),)
    for lines in (1, 10, 1_000, SCAN_CHUNK):
        ops = scenario.trace(lines).ops
        assert ops[:2] == (Len(), Read(0, lines)) and len(ops) == 3
        assert isinstance(ops[2], Think)
    assert all(
        op.ms == 0 for op in scenario.trace(100_000, think_ms=0).ops if isinstance(op, Think)
    )


def test_probe_filter_verify_greps_real_hits_and_reads_around_them() -> None:
    lines = 3_000
    oracle = InMemoryContext(generate_corpus(lines, seed=0))
    ops = _trace("probe-filter-verify", lines).ops
    assert ops[:4] == (Len(), Read(0, 100), Read(1_450, 1_550), Read(-100, None))
    assert isinstance(ops[4], Think) and ops[5] == Grep(FILTER_PATTERN)
    real = [hit.line_number for hit in oracle.grep(FILTER_PATTERN)]
    assert len(real) >= FILTER_HITS and tuple(real) == filter_hits(lines, 0)
    assert isinstance(ops[6], Think)
    evidence = ops[7 : 7 + FILTER_HITS]
    assert all(isinstance(op, Read) for op in evidence)
    for read in evidence:
        assert isinstance(read, Read)
        assert any((read.start or 0) <= hit < (read.stop or 0) for hit in real), read
    assert isinstance(ops[7 + FILTER_HITS], Think)


def test_probe_filter_verify_chunks_then_verifies_earlier_windows() -> None:
    ops = _trace("probe-filter-verify", 100_000).ops
    evidence = ops[7 : 7 + FILTER_HITS]
    rest = ops[8 + FILTER_HITS :]
    chunked, verify = rest[: -2 * VERIFY_READS], rest[-2 * VERIFY_READS :]
    rounds = _rounds((Len(), *chunked))
    assert [len(reads) for reads, _think in rounds] == [BATCH_WIDTH, 20 - BATCH_WIDTH]
    covered = [(read.start, read.stop) for reads, _think in rounds for read in reads]
    assert covered == [(start, start + SCAN_CHUNK) for start in range(0, 100_000, SCAN_CHUNK)]
    rereads = verify[0::2]
    assert all(isinstance(op, Think) for op in verify[1::2])
    assert len(set(rereads)) == VERIFY_READS and set(rereads) <= set(evidence)


@pytest.mark.parametrize("lines", [0, 2])
def test_probe_filter_verify_without_hits_verifies_the_middle_probe(lines: int) -> None:
    assert not filter_hits(lines, 0)
    ops = _trace("probe-filter-verify", lines).ops
    assert not any(isinstance(op, Read) and op not in ops[1:4] for op in ops)
    assert ops[-2:] == (ops[2], ops[-1]) and isinstance(ops[-1], Think)


def test_probe_filter_verify_clamps_its_probes() -> None:
    for lines in (10, 1_000):
        ops = _trace("probe-filter-verify", lines).ops
        n = min(100, lines)
        assert ops[1] == Read(0, n) and ops[3] == Read(-n, None)
        middle = ops[2]
        assert isinstance(middle, Read) and 0 <= (middle.start or 0) < (middle.stop or 0) <= lines


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
