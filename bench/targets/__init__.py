"""Real bench targets: any S3 endpoint (AWS S3, S3 Express, MinIO, R2, ...) instead of moto.

``ctxlab bench --target s3://bucket/prefix`` runs the same matrix as the moto target with three
differences: requests go to a real endpoint (standard credential chain), the simulated network is
off (cells are labelled ``real``), and the run is guarded: a preflight turns missing credentials,
a missing bucket, denied access and a wrong region into one-line errors before any work; an
estimate of requests and bytes is confirmed first (``--yes`` skips the question); corpora go under
a run-specific prefix that is deleted afterwards, also on failure or Ctrl-C (unless ``--keep``).

One module each: ``real`` (the target named by ``--target``), ``preflight`` (the checks before
a run, the cleanup after it), ``estimate`` (the cost and its confirmation) and ``direct`` (the
target during the run). The embedded moto target is ``bench.runner``'s default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace

from bench.runner import BenchConfig, TargetKind
from bench.targets.direct import DirectTarget, real_target_kind
from bench.targets.estimate import Estimate, confirm, estimate, uniform_index
from bench.targets.preflight import WrongRegionError, delete_prefix, preflight
from bench.targets.real import REAL_PROFILE, RealTarget, add_arguments, parse_target
from contexts.errors import ContextError


def resolve(
    args: argparse.Namespace, config: BenchConfig, report: Callable[[str], None]
) -> tuple[BenchConfig, TargetKind | None]:
    """For ``--target s3://...``: preflight, estimate, confirmation; ``None`` for moto."""
    target = parse_target(args)
    if target is None:
        return config, None
    config = replace(config, profiles=(REAL_PROFILE,))
    try:
        preflight(target)
    except ContextError as exc:
        raise SystemExit(f"ctxlab bench: {exc}") from None
    cost = estimate(config)
    report(
        f"real target {target.run_url} ({target.endpoint_url or 'AWS S3'}): {cost.describe()}; "
        + ("kept afterwards (--keep)" if target.keep else "deleted afterwards")
    )
    confirm(f"Run {config.cell_count} cells against {target.run_url}?", yes=args.yes)
    return config, real_target_kind(target, report)


__all__ = [
    "REAL_PROFILE",
    "DirectTarget",
    "Estimate",
    "RealTarget",
    "WrongRegionError",
    "add_arguments",
    "confirm",
    "delete_prefix",
    "estimate",
    "parse_target",
    "preflight",
    "real_target_kind",
    "resolve",
    "uniform_index",
]
