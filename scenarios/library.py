"""Named scenarios: deterministic trace generators, each modelling one RLM behaviour.

``SCENARIOS`` maps a name to a :class:`Scenario`; the generators live in :mod:`scenarios.scans`
(bulk patterns) and :mod:`scenarios.explore` (exploring patterns). :func:`get_scenario` also
accepts the path of a trace file (``*.jsonl``), so a recorded or hand-written trace runs wherever
a scenario name does (``ctxlab bench --scenarios path/to/trace.jsonl``, ``ctxlab replay``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scenarios import explore, scans
from scenarios.trace import Op, Trace, check_fits

Generator = Callable[[int, int, float], tuple[Op, ...]]


@dataclass(frozen=True)
class Scenario:
    """A name, the RLM behaviour it models, and a generator of ops for a context length."""

    name: str
    """Registry name (``head-50k``)."""
    behaviour: str
    """What an RLM does that this scenario reproduces."""
    generate_ops: Generator
    """``(lines, seed, think_ms) -> ops``."""
    think_ms: float = 0.0
    """Default think pause between steps (simulated LLM latency)."""

    def trace(self, lines: int, *, seed: int = 0, think_ms: float | None = None) -> Trace:
        """The trace for a context of ``lines`` lines (deterministic in all arguments)."""
        think = self.think_ms if think_ms is None else think_ms
        ops = self.generate_ops(lines, seed, think)
        return Trace(self.name, ops, {"lines": lines, "seed": seed, "think_ms": think})

    def sessions(self, lines: int, *, seed: int = 0, count: int = 1) -> Trace:
        """``count`` sessions one after another (seeds ``seed .. seed + count - 1``) as one
        trace: long fault and soak runs (10,000+ ops) from any scenario. ``needle`` picks its
        needle from the corpus of each session's seed, so against the run's one corpus its later
        sessions mostly grep for an absent id (a failed search: still checked, fewer reads)."""
        if count < 1:
            raise ValueError(f"sessions must be at least 1, not {count}")
        first = self.trace(lines, seed=seed)
        if count == 1:
            return first
        ops = list(first.ops)
        for number in range(1, count):
            ops.extend(self.trace(lines, seed=seed + number).ops)
        return Trace(first.name, tuple(ops), {**first.params, "sessions": count})


@dataclass(frozen=True)
class FileScenario(Scenario):
    """A fixed trace loaded from a file: the same ops for any context length and seed.

    Unlike a generator it cannot adapt to the corpus, so :meth:`trace` (and :meth:`sessions`)
    raise :class:`~scenarios.trace.TraceSizeError` when an op reaches past the end of a corpus
    smaller than the one the trace was made for (:func:`~scenarios.trace.check_fits`).
    """

    fixed: Trace | None = None
    """The loaded trace."""

    def trace(self, lines: int, *, seed: int = 0, think_ms: float | None = None) -> Trace:
        """The file's ops, after checking that they fit a corpus of ``lines`` lines."""
        assert self.fixed is not None
        trace = Trace(self.name, self.fixed.ops, {**self.fixed.params, "file": self.name})
        check_fits(trace, lines)
        return trace

    @classmethod
    def load(
        cls, path: str | Path, *, name: str | None = None, behaviour: str | None = None
    ) -> FileScenario:
        """The trace at ``path`` as a scenario named ``name`` (default: the path)."""
        trace = Trace.load(path)
        return cls(
            name or str(path),
            behaviour or f"replay of the trace file {path}",
            lambda *_: trace.ops,
            fixed=trace,
        )


TRACES_DIR = Path(__file__).with_name("traces")
"""Where the canned and recorded traces live."""


@dataclass(frozen=True)
class Recorded:
    """A committed recording of a real RLM loop, replayed by name like a generator."""

    file: str
    """File name under ``TRACES_DIR``."""
    behaviour: str
    """What RLM loop it recorded."""
    regenerate: str
    """The one command that records it again."""

    def load(self, name: str) -> FileScenario:
        return FileScenario.load(TRACES_DIR / self.file, name=name, behaviour=self.behaviour)

    def trace(self) -> Trace:
        """The recording as stored (its header says the corpus it was made on)."""
        return Trace.load(TRACES_DIR / self.file)


RECORDED: dict[str, Recorded] = {
    "rlms-session": Recorded(
        "rlms-session.jsonl",
        "a real rlms RLM.completion loop (the runtime's own REPL and llm_query_batched, a "
        "scripted model) recorded at 100,000 lines: peek, regex filters, windows around hits, "
        "5,000-line chunks read one after another in the REPL then one batched sub-call, "
        "verification re-reads; no concurrent reads",
        "python -m bench.rlm_loops --lines 100000 --out scenarios/traces/rlms-session.jsonl",
    ),
    "dspy-session": Recorded(
        "dspy-session.jsonl",
        "a real dspy.RLM loop (DSPy's own module with the lab's in-process interpreter, its "
        "llm_query and llm_query_batched, scripted root and sub LMs) recorded at 100,000 lines: "
        "the turns of rlms-session ending in SUBMIT, so the same reads; its thinks differ where "
        "dspy differs: llm_query_batched runs 8 sub-calls at a time, so a batch of 10 waits two "
        "sub-LLM latencies",
        "python -m bench.rlm_loops --runtime dspy --lines 100000 "
        "--out scenarios/traces/dspy-session.jsonl",
    ),
}
"""Recorded real loops, by scenario name (fixed ops: they run on corpora at least their size)."""


THINK_MS = 2_000.0
"""Default think pause of scenarios that think (one sub-LLM call)."""

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "peek",
            "the first move of every RLM: len(context), then the first and last 100 lines",
            scans.peek,
        ),
        Scenario(
            "head-50k",
            "context[0:50000] on a cold context: the seed notes' 50 sequential GETs",
            scans.head_50k,
        ),
        Scenario(
            "linear-scan",
            "chunk the whole context 5,000 lines at a time, thinking (sub-LLM call) between chunks",
            scans.linear_scan,
            think_ms=THINK_MS,
        ),
        Scenario(
            "reread",
            "the RLM looks again: ctx[0:50000] and a 100-line window, each read cold then warm",
            scans.reread,
            think_ms=THINK_MS,
        ),
        Scenario(
            "batched-scan",
            "uniform 5,000-line chunks read 16 at a time concurrently (one batch), then the model "
            "thinks: a runtime whose sub-calls read their own slices from threads; rlms slices in "
            "the REPL one chunk after another (chunk-then-batch), so this flatters thread pools",
            scans.batched_scan,
            think_ms=THINK_MS,
        ),
        Scenario(
            "chunk-then-batch",
            "how rlms runs llm_query_batched: 16 uniform 5,000-line chunks sliced one after "
            "another in the REPL (sequential reads, no think between), then one think (about one "
            "sub-LLM latency, jittered 0.9-1.1 x) while the 16 sub-calls run concurrently; "
            "repeated until the whole context is covered",
            scans.chunk_then_batch,
            think_ms=THINK_MS,
        ),
        Scenario(
            "zoom",
            "20 coarse samples, then deep reads around 5 hot regions picked Zipf-distributed "
            "(the hottest re-read most), thinking between: narrowing in and verifying",
            explore.zoom,
            think_ms=THINK_MS,
        ),
        Scenario(
            "needle",
            "grep the whole context for a needle (a session id that the corpus of the same "
            "lines and seed contains), then read 100 lines either side of the first 3 hits",
            explore.needle,
            think_ms=THINK_MS,
        ),
        Scenario(
            "overlap",
            "40 sliding 2,000-line windows with 50 % overlap, a sub-LLM call per window",
            scans.overlap,
            think_ms=THINK_MS,
        ),
        Scenario(
            "line-by-line",
            "the pathological loop of weaker models: for i in range(n): context[i] "
            "(at most 2,000 single-line calls)",
            scans.line_by_line,
        ),
        Scenario(
            "random",
            "100 reads of 1-1,000 lines at uniform random offsets: no locality at all",
            explore.random_reads,
        ),
        Scenario(
            "mixed-session",
            "a realistic 20-30-round RLM session: peek, greps, windows, a batched sweep, "
            "re-reads of a hot region and single lines, with jittered think pauses",
            explore.mixed_session,
            think_ms=THINK_MS,
        ),
        Scenario(
            "slice-sizes",
            "cold reads of 100, 1k, 10k, 100k and 1M lines (clamped) at non-overlapping offsets "
            "where they fit, no think: latency as a function of slice size",
            scans.slice_sizes,
        ),
        Scenario(
            "probe-filter-verify",
            "the RLM paper's common moves, thinking after each round: probe (len, 100 lines at "
            "the start, middle and end), a regex filter for tracebacks and ERROR log lines (real "
            "hits in the bench corpus), 100-line windows around 8 hits, uniform chunking with "
            "batched sub-calls (chunk-then-batch rounds), then 3 verification re-reads of "
            "earlier windows, each checked by a sub-call",
            explore.probe_filter_verify,
            think_ms=THINK_MS,
        ),
    )
}


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``, or the trace file at path ``name`` (``*.jsonl``);
    ``KeyError`` lists the known names."""
    if name in SCENARIOS:
        return SCENARIOS[name]
    if name in RECORDED:
        return RECORDED[name].load(name)
    if name.endswith(".jsonl"):
        if not Path(name).is_file():
            raise KeyError(f"no trace file {name!r}")
        return FileScenario.load(name)
    raise KeyError(
        f"no scenario {name!r}; known: {', '.join([*SCENARIOS, *RECORDED])} "
        "(or a path to a .jsonl trace)"
    )
