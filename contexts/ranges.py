"""The one byte-range planner: nearby ranges of an object share a GET, long GETs become parts.

Every reader of byte ranges plans with it: the layouts (:func:`contexts.layouts.line_index.
plan_spans`, which maps line spans onto it) and the obstore transport's batches
(:func:`contexts.transport.obstore.plan_batch`). Two knobs, one default each:

* ``coalesce_bytes``: ranges at most this far apart (after sorting) share one GET: overlapping
  and adjacent ranges always do (``0``); ``None`` gives every distinct range its own GET.
* ``part_bytes``: a GET longer than this is split into parts of exactly ``part_bytes`` (the last
  one shorter), fetched in parallel; ``None``: never split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Extent = tuple[int, int]
"""A half-open byte range ``(start, stop)``."""

DEFAULT_COALESCE_BYTES = 1024 * 1024
"""Ranges of one object at most this far apart share a GET (~11 ms at 90 MB/s, less than one
S3 first-byte latency)."""
DEFAULT_PART_BYTES = 8 * 1024 * 1024
"""Longer GETs are split into parts of this size fetched in parallel (the AWS SDKs' and the CRT
client's default part size)."""


def check_sizes(coalesce_bytes: int | None, part_bytes: int | None) -> None:
    """Raise :class:`ValueError` unless ``coalesce_bytes >= 0`` and ``part_bytes >= 1`` (or None)."""
    if coalesce_bytes is not None and (
        isinstance(coalesce_bytes, bool)
        or not isinstance(coalesce_bytes, int)
        or coalesce_bytes < 0
    ):
        raise ValueError(f"coalesce_bytes must be an integer >= 0 or None, not {coalesce_bytes!r}")
    if part_bytes is not None and (
        isinstance(part_bytes, bool) or not isinstance(part_bytes, int) or part_bytes < 1
    ):
        raise ValueError(f"part_bytes must be an integer >= 1 or None, not {part_bytes!r}")


@dataclass(frozen=True)
class Run:
    """Ranges that share one GET (before it is split into parts)."""

    start: int
    """Where the GET starts: the smallest start of its ranges."""
    stop: int
    """Where it ends: the largest stop of its ranges."""
    members: tuple[int, ...]
    """Positions of its ranges in the planner's input, in the order they joined."""


def coalesce(ranges: Sequence[Extent], coalesce_bytes: int | None) -> list[Run]:
    """Group ``ranges`` (of one object) into runs, one GET each.

    ``None``: each distinct range is its own run, in first-seen order (a repeated range joins
    its first copy's run). Otherwise the ranges are sorted by ``(start, stop)`` and one whose
    start is at most ``coalesce_bytes`` past the furthest stop of the run before it joins that
    run; runs come in byte order.
    """
    if coalesce_bytes is None:
        first_seen: dict[Extent, list[int]] = {}
        for position, extent in enumerate(ranges):
            first_seen.setdefault(extent, []).append(position)
        return [Run(start, stop, tuple(members)) for (start, stop), members in first_seen.items()]
    runs: list[Run] = []
    members: list[int] = []
    start = reach = 0
    for position in sorted(range(len(ranges)), key=ranges.__getitem__):
        low, high = ranges[position]
        if members and low - reach <= coalesce_bytes:
            members.append(position)
            reach = max(reach, high)
            continue
        if members:
            runs.append(Run(start, reach, tuple(members)))
        members, start, reach = [position], low, high
    if members:
        runs.append(Run(start, reach, tuple(members)))
    return runs


def split(start: int, stop: int, part_bytes: int | None) -> tuple[Extent, ...]:
    """``[start, stop)`` as one GET, or as parts of ``part_bytes`` (the last one shorter) when it
    is longer than that."""
    if part_bytes is None or stop - start <= part_bytes:
        return ((start, stop),)
    return tuple((at, min(stop, at + part_bytes)) for at in range(start, stop, part_bytes))


__all__ = [
    "DEFAULT_COALESCE_BYTES",
    "DEFAULT_PART_BYTES",
    "Extent",
    "Run",
    "check_sizes",
    "coalesce",
    "split",
]
