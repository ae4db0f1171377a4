"""The network lower bound: the least time any client could take to replay a trace on a profile.

The model (also printed in every report):

* Every op that needs bytes not read before pays at least **one first-byte latency** (the
  profile's median; exact for a fixed-latency profile) plus those **new bytes at the profile's
  full parallel bandwidth** (per-connection bandwidth x ``connections``; unlimited bandwidth costs
  nothing). All of an op's requests — a batch's reads included — are assumed to be in flight at
  once, so one latency is paid per op, not per request.
* Bytes read before are cached for free: a re-read costs nothing.
* ``len`` (or an index past the end) needs only the metadata: one latency, unless some request
  already went out (the metadata could have come with it).
* Opening is free: an ideal client fetches metadata alongside its first data request.
* A read that could have been issued during the **think time just before it** is hidden by
  that think time (``cost - think``, never below zero); think time itself is part of the
  bound, because it is part of every measured ``total_s``.
* No speculation beyond that: a client is assumed to fetch only what the trace asked for (or
  is about to ask for, during think time), so an op right after another op pays its full cost.
  A client that reads far ahead of demand (``s3-ram``, an s3fs block larger than the request)
  can come in under the bound on later ops; a ratio below 1x says exactly that.

``lower_bound_s`` is therefore ``think + sum(max(0, op cost - preceding think))``; a cell's
``ratio`` is ``total_s / lower_bound_s`` (``None`` when the bound is 0: nothing to wait for).
Cells that read no network (``memory``, ``local-disk``) get the bound of the ``none`` profile.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from bench.network.profiles import NetworkProfile
from scenarios.trace import Batch, Grep, Index, Iter, Len, Op, Read, Text, Think, Trace

DEFAULT_CONNECTIONS = 64
"""Connections assumed in parallel for the full bandwidth: the widest pool of a lab context."""

MODEL = (
    "Lower bound per cell: each op that needs bytes not read before pays one first-byte latency "
    "(the profile's median) plus those bytes at the profile's full parallel bandwidth "
    f"(per-connection bandwidth x {DEFAULT_CONNECTIONS} connections); re-reads are free; `len` "
    "costs one latency if no request went out before; opening is free; think time just before "
    "an op hides up to that much of its cost; think time itself counts. No other speculation: "
    "a client that reads far ahead of demand (s3-ram, large s3fs blocks) can beat the bound on "
    "later ops (ratio < 1x). ratio = total_s / lower_bound_s (1x = no demand-driven client "
    "could do better)."
)
"""One paragraph for the report."""


@dataclass(frozen=True)
class OpBound:
    """The bound's view of one storage op."""

    cost_s: float
    """Latency plus transfer of the op's new bytes (0 for a cached re-read)."""
    paid_s: float
    """What remains after hiding in the preceding think time."""
    new_bytes: int
    """Bytes this op needs that no earlier op read."""


@dataclass(frozen=True)
class LowerBound:
    """The bound of one trace on one profile and corpus."""

    total_s: float
    """Think time plus every op's paid cost."""
    think_s: float
    """Think time of the trace (scaled)."""
    ops: tuple[OpBound, ...]
    """One entry per storage op (think ops excluded), in trace order."""


class LineBytes:
    """Byte offsets of a corpus's lines: bytes of any line range in O(1)."""

    def __init__(self, line_sizes: Sequence[int]) -> None:
        self.offsets = [0, *accumulate(line_sizes)]

    @classmethod
    def of_text(cls, text: str) -> LineBytes:
        """Offsets of ``text`` split at ``"\\n"`` (the lab's one definition of a line)."""
        pieces = text.split("\n")
        sizes = [len(piece.encode("utf-8")) + 1 for piece in pieces[:-1]]
        if pieces[-1]:
            sizes.append(len(pieces[-1].encode("utf-8")))
        return cls(sizes)

    @property
    def lines(self) -> int:
        return len(self.offsets) - 1

    def size(self, start: int, stop: int) -> int:
        """UTF-8 bytes of lines ``[start, stop)``."""
        return self.offsets[stop] - self.offsets[start]


class _ReadSet:
    """Disjoint, sorted line ranges already fetched; answers 'which bytes are new'."""

    def __init__(self, corpus: LineBytes) -> None:
        self.corpus = corpus
        self.starts: list[int] = []
        self.stops: list[int] = []

    def add(self, start: int, stop: int) -> int:
        """Mark ``[start, stop)`` read; return the bytes of it not read before."""
        if start >= stop:
            return 0
        first = bisect.bisect_left(self.stops, start)  # ranges touching [start, stop)
        last = bisect.bisect_right(self.starts, stop)
        merged = list(zip(self.starts[first:last], self.stops[first:last], strict=True))
        if merged:
            start, stop = min(start, merged[0][0]), max(stop, merged[-1][1])
        new = self.corpus.size(start, stop) - sum(self.corpus.size(a, b) for a, b in merged)
        self.starts[first:last] = [start]
        self.stops[first:last] = [stop]
        return new


def op_line_ranges(op: Op, lines: int) -> list[tuple[int, int]]:
    """The contiguous line ranges ``op`` needs from a context of ``lines`` lines."""
    if isinstance(op, Read):
        start, stop, _ = slice(op.start, op.stop).indices(lines)
        return [(start, stop)] if start < stop else []
    if isinstance(op, Index):
        i = op.i + lines if op.i < 0 else op.i
        return [(i, i + 1)] if 0 <= i < lines else []
    if isinstance(op, Batch):
        return [r for read in op.reads for r in op_line_ranges(read, lines)]
    if isinstance(op, Grep | Text | Iter):
        return [(0, lines)] if lines else []
    return []


def op_lines(op: Op, lines: int) -> int:
    """Lines ``op`` hands back (a grep scans every line; ``len`` returns none)."""
    return sum(stop - start for start, stop in op_line_ranges(op, lines))


def bandwidth(profile: NetworkProfile, connections: int = DEFAULT_CONNECTIONS) -> float | None:
    """The profile's full parallel bandwidth in bytes/s (``None``: unlimited)."""
    per_connection = profile.bandwidth_bytes_per_s
    return None if per_connection is None else per_connection * connections


def lower_bound(
    trace: Trace,
    profile: NetworkProfile,
    corpus: LineBytes,
    *,
    think_scale: float = 1.0,
    connections: int = DEFAULT_CONNECTIONS,
) -> LowerBound:
    """The least time any client could take to replay ``trace`` (see the module docstring)."""
    if connections < 1:
        raise ValueError(f"connections must be at least 1, not {connections}")
    latency = profile.first_byte.median_ms / 1000
    rate = bandwidth(profile, connections)
    seen = _ReadSet(corpus)
    sent = False
    think_total = 0.0
    think_before = 0.0
    bounds: list[OpBound] = []
    for op in trace.ops:
        if isinstance(op, Think):
            pause = op.ms / 1000 * think_scale
            think_total += pause
            think_before += pause
            continue
        new = sum(seen.add(start, stop) for start, stop in op_line_ranges(op, corpus.lines))
        needs_metadata = isinstance(op, Len | Index) and not sent
        cost = 0.0
        if new or needs_metadata:
            cost = latency + (new / rate if rate else 0.0)
            sent = True
        paid = max(0.0, cost - think_before)
        bounds.append(OpBound(cost, paid, new))
        think_before = 0.0
    return LowerBound(think_total + sum(b.paid_s for b in bounds), think_total, tuple(bounds))


def ratio(total_s: float, bound_s: float) -> float | None:
    """``total_s / bound_s``, or ``None`` when the bound is zero."""
    return total_s / bound_s if bound_s > 0 else None
