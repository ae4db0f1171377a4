"""The one byte-range planner (contexts/ranges.py): coalescing and splitting, checked against
the rules it states, on hand-picked and generated ranges."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contexts.ranges import Run, check_sizes, coalesce, split


def test_none_gives_each_distinct_range_its_own_run_in_first_seen_order() -> None:
    ranges = [(50, 60), (0, 10), (50, 60), (5, 20)]
    assert coalesce(ranges, None) == [Run(50, 60, (0, 2)), Run(0, 10, (1,)), Run(5, 20, (3,))]


def test_zero_joins_overlapping_and_adjacent_ranges_only() -> None:
    ranges = [(20, 30), (0, 10), (10, 15), (12, 14), (31, 40)]
    assert coalesce(ranges, 0) == [Run(0, 15, (1, 2, 3)), Run(20, 30, (0,)), Run(31, 40, (4,))]


def test_a_gap_up_to_coalesce_bytes_joins_past_the_furthest_stop() -> None:
    # (0, 100) reaches 100; (5, 10) ends early, yet (104, 110) is 4 bytes past the run's reach
    assert coalesce([(0, 100), (5, 10), (104, 110), (120, 130)], 4) == [
        Run(0, 110, (0, 1, 2)),
        Run(120, 130, (3,)),
    ]
    assert coalesce([], 4) == [] and coalesce([], None) == []


def test_split_tiles_a_range_in_parts_of_part_bytes() -> None:
    assert split(3, 28, 10) == ((3, 13), (13, 23), (23, 28))
    assert split(3, 13, 10) == ((3, 13),)
    assert split(0, 10**9, None) == ((0, 10**9),)


@pytest.mark.parametrize(
    ("coalesce_bytes", "part_bytes", "message"),
    [
        (-1, None, "coalesce_bytes"),
        (True, None, "coalesce_bytes"),
        (1.5, None, "coalesce_bytes"),
        (None, 0, "part_bytes"),
        (None, False, "part_bytes"),
        (0, "8", "part_bytes"),
    ],
)
def test_bad_sizes_are_named(coalesce_bytes: object, part_bytes: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_sizes(coalesce_bytes, part_bytes)  # type: ignore[arg-type]
    check_sizes(0, 1)
    check_sizes(None, None)


extents = st.tuples(st.integers(0, 500), st.integers(0, 60)).map(lambda e: (e[0], e[0] + e[1]))


@given(st.lists(extents, max_size=25), st.one_of(st.none(), st.integers(0, 40)), st.integers(1, 50))
def test_runs_cover_their_ranges_and_keep_their_gaps(
    ranges: list[tuple[int, int]], coalesce_bytes: int | None, part_bytes: int
) -> None:
    runs = coalesce(ranges, coalesce_bytes)
    members = sorted(position for run in runs for position in run.members)
    assert members == list(range(len(ranges)))  # every range in exactly one run
    for run in runs:
        inside = [ranges[position] for position in run.members]
        assert run.start == min(a for a, _ in inside) and run.stop == max(b for _, b in inside)
        parts = split(run.start, run.stop, part_bytes)
        assert parts[0][0] == run.start and parts[-1][1] == run.stop
        assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
        assert all(0 <= b - a <= part_bytes for a, b in parts)
    if coalesce_bytes is not None:  # runs in byte order, each more than coalesce_bytes apart
        assert all(b.start - a.stop > coalesce_bytes for a, b in itertools.pairwise(runs))
    else:
        assert len(runs) == len(set(ranges))
