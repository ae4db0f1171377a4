"""The `ctxlab` command line: one argparse tree, one module per subcommand.

A subcommand module provides `add_arguments(parser)` and `run(args) -> int`, and its docstring is
the subcommand's description. Register it in `_TOP_LEVEL` (`ctxlab bench`) or in `_COMMANDS` under
its group (`ctxlab network calibrate`). Every registered module is imported to build the parser, so keep their
top-level imports light. Also runnable as `python -m bench.cli`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# top-level command -> (module, one-line help)
_TOP_LEVEL: dict[str, tuple[str, str]] = {
    "bench": ("bench.bench_command", "run contexts x scenarios x profiles x sizes; results JSON"),
    "ingest": ("bench.ingest_command", "append session logs (JSON Lines) to a shared context"),
    "upload": ("bench.upload_command", "store a text file as a context (S3, directory, Modal)"),
    "record": ("bench.record_command", "record an RLM run's context calls as a trace file"),
    "replay": ("bench.replay_command", "replay trace files through the bench; results JSON"),
    "report": ("bench.report_command", "figures, report.md and index.html for a bench run"),
    "compare": ("bench.compare", "per-cell ratios of two runs; --fail-if p50:+10%% for CI"),
}

# group -> subcommand -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "network": (
        "the simulated network: profiles and calibration",
        {
            "calibrate": (
                "bench.network.calibrate",
                "measure real clients on a profile next to its prediction",
            ),
            "throughput": (
                "bench.throughput",
                "small-GET requests/s per context (1,000 one-line segments as one batch)",
            ),
        },
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The full `ctxlab` parser; each leaf sets `handler` to its module's `run`."""
    parser = argparse.ArgumentParser(
        prog="ctxlab", description="rlm-context-lab: line-sliceable contexts and their bench."
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in _TOP_LEVEL.items():
        module = importlib.import_module(module_name)
        command = groups.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    for group, (group_help, commands) in _COMMANDS.items():
        group_parser = groups.add_parser(group, help=group_help, description=group_help)
        subcommands = group_parser.add_subparsers(
            dest="command", metavar="SUBCOMMAND", required=True
        )
        for name, (module_name, help_text) in commands.items():
            module = importlib.import_module(module_name)
            sub = subcommands.add_parser(name, help=help_text, description=module.__doc__)
            module.add_arguments(sub)
            sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `ctxlab` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
