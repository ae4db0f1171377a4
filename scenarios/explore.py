"""Generators of exploring access patterns: zooming into hot regions, grepping for a needle,
uniform random reads, a whole mixed RLM session and the RLM paper's common moves.

Same contract as :mod:`scenarios.scans`: ``(lines, seed, think_ms) -> ops``, deterministic, every
index within ``[-lines, lines]``.
"""

from __future__ import annotations

import re
from functools import cache

from contexts.lines import split_lines
from scenarios.corpus import generate_corpus
from scenarios.scans import SCAN_CHUNK, chunk_reads, chunk_rounds, jittered, rng_for
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
PROBE_LINES = 100
"""Lines of each probe (start, middle, end) of ``probe-filter-verify``."""
FILTER_PATTERN = r"^Traceback \(most recent call last\)|^\S+ ERROR "
"""The regex filter of ``probe-filter-verify``: traceback headers and ``ERROR`` log lines, about
1 % of the bench corpus's lines (anchored, so cheap to search)."""
FILTER_WINDOW = 50
"""Lines read on each side of a filter hit."""
FILTER_HITS = 8
"""Filter hits ``probe-filter-verify`` reads around."""
VERIFY_READS = 3
"""Earlier windows ``probe-filter-verify`` re-reads to verify its answer."""


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


@cache
def filter_hits(lines: int, seed: int) -> tuple[int, ...]:
    """Every line of ``generate_corpus(lines, seed)`` that ``FILTER_PATTERN`` matches, searched
    line by line as ``Context.grep`` does."""
    regex = re.compile(FILTER_PATTERN)
    return tuple(
        number for number, line in enumerate(corpus_lines(lines, seed)) if regex.search(line)
    )


def probe_filter_verify(lines: int, seed: int, think_ms: float) -> tuple[Op, ...]:
    """The common moves of RLMs in the RLM paper (Zhang, Kraska & Khattab, 2025), one round each,
    every round ended by the model thinking (jittered 0.9-1.1 x ``think_ms``):

    1. probe: ``len`` and ``PROBE_LINES`` lines printed at the start, middle and end;
    2. filter: a regex search (``FILTER_PATTERN``) whose hits are real in the bench corpus of the
       same ``(lines, seed)``;
    3. evidence: ``FILTER_WINDOW`` lines either side of ``FILTER_HITS`` seeded hits, printed back
       to back from one REPL cell;
    4. chunk and recurse: uniform chunks in ``chunk-then-batch`` rounds over the whole context;
    5. verify: ``VERIFY_READS`` evidence windows read again, each checked by a sub-call (think).

    With no hit (a tiny context), the middle probe is what is verified.
    """
    rng = rng_for("probe-filter-verify", lines, seed)
    n = min(PROBE_LINES, lines)
    middle = _window(lines, lines // 2, max(1, n // 2))
    ops: list[Op] = [Len(), Read(0, n), middle, Read(-n, None), Think(jittered(rng, think_ms))]
    ops += [Grep(FILTER_PATTERN), Think(jittered(rng, think_ms))]
    hits = filter_hits(lines, seed)
    windows = [
        _window(lines, hit, FILTER_WINDOW)
        for hit in sorted(rng.sample(hits, min(FILTER_HITS, len(hits))))
    ]
    if windows:
        ops += [*windows, Think(jittered(rng, think_ms))]
    ops += chunk_rounds(lines, rng, think_ms)
    verified = rng.sample(windows, min(VERIFY_READS, len(windows))) if windows else [middle]
    for window in verified:
        ops += [window, Think(jittered(rng, think_ms))]
    return tuple(ops)
