"""The two bounds (demand bound and physical limit) on hand-computed traces."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.lower_bound import (
    LineBytes,
    PhysicalLimit,
    lower_bound,
    op_lines,
    physical_limit,
    ratio,
    transfer_rate,
)
from bench.network.profiles import BUILTIN_PROFILES, LatencyModel, NetworkProfile
from scenarios import Batch, Grep, Index, Len, Op, Read, Text, Think, Trace

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


# -- the physical limit ------------------------------------------------------------------------

UNLIMITED = NetworkProfile("unlimited", "", "test", LatencyModel.fixed(100.0))
"""100 ms first byte, no bandwidth limit."""


def limit(
    *ops: Op,
    profile: NetworkProfile = SLOW,
    ceiling: float | None = None,
    connections: int = 1,
    think_scale: float = 1.0,
) -> PhysicalLimit:
    trace = Trace("t", ops)
    return physical_limit(
        trace,
        profile,
        CORPUS,
        think_scale=think_scale,
        ceiling_bytes_per_s=ceiling,
        connections=connections,
    )


def test_physical_a_read_that_fits_in_the_think_before_it() -> None:
    # Lines 0-1 (20 B) arrive at 0.1 + 20/10 = 2.1. Think 1 s: clock 3.1. Lines 2-3 kept
    # arriving during the think: 40 B in all by 0.1 + 40/10 = 4.1 > 3.1, so the read ends at 4.1.
    ops = (Read(0, 2), Think(1000), Read(2, 4))
    physical = limit(*ops)
    assert physical.total_s == pytest.approx(4.1)
    assert (physical.bytes, physical.think_s, physical.latency_s) == (40, 1.0, 0.1)
    assert physical.rate_bytes_per_s == 10.0
    # The demand bound pays a second latency: 2.1 + 1.0 + (2.1 - 1.0) = 4.2.
    assert bound(*ops) == pytest.approx(4.2)
    # With 3 s of think the second read's bytes (by 4.1) are in before it is issued (at 5.1).
    assert limit(Read(0, 2), Think(3000), Read(2, 4)).total_s == pytest.approx(2.1 + 3.0)
    # The think scale shrinks the pause: 0.3 s, clock 2.4 < 4.1, the read ends at 4.1.
    scaled = limit(Read(0, 2), Think(3000), Read(2, 4), think_scale=0.1)
    assert scaled.total_s == pytest.approx(4.1) and scaled.think_s == pytest.approx(0.3)


def test_physical_back_to_back_reads_pay_one_latency() -> None:
    # 10 B each: arrived at 0.1 + 10/10, 0.1 + 20/10, 0.1 + 30/10; the demand bound: 3 x 1.1.
    ops = (Read(0, 1), Read(1, 2), Read(2, 3))
    assert limit(*ops).total_s == pytest.approx(3.1)
    assert bound(*ops) == pytest.approx(3.3)
    # Without a bandwidth limit the transfer is free: one latency for all three.
    assert limit(*ops, profile=UNLIMITED).total_s == pytest.approx(0.1)


def test_physical_grep_fetches_only_what_is_still_missing() -> None:
    # Lines 0-4 (50 B) by 0.1 + 5 = 5.1; think 2 s: clock 7.1; the grep needs lines 5-9: 100 B
    # in all by 0.1 + 100/10 = 10.1.
    physical = limit(Read(0, 5), Think(2000), Grep("x"))
    assert physical.total_s == pytest.approx(10.1) and physical.bytes == 100
    # The demand bound: 5.1 + 2.0 + (5.1 - 2.0) = 10.2.
    assert bound(Read(0, 5), Think(2000), Grep("x")) == pytest.approx(10.2)
    # Nothing new after a whole-text read: the grep completes when issued (10.1 + 0.5).
    assert limit(Text(), Think(500), Grep("x")).total_s == pytest.approx(10.1 + 0.5)


def test_physical_len_only_and_rereads() -> None:
    assert limit(Len()).total_s == pytest.approx(0.1)  # the metadata: one latency
    assert limit(Len(), Len(), Index(99)).total_s == pytest.approx(0.1)  # still one
    assert limit(Len()).bytes == 0
    # issued after the first latency: done when issued
    assert limit(Think(500), Len()).total_s == pytest.approx(0.5)
    # issued before it: not before 0.1
    assert limit(Think(50), Len()).total_s == pytest.approx(0.1)
    # a re-read costs nothing: 0.1 + 50/10 = 5.1 for both reads
    assert limit(Read(0, 5), Read(0, 5), Index(2)).total_s == pytest.approx(5.1)
    assert limit().total_s == 0.0 and limit(Think(1000)).total_s == pytest.approx(1.0)


def test_physical_batch_fetches_the_union_once() -> None:
    # lines 0-3 once: 0.1 + 40/10
    physical = limit(Batch((Read(0, 2), Read(1, 4))))
    assert physical.total_s == pytest.approx(4.1) and physical.bytes == 40


def test_physical_bandwidth_and_ceiling() -> None:
    whole = (Read(0, 10),)  # 100 B
    # 4 connections x 10 B/s = 40 B/s: 0.1 + 100/40 = 2.6
    assert limit(*whole, connections=4).total_s == pytest.approx(2.6)
    # a ceiling above the profile's bandwidth changes nothing
    assert limit(*whole, connections=4, ceiling=100.0).total_s == pytest.approx(2.6)
    # a ceiling of 20 B/s below the 40 B/s: 0.1 + 100/20 = 5.1
    capped = limit(*whole, connections=4, ceiling=20.0)
    assert capped.total_s == pytest.approx(5.1) and capped.rate_bytes_per_s == 20.0
    # unlimited bandwidth: the ceiling alone: 0.1 + 100/50 = 2.1
    assert limit(*whole, profile=UNLIMITED, ceiling=50.0).total_s == pytest.approx(2.1)
    # neither: transfer is free, one latency remains
    free = limit(*whole, profile=UNLIMITED)
    assert free.total_s == pytest.approx(0.1) and free.rate_bytes_per_s is None
    # the none profile has no latency: only the ceiling (100 B at 1000 B/s)
    none = BUILTIN_PROFILES["none"]
    assert limit(*whole, profile=none, ceiling=1000.0).total_s == pytest.approx(0.1)
    assert limit(*whole, profile=none).total_s == 0.0
    # the ceiling can put the limit above the demand bound, which ignores it
    assert lower_bound(Trace("t", whole), none, CORPUS).total_s == 0.0
    assert transfer_rate(SLOW, None, connections=4) == 40.0
    assert transfer_rate(SLOW, 20.0, connections=4) == 20.0
    assert transfer_rate(UNLIMITED, None) is None
    with pytest.raises(ValueError, match="connections"):
        limit(*whole, connections=0)
    with pytest.raises(ValueError, match="ceiling"):
        limit(*whole, ceiling=0.0)


_OPS = st.one_of(
    st.builds(Read, st.integers(-12, 12), st.integers(-12, 12)),
    st.builds(Index, st.integers(-12, 12)),
    st.builds(Think, st.integers(0, 5000)),
    st.just(Len()),
    st.just(Grep("x")),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(_OPS, max_size=10), st.integers(1, 4))
def test_physical_limit_never_exceeds_the_demand_bound_without_a_ceiling(
    ops: list[Op], connections: int
) -> None:
    """At the same rate, a clairvoyant client does at least as well as a demand-driven one; and
    neither beats one latency plus every needed byte at the rate, nor the think time."""
    trace = Trace("t", tuple(ops))
    physical = physical_limit(
        trace, SLOW, CORPUS, ceiling_bytes_per_s=None, connections=connections
    )
    demand = lower_bound(trace, SLOW, CORPUS, connections=connections)
    assert physical.total_s <= demand.total_s + 1e-9
    assert physical.total_s >= physical.think_s - 1e-9
    assert physical.bytes == sum(op.new_bytes for op in demand.ops)
    if physical.bytes:
        floor = physical.latency_s + physical.bytes / (10.0 * connections)
        assert physical.total_s >= floor - 1e-9
