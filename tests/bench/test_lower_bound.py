"""The network lower bound on hand-computed traces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.lower_bound import LineBytes, lower_bound, op_lines, ratio
from bench.network.profiles import BUILTIN_PROFILES, LatencyModel, NetworkProfile
from scenarios import Batch, Grep, Index, Len, Read, Text, Think, Trace

# 10 lines of 10 bytes; 100 ms first byte; 10 bytes/s on one connection: every number below is
# easy to add up by hand.
CORPUS = LineBytes([10] * 10)
SLOW = NetworkProfile("slow", "", "test", LatencyModel.fixed(100.0), bandwidth_bytes_per_s=10.0)


def bound(*ops: object, profile: NetworkProfile = SLOW, think_scale: float = 1.0) -> float:
    trace = Trace("t", tuple(ops))  # type: ignore[arg-type]
    return lower_bound(trace, profile, CORPUS, think_scale=think_scale, connections=1).total_s


def test_peek_pays_one_latency_per_op_plus_transfer() -> None:
    # len: 0.1 (metadata); first 2 lines: 0.1 + 20 B / 10 B/s; last 2 lines: the same
    assert bound(Len(), Read(0, 2), Read(-2, None)) == pytest.approx(0.1 + 2.1 + 2.1)


def test_rereads_are_free_and_only_new_bytes_are_paid() -> None:
    # 5.1 for lines 0-4; 2 s think; re-read free; lines 3-7 need only 5-7 (30 B): 0.1 + 3
    ops = (Read(0, 5), Think(2000), Read(0, 5), Read(3, 8))
    assert bound(*ops) == pytest.approx(5.1 + 2.0 + 0.0 + 3.1)


def test_think_time_hides_the_next_read() -> None:
    # the second read costs 1.1 s; 0.5 s of think hides 0.5 of it
    assert bound(Read(0, 1), Think(500), Read(1, 2)) == pytest.approx(1.1 + 0.5 + 0.6)
    # 2 s of think hide all of it
    assert bound(Read(0, 1), Think(2000), Read(1, 2)) == pytest.approx(1.1 + 2.0)
    # think scale shrinks the pause and with it what can be hidden
    assert bound(Read(0, 1), Think(2000), Read(1, 2), think_scale=0.1) == pytest.approx(
        1.1 + 0.2 + 0.9
    )


def test_think_hides_only_the_op_right_after_it() -> None:
    # 3 s of think hide all of the first read after it (1.1), nothing of the second
    ops = (Read(0, 1), Think(3000), Read(1, 2), Read(2, 3))
    assert bound(*ops) == pytest.approx(1.1 + 3.0 + 0.0 + 1.1)


def test_len_after_a_read_and_index_past_the_end() -> None:
    assert bound(Read(0, 1), Len()) == pytest.approx(1.1)
    assert bound(Index(99)) == pytest.approx(0.1)  # IndexError needs only the length
    assert bound(Index(-1), Index(-1)) == pytest.approx(1.1)


def test_a_batch_pays_one_latency_for_the_union_of_its_reads() -> None:
    # lines 0-3 (40 B) once, however the reads overlap
    assert bound(Batch((Read(0, 2), Read(1, 4)))) == pytest.approx(0.1 + 4.0)


def test_grep_and_text_read_what_is_still_missing() -> None:
    assert bound(Read(0, 5), Grep("x")) == pytest.approx(5.1 + 5.1)
    assert bound(Text(), Grep("x")) == pytest.approx(10.1)


def test_parallel_bandwidth_and_unlimited_profiles() -> None:
    trace = Trace("t", (Read(0, 10),))
    wide = lower_bound(trace, SLOW, CORPUS, connections=4)
    assert wide.total_s == pytest.approx(0.1 + 100 / 40)
    seed = lower_bound(trace, BUILTIN_PROFILES["seed"], CORPUS)  # 150 ms, unlimited bandwidth
    assert seed.total_s == pytest.approx(0.15)
    standard = lower_bound(trace, BUILTIN_PROFILES["s3-standard"], CORPUS)  # lognormal p50 20 ms
    assert standard.total_s == pytest.approx(0.02 + 100 / (90e6 * 64))
    assert lower_bound(trace, BUILTIN_PROFILES["none"], CORPUS).total_s == 0.0
    with pytest.raises(ValueError, match="connections"):
        lower_bound(trace, SLOW, CORPUS, connections=0)


def test_line_bytes_follow_the_lab_line_definition() -> None:
    corpus = LineBytes.of_text("é\nab\r\u2028\nlast")
    assert corpus.offsets == [0, 3, 10, 14]  # é=2 B; \u2028=3 B
    assert LineBytes.of_text("a\n").offsets == [0, 2]
    assert LineBytes.of_text("").lines == 0


def test_ratio_and_op_lines() -> None:
    assert ratio(3.0, 1.5) == 2.0
    assert ratio(3.0, 0.0) is None
    assert op_lines(Read(-3, None), 10) == 3
    assert op_lines(Batch((Read(0, 2), Read(5, 6))), 10) == 3
    assert op_lines(Len(), 10) == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=8))
def test_new_bytes_match_a_brute_force_set(ranges: list[tuple[int, int]]) -> None:
    corpus = LineBytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    trace = Trace("t", tuple(Read(a, b) for a, b in ranges))
    result = lower_bound(trace, SLOW, corpus, connections=1)
    seen: set[int] = set()
    for (a, b), op in zip(ranges, result.ops, strict=True):
        wanted = set(range(*slice(a, b).indices(10)))
        assert op.new_bytes == sum(line + 1 for line in wanted - seen)
        seen |= wanted
