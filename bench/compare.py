"""Compare two bench runs cell by cell: B / A ratios of latency, time, requests and bytes.

Cells match on (context, scenario, profile, corpus lines); a scenario whose trace version differs
between the runs is not compared. Prints the ratios and plots them (RUN_B/compare-<A>.png, or
--out). `--fail-if p50:+10%` exits 1 if any matched cell's p50 in B is more than 10 % above A,
or a cell that was correct in A failed in B: a regression gate for CI. Metrics: p50, p95, p99,
total, stall, requests, bytes. The header names each run's target (moto, seaweedfs, ...), so a
moto run and a SeaweedFS run of the same matrix compare server against server; the last row is
the geometric mean of each ratio.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.results import CellResult, load_results

METRICS: dict[str, Callable[[CellResult], float]] = {
    "p50": lambda c: c.quantile(0.5),
    "p95": lambda c: c.quantile(0.95),
    "p99": lambda c: c.quantile(0.99),
    "total": lambda c: c.total_s,
    "stall": lambda c: c.stall_s,
    "requests": lambda c: float(c.requests),
    "bytes": lambda c: float(c.bytes),
}
SHOWN = ("p50", "p99", "total", "requests", "bytes")

Key = tuple[str, str, str, int]


@dataclass(frozen=True)
class Threshold:
    """``metric:+N%``: B may be at most N % above A."""

    metric: str
    percent: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = re.fullmatch(r"\s*([a-z0-9]+)\s*:\s*\+?(\d+(?:\.\d+)?)\s*%\s*", text)
        if not match or match[1] not in METRICS:
            raise argparse.ArgumentTypeError(
                f"--fail-if takes METRIC:+N% with METRIC one of {', '.join(METRICS)} "
                f"(e.g. p50:+10%), not {text!r}"
            )
        return cls(match[1], float(match[2]))


@dataclass(frozen=True)
class Pair:
    """One cell in both runs."""

    key: Key
    a: CellResult
    b: CellResult

    @property
    def comparable(self) -> bool:
        """Same trace, and the same part of it ran (a truncated cell measured only a prefix)."""
        return not self.why_not_comparable

    @property
    def why_not_comparable(self) -> str:
        """Why the pair has no ratio ('' when it is comparable)."""
        if self.a.scenario_version != self.b.scenario_version:
            return "scenario versions differ: not compared"
        truncated = self.a.truncated or self.b.truncated
        if truncated and len(self.a.ops) != len(self.b.ops):
            return (
                f"truncated after {len(self.a.ops)} vs {len(self.b.ops)} ops: not compared "
                "(--cell-seconds 0 --cell-ops 0 runs every op)"
            )
        return ""

    @property
    def both_ok(self) -> bool:
        return all(c.status == "ok" and c.correct and c.errors == 0 for c in (self.a, self.b))

    def ratio(self, metric: str) -> float | None:
        before, after = METRICS[metric](self.a), METRICS[metric](self.b)
        if not self.both_ok or not self.comparable or before <= 0:
            return None
        return after / before


def key_of(cell: CellResult) -> Key:
    return (cell.context, cell.scenario, cell.profile, cell.lines)


def pair_runs(run_a: Path, run_b: Path) -> tuple[list[Pair], list[Key], list[Key]]:
    """Matched cells, and the keys only in A / only in B."""
    a = {key_of(c): c for c in load_results(run_a / "results.json").cells}
    b = {key_of(c): c for c in load_results(run_b / "results.json").cells}
    pairs = [Pair(key, a[key], b[key]) for key in a if key in b]
    return pairs, [k for k in a if k not in b], [k for k in b if k not in a]


def describe_run(folder: Path) -> str:
    """Where a run sent its requests: the target (server), how its network was made, commit."""
    meta = load_results(folder / "results.json").meta
    commit = str(meta.get("commit") or "unknown")[:10]
    return f"target {meta.get('target', '?')} ({meta.get('network', '?')}), commit {commit}"


def geometric_mean(pairs: list[Pair], metric: str) -> float | None:
    """The geometric mean of B/A over the pairs that have a ratio (None: none has)."""
    ratios = [r for r in (pair.ratio(metric) for pair in pairs) if r is not None and r > 0]
    if not ratios:
        return None
    return math.exp(sum(math.log(r) for r in ratios) / len(ratios))


def violations(pairs: list[Pair], thresholds: list[Threshold]) -> list[str]:
    """Why the gate fails: cells over a threshold, or correct in A and failed in B."""
    found = []
    for pair in pairs:
        name = " · ".join(map(str, pair.key))
        if not pair.comparable:
            continue
        if pair.a.status == "ok" and pair.a.correct and pair.a.errors == 0 and not pair.both_ok:
            why = pair.b.error or f"{pair.b.errors} op(s) raised a named error"
            found.append(f"{name}: ok in A, {pair.b.status} in B ({why})")
            continue
        for threshold in thresholds:
            ratio = pair.ratio(threshold.metric)
            if ratio is not None and ratio > 1 + threshold.percent / 100:
                found.append(
                    f"{name}: {threshold.metric} {ratio:.2f}x A "
                    f"(+{(ratio - 1) * 100:.0f}% > +{threshold.percent:g}%)"
                )
    return found


def plot(pairs: list[Pair], path: Path, title: str) -> Path:
    """B/A per cell for p50 and total as dots on a log axis around 1 (unchanged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [p for p in pairs if p.comparable]
    labels = [" · ".join(map(str, p.key)) for p in shown]
    fig, ax = plt.subplots(figsize=(11, 1.5 + 0.28 * max(len(shown), 1)), layout="constrained")
    extremes = [1.0]
    for offset, (metric, marker) in ((-0.15, ("p50", "o")), (0.15, ("total", "s"))):
        points = [(i + offset, p.ratio(metric)) for i, p in enumerate(shown)]
        values = [(y, x) for y, x in points if x is not None and x > 0]
        extremes += [x for _, x in values]
        ax.plot([x for _, x in values], [y for y, _ in values], marker, label=f"{metric} B / A")
    for i, pair in enumerate(shown):
        if not pair.both_ok:  # shown, never dropped
            words = f"A {pair.a.status}, B {pair.b.status}" + ("" if pair.b.correct else " (WRONG)")
            ax.text(1.0, i, f" {words}", color="#c0392b", fontsize=8, va="center")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    span = max(2.0, max(extremes) * 1.3, 1 / min(extremes) * 1.3)
    ax.set_xlim(1 / span, span)
    ax.grid(True, which="both", axis="x", alpha=0.3)
    ax.set_yticks(range(len(shown)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ratio B / A (log; < 1 = B faster)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _ratio_text(ratio: float | None) -> str:
    """A column of the printed table; ``-`` where A was 0 (nothing to compare with)."""
    return f"{'-':>14}" if ratio is None else f"{ratio:>14.3f}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="the reference run folder")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="the run compared with it")
    parser.add_argument(
        "--fail-if",
        type=Threshold.parse,
        action="append",
        default=[],
        metavar="METRIC:+N%",
        help="exit 1 if B is worse than A by more than N %% on METRIC (repeatable), "
        "or a cell correct in A failed in B",
    )
    parser.add_argument("--out", type=Path, help="where to write the plot (default: RUN_B)")


def run(args: argparse.Namespace) -> int:
    for folder in (args.run_a, args.run_b):
        if not (folder / "results.json").is_file():
            print(f"ctxlab compare: no results.json in {folder}")
            return 2
    pairs, only_a, only_b = pair_runs(args.run_a, args.run_b)
    header = f"{'cell':<58}" + "".join(f"{m + ' B/A':>14}" for m in SHOWN)
    print(f"B = {args.run_b} vs A = {args.run_a}")
    for side, folder in (("A", args.run_a), ("B", args.run_b)):
        print(f"{side}: {describe_run(folder)}")
    print(header)
    for pair in pairs:
        name = " · ".join(map(str, pair.key))
        if not pair.comparable:
            cells = pair.why_not_comparable
        elif not pair.both_ok:
            cells = f"A {pair.a.status}, B {pair.b.status}"
        else:
            cells = "".join(_ratio_text(pair.ratio(m)) for m in SHOWN)
        print(f"{name:<58}{cells}")
    print(f"{'geometric mean':<58}" + "".join(_ratio_text(geometric_mean(pairs, m)) for m in SHOWN))
    for side, keys in (("A", only_a), ("B", only_b)):
        for key in keys:
            print(f"only in {side}: {' · '.join(map(str, key))}")
    out = args.out or args.run_b
    out.mkdir(parents=True, exist_ok=True)
    path = plot(pairs, out / f"compare-{args.run_a.name}.png", f"{args.run_b} vs {args.run_a}")
    print(f"plot: {path}")
    failures = violations(pairs, args.fail_if) if args.fail_if else []
    for failure in failures:
        print(f"REGRESSION {failure}")
    return 1 if failures else 0
