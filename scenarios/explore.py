"""Generators of exploring access patterns: zooming into hot regions, grepping for a needle,
uniform random reads, and a whole mixed RLM session.

Same contract as :mod:`scenarios.scans`: ``(lines, seed, think_ms) -> ops``, deterministic, every
index within ``[-lines, lines]``.
"""

from __future__ import annotations

import re
from functools import cache

from bench.corpus import generate_corpus
from contexts.lines import split_lines
from scenarios.scans import SCAN_CHUNK, chunk_reads, rng_for
from scenarios.trace import Batch, Grep, Index, Len, Op, Read, Think

ZOOM_PROBES = 20
"""Coarse, evenly spaced samples of ``zoom``."""
ZOOM_REGIONS = 5
"""Hot regions ``zoom`` goes deep into (picked Zipf-distributed, exponent 1.2)."""
ZOOM_STEPS = 15
"""Deep reads of ``zoom``."""
NEEDLE_WINDOW = 100
"""Lines read on each side of a needle hit."""
NEEDLE_HITS = 3
"""Hits of the needle grep that are read around."""
RANDOM_READS = 100
"""Reads of ``random``."""


def _window(lines: int, centre: int, half: int) -> Read:
    low = max(0, min(centre, lines) - half)
    return Read(low, min(lines, low + 2 * half))


def _zipf_pick(rng_random: float, count: int, exponent: float = 1.2) -> int:
    """Index ``k`` in ``range(count)`` with probability proportional to ``1 / (k + 1) ** exponent``."""
    weights = [1 / (rank + 1) ** exponent for rank in range(count)]
    target = rng_random * sum(weights)
    for rank, weight in enumerate(weights):
        target -= weight
        if target < 0:
            return rank
    return count - 1


def zoom(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """Coarse samples across the context, then deep reads around a few hot regions chosen
    Zipf-distributed (the hottest region is re-read most), thinking between steps: how an RLM
    narrows in on what matters and verifies it."""
    rng = rng_for("zoom", lines, seed)
    ops: list[Op] = [Len()]
    probes = [lines * number // ZOOM_PROBES for number in range(ZOOM_PROBES)]
    ops += [_window(lines, probe, 10) for probe in probes]
    ops.append(Think(think_ms))
    regions = [rng.randrange(max(1, lines)) for _ in range(ZOOM_REGIONS)]
    for step in range(ZOOM_STEPS):
        centre = regions[_zipf_pick(rng.random(), ZOOM_REGIONS)]
        half = rng.choice((100, 250, 500, 1_000))
        jitter = rng.randrange(-half // 2, half // 2 + 1)
        if step:
            ops.append(Think(think_ms))
        ops.append(_window(lines, centre + jitter, half))
    return tuple(ops)


def corpus_lines(lines: int, seed: int) -> list[str]:
    """The lines of ``generate_corpus(lines, seed)`` as every context splits them (only ``"\\n"``
    ends a line; ``str.splitlines`` would also split on ``\\u2028``, ``\\x0c``, ...)."""
    return split_lines(generate_corpus(lines, seed=seed))


@cache
def needle_hits(lines: int, seed: int) -> tuple[str, tuple[int, ...]]:
    """The needle pattern and the first lines it matches in ``generate_corpus(lines, seed)``.

    The deterministic corpus plants no special needle; the needle is the ``session_id=...`` of a
    session picked by the seed (it matches the session header and the session's ``ERROR`` log
    lines), so the bench corpus of the same ``(lines, seed)`` really contains it and the reads
    land around real hits. On another text the trace still replays: the reads are plain reads.
    """
    text = corpus_lines(lines, seed)
    ids = [
        found.group(0)
        for line in text
        if line.startswith("###") and (found := re.search(r"session_id=[0-9a-f-]+", line))
    ]
    if not ids:
        return "session_id=none-in-this-context", ()
    pattern = ids[rng_for("needle", lines, seed).randrange(len(ids))]
    hits = tuple(number for number, line in enumerate(text) if pattern in line)
    return pattern, hits[:NEEDLE_HITS]


def needle(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """``context.grep(needle)`` over everything, then a window around each of the first hits,
    thinking after the grep and after each window: keyword search, then reading the evidence."""
    pattern, hits = needle_hits(lines, seed)
    ops: list[Op] = [Len(), Grep(re.escape(pattern)), Think(think_ms)]
    for hit in hits:
        ops += [_window(lines, hit, NEEDLE_WINDOW), Think(think_ms)]
    return tuple(ops)


def random_reads(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """``RANDOM_READS`` reads at uniform random offsets, 1-1000 lines each (log-uniform): no
    locality at all, the worst case for read-ahead and the best for request latency."""
    rng = rng_for("random", lines, seed)
    ops: list[Op] = [Len()]
    for _ in range(RANDOM_READS):
        size = min(lines, int(10 ** rng.uniform(0, 3)))
        start = rng.randrange(lines - size + 1)
        ops.append(Read(start, start + size))
    return tuple(ops)


_KEYWORDS = (r"ERROR", r"Traceback", r"TODO", r"^USER:", r"timeout|retry")


def mixed_session(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """A realistic 20-30-round RLM session: peek first, then rounds of keyword greps, windows
    around interesting places, a batched chunk sweep, re-reads of a hot region and a few single
    lines, each round ended by the model thinking (jittered 0.5-1.5 x ``think_ms``)."""
    rng = rng_for("mixed-session", lines, seed)
    n = min(100, lines)
    ops: list[Op] = [Len(), Read(0, n), Read(-n, None)]
    hot = rng.randrange(max(1, lines))
    for _round in range(rng.randint(20, 30)):
        ops.append(Think(round(think_ms * rng.uniform(0.5, 1.5), 1)))
        action = rng.choice(("grep", "window", "window", "batch", "hot", "lines"))
        if action == "grep":
            ops.append(Grep(rng.choice(_KEYWORDS)))
        elif action == "window":
            ops.append(_window(lines, rng.randrange(max(1, lines)), rng.choice((50, 200, 1_000))))
        elif action == "batch":
            low = rng.randrange(max(1, lines))
            reads = chunk_reads(min(lines, low + 8 * SCAN_CHUNK // 5), SCAN_CHUNK // 5, low)
            ops.append(Batch(tuple(reads)) if reads else Len())
        elif action == "hot":
            ops.append(_window(lines, hot + rng.randrange(-200, 201), 300))
        elif lines:
            ops += [Index(rng.randrange(-lines, lines)) for _ in range(3)]
        else:
            ops.append(Len())
    return tuple(ops)
