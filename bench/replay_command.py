"""Replay trace files (recorded RLM runs or canned traces) through the bench.

Each trace file runs as one scenario for every chosen context, profile and size, checked
against the in-memory oracle like any bench cell; results go to OUT/results.json (same schema,
bench/RESULTS.md), the cell's scenario is the file's path and its version the trace's hash.
Corpus size defaults to the trace's own ``lines`` parameter when it has one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench import bench_command
from scenarios import Trace


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``TRACE ...`` and the bench's matrix options."""
    parser.add_argument(
        "traces",
        nargs="+",
        type=Path,
        help="trace files (JSON Lines), e.g. scenarios/traces/peek.jsonl",
    )
    bench_command.add_arguments(parser, scenarios=False)


def run(args: argparse.Namespace) -> int:
    """Check the files, then run them as the bench's scenarios."""
    lines: list[int] = []
    for path in args.traces:
        if path.suffix != ".jsonl" or not path.is_file():
            raise SystemExit(f"ctxlab replay: {path} is not a .jsonl trace file")
        try:
            params = Trace.load(path).params
        except (ValueError, KeyError) as exc:
            raise SystemExit(f"ctxlab replay: {path} is not a valid trace: {exc}") from None
        if isinstance(params.get("lines"), int) and params["lines"] > 0:
            lines.append(params["lines"])
    args.scenarios = tuple(str(path) for path in args.traces)
    if args.lines is None:
        args.lines = tuple(sorted(set(lines))) or bench_command.QUICK_LINES
    return bench_command.run(args)
