"""Replay trace files (recorded RLM runs or canned traces) through the bench.

Each trace file runs as one scenario for every chosen context, profile and size, checked
against the in-memory oracle like any bench cell; results go to OUT/results.json (same schema,
bench/RESULTS.md), the cell's scenario is the file's path and its version the trace's hash.

What the traces say is the default: the corpus size is the trace's own ``lines`` (with several
traces, each of their sizes that every one of them fits, so at least the largest); the think
scale is the one a recording was made at (``think_scale`` in its header; traces that do not
say, such as generator traces, leave the bench's default, and recordings that disagree need
``--think-scale``). Before any work every trace is checked against every size: an op that
reaches past the end of a corpus smaller than the trace's own is an error
(:func:`scenarios.trace.check_fits`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import bench_command
from scenarios import Trace, get_scenario
from scenarios.trace import TraceSizeError, check_fits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``TRACE ...`` and the bench's matrix options."""
    parser.add_argument(
        "traces",
        nargs="+",
        type=Path,
        help="trace files (JSON Lines), e.g. scenarios/traces/peek.jsonl",
    )
    bench_command.add_arguments(parser, scenarios=False)


def resolve(args: argparse.Namespace) -> None:
    """Load and check the files, and fill in what they decide: ``args.scenarios``, ``args.lines``
    and ``args.think_scale`` (each only when not given). ``SystemExit`` names the problem."""
    traces: dict[Path, Trace] = {}
    for path in args.traces:
        if path.suffix != ".jsonl" or not path.is_file():
            raise SystemExit(f"ctxlab replay: {path} is not a .jsonl trace file")
        try:
            traces[path] = Trace.load(path)
        except (ValueError, KeyError) as exc:
            raise SystemExit(f"ctxlab replay: {path} is not a valid trace: {exc}") from None
    args.scenarios = tuple(str(path) for path in args.traces)
    if args.lines is None:
        args.lines = default_lines(list(traces.values())) or bench_command.QUICK_LINES
    if args.think_scale is None:
        scales = {path: t.think_scale for path, t in traces.items() if t.think_scale is not None}
        if len(set(scales.values())) > 1:
            made = ", ".join(f"{path} at x{scale:g}" for path, scale in scales.items())
            raise SystemExit(
                f"ctxlab replay: the recordings were made at different think scales ({made}); "
                "pass --think-scale to choose one for all of them"
            )
        if scales:
            args.think_scale = next(iter(scales.values()))
    for path in args.traces:
        scenario = get_scenario(str(path))
        for lines in args.lines:
            try:
                scenario.trace(lines)
            except TraceSizeError as exc:
                raise SystemExit(f"ctxlab replay: {exc}") from None


def default_lines(traces: list[Trace]) -> tuple[int, ...]:
    """The traces' own sizes that every trace fits, ascending (empty when none says a size)."""
    sizes = sorted({t.corpus_lines for t in traces if t.corpus_lines})
    return tuple(size for size in sizes if all(_fits(t, size) for t in traces))


def _fits(trace: Trace, lines: int) -> bool:
    try:
        check_fits(trace, lines)
    except TraceSizeError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    """Check the files, then run them as the bench's scenarios (``--resume``: the run's own)."""
    if args.resume is None:
        resolve(args)
    return bench_command.run(args)
