"""Generators of bulk access patterns: peeks, heads, scans (plain, batched, chunk-then-batch,
overlapping), the line-by-line loop and the slice-size ladder.

Every generator is ``(lines, seed, think_ms) -> ops``, deterministic in its arguments, and keeps
every index within ``[-lines, lines]`` (so a 0- or 1-line context gets valid, if tiny, ops).
"""

from __future__ import annotations

import random

from scenarios.trace import Batch, Index, Len, Op, Read, Think

SCAN_CHUNK = 5_000
"""Lines per chunk of ``linear-scan``, ``batched-scan`` and ``chunk-then-batch`` (one sub-LLM
call's worth: about the 500K characters an RLM prompt tells the model a sub-call can take)."""
BATCH_WIDTH = 16
"""Chunks handed to one ``llm_query_batched`` call in ``batched-scan`` and ``chunk-then-batch``."""
THINK_JITTER = 0.1
"""Relative spread of the seeded think jitter of ``chunk-then-batch`` and ``probe-filter-verify``
(0.9-1.1 x ``think_ms``)."""
OVERLAP_WINDOW = 2_000
"""Lines per window of ``overlap`` (the stride is half of it)."""
OVERLAP_WINDOWS = 40
"""Windows per ``overlap`` trace."""
LINE_BY_LINE_MAX = 2_000
"""At most this many ``context[i]`` calls in ``line-by-line``."""
SLICE_SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)
"""The read sizes of ``slice-sizes``, in op order (op k reads ``SLICE_SIZES[k]`` lines, clamped)."""


def rng_for(name: str, lines: int, seed: int) -> random.Random:
    """A private RNG per scenario, size and seed (string seeds are stable across Pythons)."""
    return random.Random(f"rlm-context-lab/scenario/{name}/{lines}/{seed}")


def chunk_reads(lines: int, chunk: int, low: int = 0) -> list[Read]:
    """``Read`` ops covering ``[low, lines)`` in chunks of ``chunk`` lines."""
    return [Read(start, min(lines, start + chunk)) for start in range(low, lines, chunk)]


def peek(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """``len(context)``, ``context[:100]``, ``context[-100:]``: the first move of every RLM."""
    n = min(100, lines)
    return (Len(), Read(0, n), Read(-n, None))


def head_50k(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """``context[0:50000]`` on a cold context (the seed notes' 50 sequential GETs)."""
    return (Read(0, min(50_000, lines)),)


def linear_scan(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """Chunk everything ``SCAN_CHUNK`` lines at a time, one sub-LLM call (think) per chunk."""
    ops: list[Op] = [Len()]
    for number, read in enumerate(chunk_reads(lines, SCAN_CHUNK)):
        if number:
            ops.append(Think(think_ms))
        ops.append(read)
    return tuple(ops)


def jittered(rng: random.Random, think_ms: float) -> float:
    """``think_ms`` scaled by a seeded factor in ``1 +- THINK_JITTER``, rounded to 0.1 ms."""
    return round(think_ms * rng.uniform(1 - THINK_JITTER, 1 + THINK_JITTER), 1)


def chunk_rounds(lines: int, rng: random.Random, think_ms: float) -> list[Op]:
    """Uniform ``SCAN_CHUNK``-line chunks over the whole context, ``BATCH_WIDTH`` per round:
    the round's slices as plain reads back to back (the REPL slicing one chunk after another),
    then one jittered think while the round's sub-LLM calls run concurrently."""
    reads = chunk_reads(lines, SCAN_CHUNK)
    ops: list[Op] = []
    for first in range(0, len(reads), BATCH_WIDTH):
        ops += reads[first : first + BATCH_WIDTH]
        ops.append(Think(jittered(rng, think_ms)))
    return ops


def chunk_then_batch(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """How ``rlms`` runs ``llm_query_batched``: ``len``, then rounds of ``BATCH_WIDTH``
    consecutive chunk slices (sequential reads in the REPL thread, no think between them), each
    round ended by one think of about one sub-LLM latency (the batched sub-calls run
    concurrently, so the model waits for them once), until the context is covered."""
    return (Len(), *chunk_rounds(lines, rng_for("chunk-then-batch", lines, seed), think_ms))


def batched_scan(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """Chunk boundaries from ``len``, then ``BATCH_WIDTH`` chunks read concurrently (one
    ``batch``), then the model thinks about the answers.

    This is a runtime whose sub-calls read their own slices from threads. ``rlms`` does not: it
    slices in the REPL one chunk after another and only the sub-LLM calls run concurrently
    (``chunk-then-batch``), so this pattern flatters contexts that serve reads from a thread pool.
    """
    ops: list[Op] = [Len()]
    reads = chunk_reads(lines, SCAN_CHUNK)
    for first in range(0, len(reads), BATCH_WIDTH):
        ops += [Batch(tuple(reads[first : first + BATCH_WIDTH])), Think(think_ms)]
    return tuple(ops)


def reread(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """``context[0:50000]`` and a 100-line window in the middle, each read cold then warm."""
    head = Read(0, min(50_000, lines))
    middle = lines // 2
    window = Read(middle, min(lines, middle + 100))
    return (head, Think(think_ms), head, window, Think(think_ms), window)


def overlap(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """Sliding windows with 50 % overlap from a seeded start, so no fact is cut at a chunk
    edge; every window is a sub-LLM call (think)."""
    window = max(1, min(OVERLAP_WINDOW, lines))
    stride = max(1, window // 2)
    span = window + stride * (OVERLAP_WINDOWS - 1)
    start = rng_for("overlap", lines, seed).randrange(max(1, lines - span + 1))
    ops: list[Op] = [Len()]
    for number in range(OVERLAP_WINDOWS):
        low = start + number * stride
        if low >= lines:
            break
        if number:
            ops.append(Think(think_ms))
        ops.append(Read(low, min(lines, low + window)))
    return tuple(ops)


def line_by_line(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """The pathological loop of weaker models, ``for i in range(n): context[i]``, bounded to
    ``LINE_BY_LINE_MAX`` calls, from a seeded start."""
    count = min(lines, LINE_BY_LINE_MAX)
    start = rng_for("line-by-line", lines, seed).randrange(lines - count + 1)
    return (Len(), *(Index(i) for i in range(start, start + count)))


def slice_sizes(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """Cold reads of each of ``SLICE_SIZES`` lines (clamped to the context), at consecutive
    non-overlapping offsets while they fit, no think: latency as a function of slice size."""
    ops: list[Op] = []
    cursor = 0
    for size in SLICE_SIZES:
        count = min(size, lines)
        start = cursor if cursor + count <= lines else max(0, lines - count)
        ops.append(Read(start, start + count))
        cursor = start + count
    return tuple(ops)
