"""Run the bench matrix against the embedded moto S3 server behind a simulated network.

Each cell opens a fresh, cold context, replays a scenario, times every op and checks every answer
against the in-memory oracle. Results go to OUT/results.json (schema: bench/RESULTS.md), then the
report (figures, OUT/report.md, OUT/index.html) is written, as `ctxlab report OUT` would.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

import contexts
from bench import targets
from bench.network.choice import (
    SERVERS,
    SHAPINGS,
    ServerChoice,
    ServerChoiceError,
    ServerStartError,
)
from bench.results import CellResult, RunResults, load_results
from bench.runner import BenchConfig, CellBudget, TargetKind, run_bench, simulated_target
from scenarios import RECORDED, SCENARIOS, get_scenario
from scenarios.trace import TraceSizeError

_Number = TypeVar("_Number", int, float)

DEFAULT_PROFILES = ("seed",)
DEFAULT_SCENARIOS = ("mixed-session", "chunk-then-batch", "rlms-session")
"""What ``make bench`` runs: whole RLM sessions — a scripted 20-30-round session, the rlms
batching pattern, a recorded real rlms loop — and its overall winner is computed over them.
The rest of the library (``peek``, ``linear-scan``, ...) by ``--scenarios``."""
DEFAULT_LINES = (100_000, 1_000_000)
FULL_LINES = (2_000_000,)
"""What ``--full`` adds to the sizes: ~200 MB, the size the design notes expect."""
DEFAULT_THINK_SCALE = 0.01
DEFAULT_BUDGET = CellBudget(max_seconds=10.0)
"""Every cell of the default matrix stops after 10 timed seconds: a context that stalls an RLM
session longer than that is marked truncated and cannot win, and the matrix (100k and 1M lines)
ends in under 10 minutes on 2 cores instead of hours."""
QUICK_PROFILES = ("seed",)
QUICK_LINES = (20_000,)
QUICK_THINK_SCALE = 0.01
QUICK_BUDGET = CellBudget(max_ops=200, max_seconds=1.0)
"""``--quick``: every cell stops after 200 storage ops or 1 timed second."""


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--lines takes integers like 100000,1000000: {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--lines needs at least one positive size")
    return sizes


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"--sessions takes a positive integer, not {text!r}")
    return count


def add_arguments(parser: argparse.ArgumentParser, *, scenarios: bool = True) -> None:
    """The ``ctxlab bench`` options (``ctxlab replay`` reuses them without ``--scenarios``)."""
    parser.add_argument(
        "--contexts", type=_names, help="comma list (default: every registered context)"
    )
    if scenarios:
        _add_scenarios_argument(parser)
    _add_matrix_arguments(parser)


def _add_scenarios_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenarios",
        type=_names,
        help=f"comma list of {', '.join([*SCENARIOS, *RECORDED])}, 'all', or paths of .jsonl "
        "trace files "
        f"(default: {','.join(DEFAULT_SCENARIOS)})",
    )


def _add_matrix_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        dest="profiles",
        type=_names,
        help=f"network profiles or profile files, comma list (default: {','.join(DEFAULT_PROFILES)})",
    )
    parser.add_argument(
        "--lines", type=_sizes, help="corpus sizes in lines, comma list (default: 100000,1000000)"
    )
    parser.add_argument(
        "--server",
        default="moto",
        help=f"the S3 server behind the simulated network: {' or '.join(SERVERS)} (started "
        "for the run on 127.0.0.1 and stopped after it; seaweedfs needs the 'seaweedfs' extra), "
        "or the URL of one already running, e.g. http://127.0.0.1:8333 (default: %(default)s)",
    )
    parser.add_argument(
        "--shaping",
        choices=SHAPINGS,
        help="where the simulated network sits: inside moto's process (middleware, moto's "
        "default) or a forwarding proxy in front of the server (proxy, every other server)",
    )
    targets.add_arguments(parser)  # --target, --endpoint-url, --region, --aws-profile, ...
    parser.add_argument("--out", type=Path, help="output folder (default: reports/<timestamp>)")
    parser.add_argument("--seed", type=int, default=0, help="corpus, scenario and network seed")
    parser.add_argument(
        "--think-scale",
        type=float,
        help=f"multiply think pauses (default {DEFAULT_THINK_SCALE}; quick: 0.01; replay: the "
        "recording's own scale)",
    )
    parser.add_argument(
        "--segment-lines", type=int, default=1000, help="lines per segment (default 1000)"
    )
    parser.add_argument(
        "--sessions",
        type=_count,
        default=1,
        help="replay N sessions of each scenario back to back per cell, seeds SEED..SEED+N-1 "
        "(long fault runs: --profile faulty --scenarios mixed-session --sessions 250)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="write results.json only (no figures, no report)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 20k lines, seed profile, think scale 0.01, every cell bounded to "
        f"{QUICK_BUDGET.max_ops} ops / {QUICK_BUDGET.max_seconds:g} s (all scenarios x all "
        "contexts in about 5 minutes on 2 cores)",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="add 2,000,000 lines (~200 MB) to the corpus sizes",
    )
    parser.add_argument(
        "--cell-seconds",
        type=_zero_or_more(float, "--cell-seconds"),
        help="stop each cell after this many timed seconds, marked truncated (0: no limit; "
        f"default {DEFAULT_BUDGET.max_seconds:g}, quick {QUICK_BUDGET.max_seconds:g})",
    )
    parser.add_argument(
        "--cell-ops",
        type=_zero_or_more(int, "--cell-ops"),
        help=f"stop each cell after this many storage ops (0: no limit; quick {QUICK_BUDGET.max_ops})",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue an interrupted or killed run: its matrix and options, only missing cells",
    )


def _zero_or_more(parse: Callable[[str], _Number], flag: str) -> Callable[[str], _Number]:
    """An argparse type: a number >= 0 (0 lifts that limit of the cell budget)."""

    def parsed(text: str) -> _Number:
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or value < 0:
            raise argparse.ArgumentTypeError(f"{flag} takes a number >= 0, not {text!r}")
        return value

    return parsed


def budget_from_args(args: argparse.Namespace) -> CellBudget:
    """``--quick`` or the default budget, with ``--cell-seconds`` / ``--cell-ops`` on top
    (0 lifts that limit)."""
    base = QUICK_BUDGET if args.quick else DEFAULT_BUDGET
    seconds, ops = base.max_seconds, base.max_ops
    if args.cell_seconds is not None:
        seconds = args.cell_seconds or None
    if args.cell_ops is not None:
        ops = args.cell_ops or None
    return CellBudget(max_ops=ops, max_seconds=seconds)


def expand_scenarios(
    names: tuple[str, ...], sizes: tuple[int, ...] | None = None, *, implicit: bool = False
) -> tuple[str, ...]:
    """``all`` stands for every named scenario (generators, then recorded loops), in library
    order. With ``sizes``, a recorded loop that came in through ``all`` (or the defaults,
    ``implicit``) and fits none of them is left out (see :func:`unfit_recordings`); one named
    on purpose stays, and the run refuses it."""
    expanded: list[str] = []
    for name in names:
        for item in [*SCENARIOS, *RECORDED] if name == "all" else (name,):
            maybe_left_out = (implicit or name == "all") and item in RECORDED
            if maybe_left_out and sizes is not None and not _fits_a_size(item, sizes):
                continue
            if item not in expanded:
                expanded.append(item)
    return tuple(expanded)


def _fits_a_size(name: str, sizes: tuple[int, ...]) -> bool:
    scenario = get_scenario(name)
    for lines in sizes:
        try:
            scenario.trace(lines)
        except TraceSizeError:
            continue
        return True
    return False


def unfit_recordings(config: BenchConfig) -> list[str]:
    """Recorded loops of the library that this run leaves out: made for larger corpora than
    every size of the run (``--quick``'s 20,000 lines, say)."""
    return [
        f"{name} (recorded at {RECORDED[name].trace().corpus_lines or 0:,} lines)"
        for name in RECORDED
        if name not in config.scenarios and not _fits_a_size(name, config.lines)
    ]


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Defaults, then --quick, then explicit options."""
    out = args.out or Path("reports") / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    lines = args.lines or (QUICK_LINES if args.quick else DEFAULT_LINES)
    if args.full:
        lines = tuple(dict.fromkeys((*lines, *FULL_LINES)))
    return BenchConfig(
        contexts=args.contexts or tuple(contexts.available()),
        scenarios=expand_scenarios(
            args.scenarios or DEFAULT_SCENARIOS, lines, implicit=args.scenarios is None
        ),
        profiles=args.profiles or (QUICK_PROFILES if args.quick else DEFAULT_PROFILES),
        lines=lines,
        out=out,
        seed=args.seed,
        think_scale=(
            args.think_scale
            if args.think_scale is not None
            else (QUICK_THINK_SCALE if args.quick else DEFAULT_THINK_SCALE)
        ),
        segment_lines=args.segment_lines,
        sessions=args.sessions,
        budget=budget_from_args(args),
    )


_MATRIX_OPTIONS = (
    "contexts",
    "scenarios",
    "profiles",
    "lines",
    "out",
    "think_scale",
    "cell_seconds",
    "cell_ops",
)


def resumed_config(args: argparse.Namespace) -> tuple[BenchConfig, RunResults]:
    """The config and finished cells of the run in ``--resume RUN_DIR``."""
    run_dir: Path = args.resume
    given = [f"--{name.replace('_', '-')}" for name in _MATRIX_OPTIONS if getattr(args, name, None)]
    given += [flag for flag, on in (("--quick", args.quick), ("--full", args.full)) if on]
    if given:
        raise SystemExit(
            f"ctxlab bench: --resume takes the matrix and options from {run_dir}; "
            f"drop {', '.join(given)}"
        )
    path = run_dir / "results.json"
    if not path.is_file():
        raise SystemExit(f"ctxlab bench: nothing to resume: {path} does not exist")
    try:
        previous = load_results(path)
        return BenchConfig.from_metadata(previous.meta, run_dir), previous
    except (ValueError, KeyError) as exc:
        raise SystemExit(f"ctxlab bench: cannot resume {run_dir}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    """Run the matrix with a progress bar and print the summary; non-zero if any cell failed."""
    previous: RunResults | None = None
    if getattr(args, "resume", None) is not None:
        config, previous = resumed_config(args)
    else:
        config = config_from_args(args)
    console = Console()
    if not console.is_terminal:  # logs and CI: do not squeeze the table into 80 columns
        console = Console(width=160)
    simulated = _simulated(args)  # a bad --server fails before a real target's preflight
    config, real_target = targets.resolve(args, config, console.print)
    target = real_target or simulated
    left_out = unfit_recordings(config)
    if left_out:
        console.print(
            f"[yellow]not run[/]: {', '.join(left_out)}: larger than every corpus size of this "
            "run (add --lines 100000 to run them)"
        )
    if previous is not None:
        target_name = target.meta["target"]
        if previous.meta.get("target") != target_name:
            raise SystemExit(
                f"ctxlab bench: {config.out} ran against {previous.meta.get('target')!r}; "
                f"resume it with the same --target / --server, not {target_name!r}"
            )
        console.print(f"resuming {config.out}: {len(previous.cells)} finished cells kept")
    console.print(
        f"[bold]ctxlab bench[/]: {config.cell_count} cells — contexts {', '.join(config.contexts)}"
        f"; scenarios {', '.join(config.scenarios)}; profiles {', '.join(config.profiles)}"
        f"; lines {', '.join(f'{n:,}' for n in config.lines)}; think x{config.think_scale:g}"
        f"; {_budget_text(config.budget)}"
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        done = len(previous.cells) if previous is not None else 0
        task = progress.add_task("starting server", total=config.cell_count, completed=done)

        def started(cell: tuple[str, str, str, int]) -> None:
            name, scenario, profile, lines = cell
            progress.update(task, description=f"{name} · {scenario} · {profile} · {lines:,}")

        results = _run_checked(
            config,
            on_cell_start=started,
            on_cell_done=lambda cell: progress.advance(task),
            target=target,
            resume=previous,
        )
    console.print(summary_table(results))
    failed = [cell for cell in results.cells if cell.status != "ok"]
    for cell in failed:
        console.print(f"[red]FAILED[/] {_cell_name(cell)}: {cell.error}")
    truncated = sum(cell.truncated for cell in results.cells)
    if truncated:
        console.print(
            f"[yellow]{truncated} cells truncated by the cell budget[/] (never winners; "
            "--cell-seconds 0 --cell-ops 0 lifts it)"
        )
    if results.meta.get("interrupted"):
        console.print(
            f"[yellow]interrupted: finished cells were kept[/]; continue with "
            f"ctxlab bench --resume {config.out}"
        )
    console.print(f"results: {config.out / 'results.json'}")
    status = 1 if failed or results.meta.get("interrupted") else 0
    if results.cells and not args.no_report:
        from bench.report.build import build_report  # matplotlib: only when reporting

        files = build_report(config.out)
        console.print(f"report: {files.markdown} and {files.html} ({len(files.images)} figures)")
    return status


def _simulated(args: argparse.Namespace) -> TargetKind:
    """The simulated-network target that ``--server`` and ``--shaping`` name."""
    server = getattr(args, "server", "moto")
    shaping = getattr(args, "shaping", None)
    if getattr(args, "target", "moto") != "moto" and (server != "moto" or shaping):
        raise SystemExit(
            "ctxlab bench: --server and --shaping choose the simulated network's server; "
            "--target s3://... runs on the real network (drop one of them)"
        )
    try:
        return simulated_target(ServerChoice.parse(server, shaping))
    except ServerChoiceError as error:
        raise SystemExit(f"ctxlab bench: {error}") from None


def _run_checked(config: BenchConfig, **options: Any) -> RunResults:
    """``run_bench``, with a trace that fits no corpus size of the run or a server that did not
    start as a clean exit."""
    try:
        return run_bench(config, **options)
    except (TraceSizeError, ServerStartError) as exc:
        raise SystemExit(f"ctxlab bench: {exc}") from None


def _budget_text(budget: CellBudget) -> str:
    limits = [
        f"{budget.max_ops:,} ops" if budget.max_ops else "",
        f"{budget.max_seconds:g} s" if budget.max_seconds else "",
    ]
    shown = " / ".join(part for part in limits if part)
    return f"cell budget {shown}" if shown else "no cell budget"


def _cell_name(cell: CellResult) -> str:
    return f"{cell.context} · {cell.scenario} · {cell.profile} · {cell.lines:,}"


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def summary_table(results: RunResults) -> Table:
    """One row per cell: p50, p99, total, stall, requests, bytes, correct."""
    table = Table(title="bench summary (p50/p99 per op; total = open + ops + think)")
    text_columns = ("context", "scenario", "profile")
    for column in (*text_columns, "lines", "p50", "p99", "open", "total", "stall", "requests"):
        table.add_column(column, justify="left" if column in text_columns else "right")
    table.add_column("bytes", justify="right")
    table.add_column("result", justify="right")
    for cell in results.cells:
        style = None if cell.status == "ok" else "red"
        table.add_row(
            cell.context,
            cell.scenario,
            cell.profile,
            f"{cell.lines:,}",
            _seconds(cell.quantile(0.5)),
            _seconds(cell.quantile(0.99)),
            _seconds(cell.open_s),
            _seconds(cell.total_s),
            _seconds(cell.stall_s),
            f"{cell.requests:,}",
            f"{cell.bytes:,}",
            _result_text(cell),
            style=style,
        )
    return table


def _result_text(cell: CellResult) -> str:
    if cell.status != "ok":
        return "WRONG" if not cell.correct else "ERROR"
    return "truncated" if cell.truncated else "ok"
