"""``build_report(run_dir)``: figures, the winner tables and the headline, written as
``report.md`` and a self-contained ``index.html`` next to ``results.json``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.lower_bound import MODEL, PHYSICAL_MODEL
from bench.report import figures
from bench.report.data import Group, RunData, is_peer, label, ok, reads_network, verdict
from bench.report.document import (
    Block,
    Code,
    Heading,
    Image,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from bench.report.winners import (
    BASELINE,
    Headline,
    headline,
    import_line,
    overall,
    physical_score,
    usage,
    winners,
)
from bench.results import CellResult


@dataclass(frozen=True)
class ReportFiles:
    """What ``build_report`` wrote."""

    markdown: Path
    html: Path
    images: tuple[Path, ...]


def seconds(value: float) -> str:
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def times(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}x"


def build_report(run_dir: Path) -> ReportFiles:
    """Write the report of the run in ``run_dir`` (which holds ``results.json``)."""
    data = RunData(run_dir)
    images: list[Image] = []

    def figure(path: Path | None, caption: str) -> None:
        if path is not None:
            images.append(Image(path, caption))

    for group in data.groups():
        where = f"profile {group.profile}, {data.corpus_text(group.lines)}"
        figure(figures.latency_figure(data, group, run_dir), f"Op latency p50/p95/p99 — {where}")
        figure(
            figures.total_stall_figure(data, group, run_dir),
            f"Total vs stall time, with the demand bound and the physical limit — {where}",
        )
        figure(figures.cdf_figure(data, group, run_dir), f"Latency CDF — {where}")
        figure(
            figures.slice_scaling_figure(data, group, run_dir),
            f"Latency vs slice size — {where}",
        )
        figure(
            figures.amplification_figure(data, group, run_dir),
            f"Request and byte amplification — {where}",
        )
        figure(
            figures.ratio_heatmap(data, group, run_dir),
            f"Ratio to the demand bound and to the physical limit — {where}",
        )
    for profile in data.profiles:
        figure(
            figures.context_scaling_figure(data, profile, run_dir),
            f"Total time vs context size — profile {profile}",
        )
    blocks = [
        *_summary(data),
        *_headline(data),
        *_winners(data),
        *_bounds(data),
        *_reliability(data),
        Heading("Figures"),
        Paragraph(
            "Every figure's footer states the profile, corpus size, machine and commit. "
            "Peers (s3fs) are labelled `(peer)`; directory contexts `[local disk]` read local "
            "files, not the simulated network. Failed cells are drawn as FAILED or WRONG."
        ),
        *images,
        *_all_cells(data),
    ]
    title = f"ctxlab bench report — {run_dir.name}"
    markdown = run_dir / "report.md"
    markdown.write_text(to_markdown([Heading(title, 1), *blocks]), encoding="utf-8")
    page = run_dir / "index.html"
    page.write_text(to_html([Heading(title, 1), *blocks], title), encoding="utf-8")
    return ReportFiles(markdown, page, tuple(image.path for image in images))


def _summary(data: RunData) -> list[Block]:
    meta = data.meta
    truncated = [cell for cell in data.cells if verdict(cell) == "TRUNCATED"]
    failed = [cell for cell in data.cells if not ok(cell) and verdict(cell) != "TRUNCATED"]
    profiles = ", ".join(data.profiles)
    corpora = "; ".join(data.corpus_text(n) for n in data.sizes)
    budget = meta.get("budget") or {}
    limits = [
        f"{budget['max_ops']:,} ops" if budget.get("max_ops") else "",
        f"{budget['max_seconds']:g} s" if budget.get("max_seconds") else "",
    ]
    facts = [
        f"**{len(data.cells)} cells**, {len(failed)} failed, {len(truncated)} truncated",
        f"commit `{data.commit}`",
        f"machine {data.machine}",
        *([f"libraries {data.libraries}"] if data.libraries else []),
        f"target {meta.get('target', '?')} ({meta.get('network', '?')})",
        f"profiles {profiles}",
        f"corpora {corpora}",
        f"think x{meta.get('think_scale', '?')}",
        f"seed {meta.get('seed', '?')}",
        f"started {meta.get('started_at', '?')}, finished {meta.get('finished_at', '?')}",
    ]
    if any(limits):
        facts.append(
            f"cell budget {' / '.join(part for part in limits if part)} (a truncated cell "
            "stopped there, is marked TRUNCATED and never wins)"
        )
    planned = meta.get("planned_cells")
    if meta.get("interrupted") or (isinstance(planned, int) and len(data.cells) < planned):
        of = f" ({len(data.cells)} of {planned} cells)" if isinstance(planned, int) else ""
        facts.append(
            f"**partial run{of}: only finished cells are shown; continue it with "
            f"`ctxlab bench --resume {data.run_dir}`**"
        )
    return [Paragraph(" · ".join(facts))]


def _pick(cell: CellResult | None) -> str:
    if cell is None:
        return "—"
    if cell.truncated:  # stopped by the budget: it would have taken at least this long
        return f"`{cell.context}` ≥ {seconds(cell.total_s)} (truncated)"
    return f"`{cell.context}` {seconds(cell.total_s)}"


def _faster_than_baseline(row: Headline, fast: CellResult | None) -> str:
    """``times`` of ``fast`` vs the baseline; a floor (``≥``) when the baseline was cut."""
    text = times(row.speedup(fast, row.baseline))
    cut = row.baseline is not None and row.baseline.truncated
    return f"≥ {text}" if cut and text != "—" else text


def _headline(data: RunData) -> list[Block]:
    blocks: list[Block] = [
        Heading("Headline: best lab context vs best s3fs peer vs s3-sequential"),
        Paragraph(
            "Total time per scenario (open + ops + think) of the best correct lab context, "
            f"the best correct s3fs peer (ranked as the winners are) and the `{BASELINE}` "
            "baseline; "
            "`a ÷ b` columns say how many times faster `a` is than `b`. The s3fs peers read whole "
            "fsspec blocks (50 MiB unless `block_size` is set): a block can hold a whole corpus, "
            "so one GET fetches everything, which pays off when bandwidth is free (`seed`) and "
            "costs when it is not."
        ),
    ]
    for group in data.groups():
        rows: list[Headline] = headline(data, group)
        blocks.append(Paragraph(f"**profile {group.profile}, {data.corpus_text(group.lines)}**"))
        blocks.append(
            Table(
                (
                    "scenario",
                    "best lab",
                    "best s3fs peer",
                    BASELINE,
                    f"lab ÷ {BASELINE}",
                    f"s3fs ÷ {BASELINE}",
                    "lab ÷ s3fs",
                ),
                tuple(
                    (
                        row.scenario,
                        _pick(row.lab),
                        _pick(row.peer),
                        _pick(row.baseline),
                        _faster_than_baseline(row, row.lab),
                        _faster_than_baseline(row, row.peer),
                        times(row.speedup(row.lab, row.peer)),
                    )
                    for row in rows
                ),
            )
        )
    return blocks


def _winners(data: RunData) -> list[Block]:
    segment_lines = data.meta.get("segment_lines")
    blocks: list[Block] = [
        Heading("Winners"),
        Paragraph(
            "The correct context that reads S3 closest to the physical limit, per scenario "
            "(lowest `÷ physical`; by total time where a cell has no physical limit; within one "
            "scenario the limit is shared, so that is also the fastest). The in-memory oracle and "
            "directory contexts do not compete; a context with any failed cell is never a winner."
        ),
        Table(
            (
                "profile",
                "corpus",
                "scenario",
                "winner",
                "total",
                "÷ physical",
                "÷ demand bound",
                "runner-up",
                "import",
            ),
            tuple(
                (
                    w.group.profile,
                    f"{w.group.lines:,}",
                    w.scenario,
                    f"`{label(w.cell.context)}`",
                    seconds(w.cell.total_s),
                    times(w.cell.physical_ratio),
                    times(w.cell.ratio),
                    "—"
                    if w.runner_up is None
                    else f"`{w.runner_up.context}` "
                    f"({times(w.runner_up.total_s / max(w.cell.total_s, 1e-9))} slower)",
                    f"`{import_line(w.cell.context)}`",
                )
                for w in winners(data)
            ),
        ),
    ]
    for group in data.groups():
        ranking = overall(data, group)
        where = f"profile {group.profile}, {data.corpus_text(group.lines)}"
        if not ranking:
            blocks.append(
                Paragraph(
                    f"Overall ({where}): no S3 context was correct and finished (not truncated) everywhere."
                )
            )
            continue
        best, score = ranking[0]
        others = ", ".join(f"`{name}` {score:.2f}" for name, score in ranking[1:4])
        physical = physical_score(data, group, best)
        limit = "" if physical is None else f", {physical:.3g}x the physical limit"
        blocks += [
            Paragraph(
                f"**Overall ({where}): `{label(best)}`** — {score:.2f}x the best per scenario"
                f"{limit} (geometric means over scenarios; next: {others or 'none'}). Use it:"
            ),
            Code("\n".join(usage(best, segment_lines))),
        ]
    return blocks


def _bounds(data: RunData) -> list[Block]:
    """The two bounds, one paragraph each, the run's ceiling, and the extreme ratios."""
    blocks: list[Block] = [
        Heading("The bounds: demand bound and physical limit"),
        Paragraph(
            f"**Demand bound** (the lower bound: `lower_bound_s`, `÷ demand bound`). {MODEL}"
        ),
        Paragraph(f"**Physical limit** (`physical_limit_s`, `÷ physical`). {PHYSICAL_MODEL}"),
        Paragraph(_ceiling_text(data.meta)),
    ]
    demand = _extremes(data, lambda c: c.ratio)
    if demand:
        worst, best = demand
        blocks.append(
            Paragraph(
                f"Worst ratio to the demand bound: `{worst.context}` on {worst.scenario} "
                f"({worst.profile}, {worst.lines:,} lines): {seconds(worst.total_s)} vs a bound of "
                f"{seconds(worst.lower_bound_s)} = **{times(worst.ratio)}** "
                f"({worst.requests:,} requests, {worst.bytes:,} bytes). Best: `{best.context}` on "
                f"{best.scenario}: {times(best.ratio)}."
            )
        )
    physical = _extremes(data, lambda c: c.physical_ratio)
    if physical:
        worst, best = physical
        blocks.append(
            Paragraph(
                f"Farthest from the physical limit: `{worst.context}` on {worst.scenario} "
                f"({worst.profile}, {worst.lines:,} lines): {seconds(worst.total_s)} vs a limit "
                f"of {seconds(worst.physical_limit_s)} = **{times(worst.physical_ratio)}**. "
                f"Closest: `{best.context}` on {best.scenario} ({best.profile}, "
                f"{best.lines:,} lines): {times(best.physical_ratio)}."
            )
        )
    return blocks


def _extremes(
    data: RunData, ratio_of: Callable[[CellResult], float | None]
) -> tuple[CellResult, CellResult] | None:
    """The correct, finished S3 cells with the largest and the smallest ratio (None: no ratio)."""
    rated = [
        c for c in data.cells if ok(c) and ratio_of(c) is not None and reads_network(c.context)
    ]
    if not rated:
        return None
    return max(rated, key=lambda c: ratio_of(c) or 0.0), min(
        rated, key=lambda c: ratio_of(c) or 0.0
    )


def _ceiling_text(meta: dict[str, Any]) -> str:
    """One sentence on the run's ceiling: its figure and how it was measured, or why none."""
    ceiling = meta.get("ceiling")
    rate = meta.get("ceiling_bytes_per_s")
    if isinstance(ceiling, dict) and rate:
        return (
            f"Ceiling of this run: **{rate / 1e6:,.0f} MB/s** ({ceiling.get('method', '?')}); "
            "every S3 cell's physical limit moves bytes no faster than that."
        )
    if isinstance(ceiling, dict) and ceiling.get("error"):
        return (
            f"The ceiling could not be measured ({ceiling['error']}): physical limits move bytes "
            "at the profile's bandwidth alone (free where it is unlimited)."
        )
    return (
        "This run has no measured ceiling (a real target, or a run from before the ceiling was "
        "measured): physical limits are 0 (no model) or move bytes at the profile's bandwidth "
        "alone."
    )


def _reliability(data: RunData) -> list[Block]:
    """Per context: ops, failed cells, wrong answers, named errors, requests, retries, and the
    faults the simulated network injected, by kind (columns only for kinds that occurred)."""
    fault_kinds = sorted({kind for c in data.cells for kind, n in c.faults.items() if n})
    header: tuple[str, ...] = (
        "context",
        "cells",
        "ops",
        "failed",
        "wrong answers",
        "errors",
        "requests",
        "retries",
        "faults",
    )
    header += tuple(f"fault: {kind}" for kind in fault_kinds)
    rows = []
    for name in data.contexts:
        mine = [c for c in data.cells if c.context == name]

        def total(get: Callable[[CellResult], int], cells: list[CellResult] = mine) -> str:
            return f"{sum(get(c) for c in cells):,}"

        rows.append(
            (
                label(name),
                str(len(mine)),
                total(lambda c: len(c.ops)),
                str(sum(1 for c in mine if c.status != "ok")),
                total(lambda c: c.wrong_answers or (0 if c.correct else 1)),
                total(lambda c: c.errors),
                total(lambda c: c.requests),
                total(lambda c: c.retries),
                total(lambda c: sum(c.faults.values())),
                *(total(_fault(k)) for k in fault_kinds),
            )
        )
    note = Paragraph(
        "Wrong answers must be 0: under faults a context answers with the oracle's text or "
        "raises a named error (`errors`, counted; the cell goes on). `retries` are repeated "
        "requests (client retries, re-read cut bodies); `faults` were injected by the simulated "
        "network during the cell."
    )
    return [Heading("Reliability"), note, Table(header, tuple(rows))]


def _fault(kind: str) -> Callable[[CellResult], int]:
    return lambda cell: int(cell.faults.get(kind, 0))


def _all_cells(data: RunData) -> list[Block]:
    return [
        Heading("All cells"),
        Table(
            (
                "context",
                "scenario",
                "profile",
                "lines",
                "result",
                "p50",
                "p99",
                "total",
                "stall",
                "demand bound",
                "÷ demand",
                "physical limit",
                "÷ physical",
                "requests",
                "bytes",
                "CPU (user + system)",
                "page faults",
                "error",
            ),
            tuple(
                (
                    label(c.context),
                    c.scenario,
                    c.profile,
                    f"{c.lines:,}",
                    verdict(c),
                    seconds(c.quantile(0.5)),
                    seconds(c.quantile(0.99)),
                    seconds(c.total_s),
                    seconds(c.stall_s),
                    seconds(c.lower_bound_s),
                    times(c.ratio),
                    seconds(c.physical_limit_s),
                    times(c.physical_ratio),
                    f"{c.requests:,}",
                    f"{c.bytes:,}",
                    f"{seconds(c.user_s)} + {seconds(c.system_s)}",
                    f"{c.page_faults:,}",
                    c.error or "",
                )
                for c in data.cells
            ),
        ),
    ]


__all__ = ["Group", "ReportFiles", "build_report", "is_peer"]
