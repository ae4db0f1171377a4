"""Two bounds on how fast any client could replay a trace on a profile.

**The demand bound** (``lower_bound``; ``lower_bound_s`` and ``ratio`` in the results): the least
time a client that fetches only what the trace asks for could take.

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

**The physical limit** (``physical_limit``; ``physical_limit_s`` and ``physical_ratio``): the
least time a clairvoyant client could take, one that knows the whole trace and may fetch
anything at any moment from open.

* Transfer starts at open (t = 0). The first byte arrives after **one first-byte latency** ``L``
  (the profile's median); from then on bytes arrive at the rate ``R`` = the profile's full
  parallel bandwidth, capped by the **ceiling**: what this machine's server was measured to
  deliver (``bench/network/ceiling.py``). No bandwidth and no ceiling: transfer is free.
* The client fetches the union of every byte the trace needs, once, in order of first need.
  An op completes at ``max(its issue time, L + bytes needed up to and including it / R)``; an op
  needing no new bytes completes when issued, except ``len`` (or an index past the end), which
  needs the metadata: never before ``L``.
* Think ops advance the clock; transfer goes on during them (think time hides transfer).
  The limit is the clock after the last op.

The physical limit is what the network (and the server) allows, whatever the client's strategy:
read-ahead clients are measured against it too. With a ceiling below the profile's bandwidth
(always on profiles with unlimited bandwidth, such as ``none`` and ``seed``) it can exceed the
demand bound, which moves bytes at the profile's bandwidth alone.

Cells that read no network (``memory``, ``local-disk``) get both bounds of the ``none`` profile
with no ceiling (they read no server): their think time, nothing more.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
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
"""One paragraph for the report: the demand bound."""

PHYSICAL_MODEL = (
    "Physical limit per cell: a clairvoyant client that knows the whole trace starts fetching at "
    "open and may fetch anything at any moment. The first byte arrives after one first-byte "
    "latency (the profile's median); from then on bytes arrive at the profile's full parallel "
    f"bandwidth (per-connection bandwidth x {DEFAULT_CONNECTIONS} connections), capped by the "
    "ceiling this machine's server was measured to deliver at the start of the run (best of a "
    "few rounds of parallel range GETs on the `none` profile; real targets have none). It "
    "fetches every byte the trace needs once, in order of first need; an op completes when "
    "its bytes have arrived or when it is issued, whichever is later (`len` never before the "
    "first latency); think time advances the clock while transfer goes on, so it hides "
    "transfer. physical_ratio = total_s / physical_limit_s (1x = nothing could do better on "
    "this network and server; winners are ranked by it). With a ceiling below the profile's "
    "bandwidth (e.g. `none`, `seed`: unlimited) the limit can exceed the demand bound."
)
"""One paragraph for the report: the physical limit."""


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


@dataclass(frozen=True)
class PhysicalLimit:
    """The physical limit of one trace on one profile, corpus and ceiling."""

    total_s: float
    """The clock when the last op completes (think time included)."""
    think_s: float
    """Think time of the trace (scaled)."""
    bytes: int
    """Bytes of the union of every line the trace needs (each fetched once)."""
    latency_s: float
    """The one first-byte latency paid before the first byte (the profile's median)."""
    rate_bytes_per_s: float | None
    """The transfer rate used: the profile's full parallel bandwidth capped by the ceiling
    (``None``: unlimited, transfer is free)."""


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


def _steps(trace: Trace, corpus: LineBytes, think_scale: float) -> Iterator[tuple[Op, float, int]]:
    """Each op of ``trace`` with its pause in seconds (think ops, scaled) and the bytes it needs
    that no earlier op read (storage ops): what both bounds walk."""
    seen = _ReadSet(corpus)
    for op in trace.ops:
        if isinstance(op, Think):
            yield op, op.ms / 1000 * think_scale, 0
        else:
            yield op, 0.0, sum(seen.add(a, b) for a, b in op_line_ranges(op, corpus.lines))


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
    sent = False
    think_total = 0.0
    think_before = 0.0
    bounds: list[OpBound] = []
    for op, pause, new in _steps(trace, corpus, think_scale):
        if isinstance(op, Think):
            think_total += pause
            think_before += pause
            continue
        needs_metadata = isinstance(op, Len | Index) and not sent
        cost = 0.0
        if new or needs_metadata:
            cost = latency + (new / rate if rate else 0.0)
            sent = True
        paid = max(0.0, cost - think_before)
        bounds.append(OpBound(cost, paid, new))
        think_before = 0.0
    return LowerBound(think_total + sum(b.paid_s for b in bounds), think_total, tuple(bounds))


def transfer_rate(
    profile: NetworkProfile,
    ceiling_bytes_per_s: float | None,
    connections: int = DEFAULT_CONNECTIONS,
) -> float | None:
    """The smaller of the profile's full parallel bandwidth and the ceiling (``None``: neither)."""
    limits = [r for r in (bandwidth(profile, connections), ceiling_bytes_per_s) if r is not None]
    return min(limits) if limits else None


def physical_limit(
    trace: Trace,
    profile: NetworkProfile,
    corpus: LineBytes,
    *,
    think_scale: float = 1.0,
    ceiling_bytes_per_s: float | None,
    connections: int = DEFAULT_CONNECTIONS,
) -> PhysicalLimit:
    """The least time a clairvoyant client could take to replay ``trace`` (see the module
    docstring): one latency, then every needed byte at ``transfer_rate``, from open."""
    if connections < 1:
        raise ValueError(f"connections must be at least 1, not {connections}")
    if ceiling_bytes_per_s is not None and ceiling_bytes_per_s <= 0:
        raise ValueError(f"the ceiling must be positive, not {ceiling_bytes_per_s}")
    latency = profile.first_byte.median_ms / 1000
    rate = transfer_rate(profile, ceiling_bytes_per_s, connections)
    clock = think = 0.0
    fetched = 0
    for op, pause, new in _steps(trace, corpus, think_scale):
        if isinstance(op, Think):
            clock += pause
            think += pause
            continue
        fetched += new
        if new:
            arrived = latency + (fetched / rate if rate else 0.0)
        elif isinstance(op, Len | Index):
            arrived = latency  # the metadata comes with the first byte
        else:
            arrived = 0.0  # everything it needs is here already (or it needs nothing)
        clock = max(clock, arrived)
    return PhysicalLimit(clock, think, fetched, latency, rate)


def ratio(total_s: float, bound_s: float) -> float | None:
    """``total_s / bound_s``, or ``None`` when the bound is zero."""
    return total_s / bound_s if bound_s > 0 else None
