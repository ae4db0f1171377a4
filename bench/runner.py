"""The bench runner: contexts x scenarios x profiles x sizes, each cell a fresh, cold context whose
every answer is checked against the in-memory oracle."""

from __future__ import annotations

import contextlib
import gc
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

import contexts
from bench.lower_bound import LineBytes, lower_bound, op_lines, physical_limit, ratio
from bench.network import NetworkProfile, S3Server, load_profile
from bench.network.aws_env import use_local_aws_env
from bench.network.buckets import ensure_bucket
from bench.network.ceiling import Ceiling, measure_ceiling
from bench.network.choice import EMBEDDED, ServerChoice, serve
from bench.oracle import LineListOracle, iteration_digest
from bench.reliability import record_error, record_faults
from bench.results import CellResult, OpRecord, RunResults, run_metadata
from bench.usage import Usage, process_usage
from contexts import Context, ContextError, InMemoryContext, registry
from contexts.metadata_cache import CACHE_ENV
from contexts.transport.hedge import forget_endpoints
from scenarios import Batch, Grep, Index, Iter, Len, Op, Read, Text, Think, Trace, get_scenario
from scenarios.corpus import describe_corpus, generate_corpus
from scenarios.library import Scenario
from scenarios.trace import TraceSizeError

BUCKET = "ctxlab-bench"


@dataclass(frozen=True)
class CellBudget:
    """Where a cell stops early: after ``max_ops`` storage ops, or once its timed sections (open,
    ops, think) reach ``max_seconds`` — also in the middle of an op, which is then abandoned (the
    context is closed under it, so its remaining requests are never sent). A cell that stops
    early is marked ``truncated`` and never wins; ``None`` means no limit."""

    max_ops: int | None = None
    """Storage ops (think ops excluded) a cell may replay."""
    max_seconds: float | None = None
    """Timed seconds (``open_s`` + op latencies + think) a cell may spend."""

    def __post_init__(self) -> None:
        if self.max_ops is not None and self.max_ops < 1:
            raise ValueError(f"max_ops must be at least 1 (or None), not {self.max_ops}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive (or None), not {self.max_seconds}")

    def exceeded(self, ops_done: int, timed_s: float) -> str | None:
        """Why the cell must stop now (``None``: go on)."""
        if self.max_ops is not None and ops_done >= self.max_ops:
            return f"cell budget of {self.max_ops:,} ops reached"
        if self.max_seconds is not None and timed_s >= self.max_seconds:
            return f"cell budget of {self.max_seconds:g} s reached"
        return None

    def remaining(self, timed_s: float) -> float | None:
        """Timed seconds left (``None``: no seconds limit)."""
        return None if self.max_seconds is None else max(0.0, self.max_seconds - timed_s)

    def to_dict(self) -> dict[str, Any]:
        return {"max_ops": self.max_ops, "max_seconds": self.max_seconds}

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> CellBudget:
        raw = raw or {}
        return cls(raw.get("max_ops"), raw.get("max_seconds"))


UNBOUNDED = CellBudget()


@dataclass(frozen=True)
class BenchConfig:
    """What to run."""

    contexts: tuple[str, ...]
    scenarios: tuple[str, ...]
    profiles: tuple[str, ...]
    lines: tuple[int, ...]
    out: Path
    seed: int = 0
    """Seeds the corpus, the scenarios and the network profile."""
    think_scale: float = 1.0
    """Multiplies every think pause (0.01 for quick runs)."""
    segment_lines: int = 1000
    """Lines per segment for the segments layout."""
    sessions: int = 1
    """Sessions of each scenario replayed back to back in one cell (seeds ``seed, seed+1, ...``)."""
    budget: CellBudget = UNBOUNDED
    """Where each cell stops early (``--quick`` and the default matrix bound every cell)."""

    @property
    def cell_count(self) -> int:
        return sum(1 for _ in cells_of(self))

    def matrix(self) -> dict[str, Any]:
        """The run's matrix for its metadata: what ``--resume`` needs to continue it."""
        return {
            "contexts": list(self.contexts),
            "scenarios": list(self.scenarios),
            "profiles": list(self.profiles),
            "lines": list(self.lines),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], out: Path) -> BenchConfig:
        """The config a run's metadata records (``ctxlab bench --resume``)."""
        matrix = meta.get("matrix")
        if not isinstance(matrix, dict):
            raise ValueError(
                f"{out / 'results.json'} does not record its matrix (written by an older "
                "ctxlab): it cannot be resumed; start a new run"
            )
        return cls(
            contexts=tuple(matrix["contexts"]),
            scenarios=tuple(matrix["scenarios"]),
            profiles=tuple(matrix["profiles"]),
            lines=tuple(matrix["lines"]),
            out=out,
            seed=meta.get("seed", 0),
            think_scale=meta.get("think_scale", 1.0),
            segment_lines=meta.get("segment_lines", 1000),
            sessions=meta.get("sessions", 1),
            budget=CellBudget.from_dict(meta.get("budget")),
        )


@dataclass
class Corpus:
    """One generated corpus, its oracle, and where each layout of it is stored."""

    text: str
    oracle: LineListOracle
    info: dict[str, Any]
    line_bytes: LineBytes
    """Byte offsets of every line, for the lower bound."""
    urls: dict[tuple[str, tuple[tuple[str, Any], ...], bool], str] = field(default_factory=dict)


class BenchTarget:
    """The S3 server behind the simulated network (the embedded moto by default), the corpora written to it (setup traffic bypasses the
    simulated network), and how to open a context on it (measured traffic goes through it).

    A real bucket is a subclass (``bench/targets.py``) that overrides the four target hooks:
    ``s3_root``, ``write_options``, ``read_options`` and ``set_profile``.
    """

    s3_root = f"s3://{BUCKET}/"
    """Where S3 layouts are stored (names of corpora are appended)."""
    ceiling: Ceiling | None = None
    """What this machine's server delivers (measured by ``bench_target``; None: not measured,
    e.g. a real target, whose cells get no physical limit anyway)."""

    def __init__(self, server: S3Server, seed: int, workdir: Path) -> None:
        self.server = server
        self.seed = seed
        self.workdir = workdir
        """Where directory layouts are written (for ``volume``-like contexts)."""
        self.corpora: dict[int, Corpus] = {}
        client = boto3.client("s3", endpoint_url=server.raw_endpoint)
        try:
            ensure_bucket(client, BUCKET)  # a running server (--server URL) may keep it
        finally:
            client.close()

    def write_options(self) -> dict[str, Any]:
        """``write_layout`` options for setup traffic (moto: the raw endpoint)."""
        return {"endpoint_url": self.server.raw_endpoint}

    def read_options(self) -> dict[str, Any]:
        """``open_context`` options for measured traffic (moto: the shaped endpoint)."""
        return {"endpoint_url": self.server.shaped_endpoint}

    def set_profile(self, profile: str, seed: int) -> bool:
        """Apply the network profile of the next cell (moto: restart the shaping sampler and
        its fault counters); True when that profile injects faults."""
        return self.server.set_profile(profile, seed=seed).faults.total > 0

    def network_model(self, label: str) -> NetworkProfile | None:
        """The network profile a cell labelled ``label`` ran on (None: a real, unmodelled one)."""
        return load_profile(label)

    def fault_counts(self) -> dict[str, int] | None:
        """Faults injected since the last ``set_profile`` by kind (None: no simulated network)."""
        return self.server.fault_counts()

    @property
    def ceiling_bytes_per_s(self) -> float | None:
        """The measured ceiling in bytes/s (None: unknown, transfer is not capped)."""
        return None if self.ceiling is None else self.ceiling.bytes_per_s

    def run_meta(self) -> dict[str, Any]:
        """Run metadata this target adds: the ceiling and how it was measured."""
        return {
            "ceiling_bytes_per_s": self.ceiling_bytes_per_s,
            "ceiling": None if self.ceiling is None else self.ceiling.to_meta(),
        }

    def corpus(self, lines: int) -> Corpus:
        """The corpus of ``lines`` lines, generated once."""
        if lines not in self.corpora:
            text = generate_corpus(lines, seed=self.seed)
            info = describe_corpus(text, lines=lines, seed=self.seed)
            self.corpora[lines] = Corpus(
                text, LineListOracle(text), info.__dict__, LineBytes.of_text(text)
            )
        return self.corpora[lines]

    def url(self, lines: int, layout: str, segment_lines: int) -> str:
        """The URL of the corpus in ``layout``, uploaded on first use through the raw endpoint."""
        return self._stored(lines, layout, {"lines_per_segment": segment_lines}, local=False)

    def layout_name(self, lines: int, layout: str, options: dict[str, Any]) -> str:
        """The relative folder of a corpus layout (under ``s3_root`` or ``workdir``)."""
        tag = "-".join(f"{value}" for _name, value in sorted(options.items()))
        return f"{lines}-lines-seed{self.seed}/{layout}-{tag}/"

    def _stored(self, lines: int, layout: str, options: dict[str, Any], *, local: bool) -> str:
        corpus = self.corpus(lines)
        key = (layout, tuple(sorted(options.items())), local)
        if key not in corpus.urls:
            name = self.layout_name(lines, layout, options)
            url = str(self.workdir / name) if local else f"{self.s3_root}{name}"
            target_options = {} if local else self.write_options()
            contexts.write_layout(corpus.text, url, layout, **target_options, **options)
            corpus.urls[key] = url
        return corpus.urls[key]

    def prepare(self, name: str, lines: int, segment_lines: int) -> str | None:
        """Generate and upload what context ``name`` reads; its URL (None for in-memory)."""
        spec = registry.spec(name)
        self.corpus(lines)
        if spec.storage == "memory":
            return None
        options = {"lines_per_segment": segment_lines, **dict(spec.write_options)}
        return self._stored(lines, spec.layouts[0], options, local=spec.storage == "local")

    def open(self, name: str, lines: int, segment_lines: int) -> Context:
        """A fresh, cold context ``name`` on the corpus, reading through the shaped endpoint.

        The in-memory oracle is built from the corpus string: its open cost is indexing lines.
        """
        url = self.prepare(name, lines, segment_lines)
        if url is None:
            return InMemoryContext(self.corpus(lines).text)
        if registry.spec(name).storage == "local":
            return contexts.open_context(name, url)
        return contexts.open_context(name, url, **self.read_options())


# -- replaying one trace -----------------------------------------------------------------------


def apply_op(ctx: Context, op: Op, pool: ThreadPoolExecutor) -> Any:
    """Run one op against ``ctx`` and return its answer (``IndexError`` from ``ctx[i]`` is an
    answer too, as it is for a list)."""
    try:
        if isinstance(op, Len):
            return len(ctx)
        if isinstance(op, Read):
            return ctx[op.start : op.stop]
        if isinstance(op, Index):
            return ctx[op.i]
        if isinstance(op, Batch):
            # Submit all, wait for all: a failing read must not leave others running into the
            # next op's timing (Executor.map raises at the first failure and leaves the rest).
            futures = [pool.submit(ctx.__getitem__, slice(r.start, r.stop)) for r in op.reads]
            wait(futures)
            return [future.result() for future in futures]
        if isinstance(op, Grep):
            return [tuple(hit) for hit in ctx.grep(op.pattern)]
        if isinstance(op, Text):
            return ctx.text()
        if isinstance(op, Iter):
            return iteration_digest(ctx)
    except IndexError:
        return IndexError
    raise TypeError(f"cannot replay op {op!r}")


class _Watchdog:
    """Closes ``ctx`` if an op is still running when the cell's budget runs out, so a single
    long op (a grep of a million lines, one GET after another) cannot overrun the budget by
    more than the request in flight."""

    def __init__(self, ctx: Context, seconds: float | None) -> None:
        self._fired = threading.Event()
        self._timer: threading.Timer | None = None
        if seconds is not None:
            self._timer = threading.Timer(seconds, self._fire, args=(ctx,))
            self._timer.daemon = True
            self._timer.start()

    def _fire(self, ctx: Context) -> None:
        self._fired.set()
        with contextlib.suppress(Exception):  # run_cell closes it again and reports failures
            ctx.close()

    def stop(self) -> bool:
        """Disarm (waiting for a close in progress); whether the budget ran out."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        return self._fired.is_set()


def expected_answer(oracle: LineListOracle, op: Op) -> Any:
    """The oracle's answer to ``op``, in the same shape as :func:`apply_op`'s."""
    if isinstance(op, Len):
        return oracle.length()
    if isinstance(op, Read):
        return oracle.read(op.start, op.stop)
    if isinstance(op, Index):
        return oracle.index(op.i)
    if isinstance(op, Batch):
        return [oracle.read(read.start, read.stop) for read in op.reads]
    if isinstance(op, Grep):
        return oracle.grep(op.pattern)
    if isinstance(op, Text):
        return oracle.text
    if isinstance(op, Iter):
        return oracle.iterate()
    raise TypeError(f"cannot replay op {op!r}")


def answer_bytes(answer: Any) -> int:
    """UTF-8 bytes handed to the caller (for byte amplification)."""
    if isinstance(answer, str):
        return len(answer.encode("utf-8"))
    if isinstance(answer, list):
        return sum(answer_bytes(item) for item in answer)
    if isinstance(answer, tuple) and len(answer) == 3:  # iteration digest: (count, bytes, sha)
        size: int = answer[1]
        return size
    if isinstance(answer, tuple) and len(answer) == 2:  # a grep hit
        return answer_bytes(answer[1])
    return 0


def replay(
    cell: CellResult,
    ctx: Context,
    oracle: LineListOracle,
    trace: Trace,
    think_scale: float,
    budget: CellBudget = UNBOUNDED,
) -> int:
    """Replay ``trace`` on ``ctx``, timing every op and checking it against ``oracle``; return
    how many of the trace's ops ran (all of them unless ``budget`` stopped the cell early, which
    marks it ``truncated``).

    The expected answer is computed before the op is timed, so checking never lends a
    background-prefetching context extra hidden time.
    """
    timed_s = cell.open_s

    def truncate(number: int, reason: str) -> int:
        cell.truncated = True
        cell.truncation = (
            f"stopped after {number:,} of {len(trace.ops):,} trace ops "
            f"({len(cell.ops):,} storage ops, {timed_s:.2f} s timed): {reason}"
        )
        return number

    with ThreadPoolExecutor(max_workers=32, thread_name_prefix="bench-batch") as pool:
        for number, op in enumerate(trace.ops):
            reason = budget.exceeded(len(cell.ops), timed_s)
            if reason is not None:
                return truncate(number, reason)
            remaining = budget.remaining(timed_s)
            if isinstance(op, Think):
                pause = op.ms / 1000 * think_scale
                started = time.perf_counter()
                time.sleep(pause if remaining is None else min(pause, remaining))
                slept = time.perf_counter() - started
                cell.think_s += slept
                timed_s += slept
                if remaining is not None and pause > remaining:
                    return truncate(number, f"cell budget of {budget.max_seconds:g} s reached")
                continue
            expected = expected_answer(oracle, op)
            watchdog = _Watchdog(ctx, remaining)
            used = process_usage()
            started_ns = time.perf_counter_ns()
            try:
                answer = apply_op(ctx, op, pool)
            except Exception as exc:
                latency = (time.perf_counter_ns() - started_ns) / 1e9
                _add_usage(cell, process_usage() - used)
                timed_s += latency
                if watchdog.stop():  # the budget ran out inside this op: it was abandoned
                    cell.abandoned_s = latency
                    return truncate(
                        number,
                        f"cell budget of {budget.max_seconds:g} s reached during op #{number} "
                        f"({type(op).__name__.lower()}, abandoned: the context was closed)",
                    )
                if not isinstance(exc, ContextError):
                    raise
                record_error(cell, type(op).__name__.lower(), latency, exc)
                continue
            latency = (time.perf_counter_ns() - started_ns) / 1e9
            _add_usage(cell, process_usage() - used)
            timed_s += latency
            watchdog.stop()  # an op that finished as the budget ran out still counts
            correct = answer == expected
            size = answer_bytes(answer)
            kind = type(op).__name__.lower()
            cell.ops.append(OpRecord(kind, latency, correct, op_lines(op, oracle.length()), size))
            cell.bytes_returned += size
            cell.wrong_answers += not correct
            if not correct and cell.correct:
                cell.correct = False
                cell.status = "failed"
                cell.error = f"wrong answer at op #{number} ({op!r})"
    return len(trace.ops)


def run_cell(
    target: BenchTarget,
    config: BenchConfig,
    name: str,
    scenario_name: str,
    profile: str,
    lines: int,
) -> CellResult:
    """One cell: set the profile (restarting its seed), open a cold context, replay, check.

    ``total_s`` adds up only timed sections (open, ops, think), never the bench's own checks.
    """
    try:
        trace = get_scenario(scenario_name).sessions(lines, seed=config.seed, count=config.sessions)
    except TraceSizeError as exc:  # a recording made for a larger corpus: not run at this size
        return CellResult(name, scenario_name, "", profile, lines, status="skipped", error=str(exc))
    cell = CellResult(name, scenario_name, trace.version, profile, lines)
    corpus = target.corpus(lines)
    target.prepare(name, lines, config.segment_lines)  # upload before timing
    if profile != LOCAL_DISK:
        cell.faults_expected = target.set_profile(profile, config.seed)
    # Each cell starts from a heap without the earlier cells' garbage: what a closed context
    # leaves to the cyclic collector (a client, a pool, a text in a cycle) would be paid for
    # by whichever cell the collector runs in, and page in again there.
    gc.collect()
    used = process_usage()
    started = time.perf_counter()
    try:
        ctx = target.open(name, lines, config.segment_lines)
    except Exception as exc:
        cell.open_s = cell.total_s = cell.stall_s = time.perf_counter() - started
        _add_usage(cell, process_usage() - used)
        if isinstance(exc, ContextError):
            cell.errors += 1
        if profile != LOCAL_DISK:
            record_faults(cell, target.fault_counts())
        _bound(cell, trace, corpus, config.think_scale, target)
        return _errored(cell, exc)
    cell.open_s = time.perf_counter() - started
    _add_usage(cell, process_usage() - used)
    cell.open_requests = ctx.stats.requests
    replayed = trace
    try:
        ran = replay(cell, ctx, corpus.oracle, trace, config.think_scale, config.budget)
        if ran < len(trace.ops):  # the bound of what ran, not of the whole trace
            replayed = Trace(trace.name, trace.ops[:ran], trace.params)
    except Exception as exc:
        _errored(cell, exc)
    finally:
        stats = ctx.stats
        cell.requests, cell.bytes, cell.retries = stats.requests, stats.bytes_fetched, stats.retries
        if profile != LOCAL_DISK:
            record_faults(cell, target.fault_counts())
        try:
            ctx.close()
        except Exception as exc:  # a close failure is a defect of the context, not of the run
            _errored(cell, exc, during="close")
    ops_s = sum(op.latency_s for op in cell.ops) + cell.abandoned_s
    cell.total_s = cell.open_s + ops_s + cell.think_s
    cell.stall_s = cell.total_s - cell.think_s
    _bound(cell, replayed, corpus, config.think_scale, target)
    return cell


def _add_usage(cell: CellResult, used: Usage) -> None:
    """Count ``used`` (one timed section's CPU and page faults) in the cell's."""
    cell.user_s += used.user_s
    cell.system_s += used.system_s
    cell.page_faults += used.page_faults


def _bound(
    cell: CellResult, trace: Trace, corpus: Corpus, think_scale: float, target: BenchTarget
) -> None:
    """Fill both bounds and both ratios: ``lower_bound_s`` / ``ratio`` (demand) and
    ``physical_limit_s`` / ``physical_ratio`` (capped by the target's ceiling). Cells that read
    no network get the ``none`` profile and no ceiling (they read no server). A real network has
    no model: its bounds stay 0 and its ratios null."""
    network = registry.spec(cell.context).storage == "s3" and cell.profile != LOCAL_DISK
    profile = target.network_model(cell.profile) if network else load_profile("none")
    if profile is None:
        return
    bound = lower_bound(trace, profile, corpus.line_bytes, think_scale=think_scale)
    cell.lower_bound_s = bound.total_s
    cell.ratio = ratio(cell.total_s, bound.total_s)
    ceiling = target.ceiling_bytes_per_s if network else None
    limit = physical_limit(
        trace, profile, corpus.line_bytes, think_scale=think_scale, ceiling_bytes_per_s=ceiling
    )
    cell.physical_limit_s = limit.total_s
    cell.physical_ratio = ratio(cell.total_s, limit.total_s)


def _errored(cell: CellResult, exc: Exception, during: str = "") -> CellResult:
    """Mark the cell failed by an exception (``correct`` stays about wrong answers only)."""
    cell.status = "failed"
    if cell.error is None:
        where = f" during {during}" if during else ""
        cell.error = f"{type(exc).__name__}{where}: {exc}"
    return cell


# -- the matrix ----------------------------------------------------------------------------------


LOCAL_DISK = "local-disk"
"""Profile label of cells that read a directory: the simulated network does not apply."""


def cells_of(config: BenchConfig) -> Iterator[tuple[str, str, str, int]]:
    """Cells in run order: by size, then profile, scenario, context. Directory contexts run
    once per size and scenario, labelled ``local-disk``."""
    for lines in config.lines:
        for profile in config.profiles:
            for scenario in config.scenarios:
                for name in config.contexts:
                    if registry.spec(name).storage == "local":
                        if profile == config.profiles[0]:
                            yield name, scenario, LOCAL_DISK, lines
                        continue
                    yield name, scenario, profile, lines


@contextmanager
def bench_target(config: BenchConfig, choice: ServerChoice = EMBEDDED) -> Iterator[BenchTarget]:
    """Start the server ``choice`` names (the embedded moto by default, in its own process),
    measure its ceiling (a few seconds at most), and stop it afterwards."""
    use_local_aws_env()
    with (
        serve(choice, "none", seed=config.seed) as server,
        tempfile.TemporaryDirectory(prefix="ctxlab-bench-") as workdir,
    ):
        target = BenchTarget(server, config.seed, Path(workdir))
        target.ceiling = measure_ceiling(server)
        yield target


@dataclass(frozen=True)
class TargetKind:
    """Where a bench run sends its requests, and what the results JSON says about it."""

    meta: dict[str, Any]
    """Run metadata: at least ``target`` and ``network``."""
    open: Callable[[BenchConfig], AbstractContextManager[BenchTarget]]
    """Makes the target for a run and tears it down afterwards (also on failure / Ctrl-C)."""
    simulated: bool = True
    """Whether ``config.profiles`` name simulated network profiles."""


def simulated_target(choice: ServerChoice) -> TargetKind:
    """A run on ``choice``'s server behind the simulated network."""
    return TargetKind(
        {"target": choice.label, **choice.meta()},
        lambda config: bench_target(config, choice),
    )


MOTO_TARGET = simulated_target(EMBEDDED)


def run_bench(
    config: BenchConfig,
    on_cell_start: Callable[[tuple[str, str, str, int]], None] = lambda cell: None,
    on_cell_done: Callable[[CellResult], None] = lambda cell: None,
    target: TargetKind = MOTO_TARGET,
    resume: RunResults | None = None,
) -> RunResults:
    """Run every cell, rewriting ``config.out/results.json`` after each; Ctrl-C keeps what ran.

    With ``resume`` (the results of an earlier run of the same config, e.g. one that was
    killed), the cells it holds are kept and only the missing ones run.
    """
    for name in config.contexts:
        registry.spec(name)  # unknown names fail before any work
    for scenario_name in config.scenarios:
        _fits_some_size(get_scenario(scenario_name), config.lines)
    profiles = {name: load_profile(name) for name in config.profiles if target.simulated}
    planned = list(cells_of(config))
    results = RunResults(
        run_metadata(
            **target.meta,
            seed=config.seed,
            think_scale=config.think_scale,
            segment_lines=config.segment_lines,
            sessions=config.sessions,
            profiles={name: profile.to_dict() for name, profile in profiles.items()},
            corpora=[],
            interrupted=False,
            matrix=config.matrix(),
            budget=config.budget.to_dict(),
            planned_cells=len(planned),
        )
    )
    done: set[tuple[str, str, str, int]] = set()
    if resume is not None:
        done = _resumable(resume, config, planned)
        results = RunResults(
            {
                **resume.meta,
                "interrupted": False,
                "resumed_at": [*resume.meta.get("resumed_at", []), results.meta["started_at"]],
            },
            list(resume.cells),
        )
        results.meta.pop("finished_at", None)
    path = config.out / "results.json"
    began = time.perf_counter()
    try:
        with cold_opens(), target.open(config) as opened:
            if resume is None:
                results.meta.update(opened.run_meta())
            else:  # the cells of this part are bound by this part's own measurement
                results.meta.setdefault("resumed_ceilings_bytes_per_s", []).append(
                    opened.ceiling_bytes_per_s
                )
            todo = [cell_key for cell_key in planned if cell_key not in done]
            warmed_s = settled_s = 0.0
            group: tuple[str, str, int] | None = None
            for cell_key, network_cells in network_changes(todo):
                if network_cells:  # the first cell, or the first on another network
                    forget_endpoints()
                    warmed_s += warm_up(opened, config, network_cells)
                    results.meta["warm_up_s"] = round(warmed_s, 3)
                if cell_key[1:] != group:  # a group's first cell: one untimed run before it
                    group = cell_key[1:]
                    settled_s += settle(opened, config, cell_key)
                    results.meta["settle_s"] = round(settled_s, 3)
                on_cell_start(cell_key)
                cell = run_cell(opened, config, *cell_key)
                results.cells.append(cell)
                corpora = {c["lines"]: c for c in results.meta.get("corpora", [])}
                corpora.update({c.info["lines"]: c.info for c in opened.corpora.values()})
                results.meta["corpora"] = [corpora[lines] for lines in sorted(corpora)]
                results.write(path)
                on_cell_done(cell)
    except KeyboardInterrupt:
        results.meta["interrupted"] = True
    results.meta["finished_at"] = run_metadata()["started_at"]
    wall = time.perf_counter() - began
    results.meta["wall_s"] = round(results.meta.get("wall_s", 0.0) + wall, 3)
    results.write(path)
    return results


@contextmanager
def cold_opens() -> Iterator[None]:
    """Every cell opens cold: no open reuses metadata cached by an earlier cell (auto's
    metadata cache is off while the bench runs)."""
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = "off"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[CACHE_ENV]
        else:
            os.environ[CACHE_ENV] = previous


def network_changes(
    cells: list[tuple[str, str, str, int]],
) -> Iterator[tuple[tuple[str, str, str, int], list[tuple[str, str, str, int]]]]:
    """Each cell with the cells to warm up before it: all of them before the first, and before
    the first cell on another simulated network, that network's cells of that size (a process
    never sees its network change under one endpoint: what contexts learned of the last one,
    their hedges, must not carry over); nothing before the others."""
    network: str | None = None
    for at, cell in enumerate(cells):
        profile = cell[2]
        if at == 0:
            network = next((c[2] for c in cells if c[2] != LOCAL_DISK), None)
            yield cell, list(cells)
        elif profile not in (LOCAL_DISK, network):
            network = profile
            yield cell, [c for c in cells[at:] if c[2] == profile and c[3] == cell[3]]
        else:
            yield cell, []


def warm_up(
    target: BenchTarget, config: BenchConfig, cells: list[tuple[str, str, str, int]]
) -> float:
    """Open and read each context of ``cells`` once, untimed, before the first cell: a process's
    one-time costs (lazy imports, botocore's models, a shared client) would otherwise land on
    whichever context's cell runs first. Seconds spent; a context that fails here fails (and
    says why) in its own cells.

    It runs on the network of the first cell: what a context learns of the endpoint's latency
    (``contexts.transport.hedge``) then matches the network the cells meet, not the unshaped
    one the ceiling was measured on."""
    started = time.perf_counter()
    lines = min(cell[3] for cell in cells)
    shaped = [cell[2] for cell in cells if cell[2] != LOCAL_DISK]
    if shaped:
        target.set_profile(shaped[0], config.seed)
    for name in dict.fromkeys(cell[0] for cell in cells):
        try:
            ctx = target.open(name, lines, config.segment_lines)
        except Exception:
            continue
        try:
            ctx[0:1]
        except Exception:
            pass
        finally:
            ctx.close()
    return time.perf_counter() - started


def settle(target: BenchTarget, config: BenchConfig, cell_key: tuple[str, str, str, int]) -> float:
    """Run ``cell_key`` once and throw the result away, before the group it starts (seconds
    spent): the first cell of a group paid for memory the process had not touched lately (on
    this 2-core VM up to 8 us a page fault instead of 1.5: whichever context ran first in
    slice-sizes at 1M lines took 1.4-1.8 s longer, in both orders of a pair), so each group's
    timed cells now all follow a cell of the same work."""
    started = time.perf_counter()
    with contextlib.suppress(Exception):  # the timed cell fails the same way, and says why
        run_cell(target, config, *cell_key)
    return time.perf_counter() - started


def _fits_some_size(scenario: Scenario, sizes: tuple[int, ...]) -> None:
    """A fixed trace (a recording) runs only on corpora it fits; its cells at other sizes are
    skipped, saying why. One that fits no size of the run fails it before any work."""
    errors: list[TraceSizeError] = []
    for lines in sizes:
        try:
            scenario.trace(lines)
        except TraceSizeError as exc:
            errors.append(exc)
    if len(errors) == len(sizes):
        raise errors[-1]


def _resumable(
    previous: RunResults, config: BenchConfig, planned: list[tuple[str, str, str, int]]
) -> set[tuple[str, str, str, int]]:
    """The cells of ``previous`` to keep; ``ValueError`` if it is not a run of ``config``."""
    if BenchConfig.from_metadata(previous.meta, config.out) != config:
        raise ValueError(
            f"{config.out / 'results.json'} records a different matrix or options; "
            "resume it without other matrix options, or start a new run"
        )
    keys = {(c.context, c.scenario, c.profile, c.lines): c for c in previous.cells}
    stray = [key for key in keys if key not in planned]
    if stray:
        raise ValueError(f"results.json holds cells outside its own matrix: {stray[:3]}")
    versions: dict[tuple[str, int], str] = {}
    for (_name, scenario, _profile, lines), cell in keys.items():
        if cell.status == "skipped":  # a recording that does not fit this size: skipped again
            continue
        if (scenario, lines) not in versions:
            trace = get_scenario(scenario).sessions(lines, seed=config.seed, count=config.sessions)
            versions[scenario, lines] = trace.version
        if cell.scenario_version != versions[scenario, lines]:
            raise ValueError(
                f"the {scenario!r} trace changed since the run began (version "
                f"{cell.scenario_version} there, {versions[scenario, lines]} now): its cells "
                "would not compare; start a new run"
            )
    return set(keys)
