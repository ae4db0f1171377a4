"""The report's matplotlib figures (Agg backend, PNG). Every figure's footer states the profile,
corpus size, machine and commit; failed cells are drawn as FAILED, never left out."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from bench.report.data import SLICE_SCENARIO, Group, RunData, label, ok, verdict
from bench.results import CellResult

DPI = 110
QUANTILES = ((0.5, "p50"), (0.95, "p95"), (0.99, "p99"))
FAILED_COLOR = "#c0392b"
TRUNCATED_COLOR = "#7f7f7f"
Series = Sequence[tuple[str, Callable[[CellResult], float]]]
"""Named values to draw as bars, one bar per name per context."""


def _save(fig: Figure, path: Path, caption: str) -> Path:
    """Write the PNG with ``caption`` (profile, corpus, machine, commit) wrapped in its footer."""
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(caption, width=max(40, int(width * 17)))
    footer = (0.06 + 0.13 * len(lines)) / height  # inches of 7-pt text, as a figure fraction
    fig.text(0.005, 0.004, "\n".join(lines), fontsize=7, color="#444444", va="bottom")
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):  # rect: left, bottom, width, height
        engine.set(rect=(0, footer, 1, 1 - footer))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _seconds_axis(ax: Axes, axis: Literal["x", "y"] = "y") -> None:
    """A log seconds axis; a panel with nothing positive to show (every cell failed or was
    truncated) gets a fixed range, since a log axis cannot scale to no data."""
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    ax.grid(True, which="major", axis=axis, alpha=0.3)
    limits = ax.dataLim
    high = limits.y1 if axis == "y" else limits.x1
    if not (math.isfinite(high) and high > 0):
        (ax.set_ylim if axis == "y" else ax.set_xlim)(1e-4, 1.0)


def _mark_failed(ax: Axes, x: float, cell: CellResult) -> None:
    """A red FAILED / WRONG (grey TRUNCATED) label standing where the cell's bars would be."""
    ax.text(
        x,
        0.03,
        verdict(cell),
        transform=ax.get_xaxis_transform(),
        rotation=90,
        ha="center",
        va="bottom",
        color=TRUNCATED_COLOR if cell.truncated else FAILED_COLOR,
        fontsize=8,
        fontweight="bold",
    )


MARKERS = "osD^v<>phX*P"


def _style(data: RunData, name: str) -> dict[str, Any]:
    """One colour and marker per context, the same in every figure (tab20: 20 distinct colours)."""
    number = data.contexts.index(name) if name in data.contexts else 0
    return {"color": plt.get_cmap("tab20")(number % 20), "marker": MARKERS[number % len(MARKERS)]}


def _positive(values: Sequence[float]) -> list[float]:
    return [max(v, 1e-6) for v in values]


def _bars_per_context(ax: Axes, cells: list[CellResult], series: Series) -> None:
    """Grouped bars (one group per context, one bar per series), log scale, failures marked."""
    width = 0.8 / len(series)
    for number, (name, value) in enumerate(series):
        xs = [i + (number - (len(series) - 1) / 2) * width for i in range(len(cells))]
        heights = [value(c) if ok(c) and value(c) > 0 else math.nan for c in cells]
        ax.bar(xs, heights, width, label=name)  # nothing drawn for 0 on a log axis
    for i, cell in enumerate(cells):
        if not ok(cell):
            _mark_failed(ax, i, cell)
    ax.set_xticks(range(len(cells)), [label(c.context) for c in cells], rotation=30, ha="right")
    _seconds_axis(ax)


def _bars_per_scenario(
    data: RunData, group: Group, series: Series, title: str, ylabel: str
) -> Figure:
    """One panel of grouped bars per scenario of the group."""
    scenarios = [s for s in data.scenarios if data.cells_in(group, s)]
    fig, axes = plt.subplots(
        len(scenarios), 1, figsize=(12, 3.6 * len(scenarios)), squeeze=False, layout="constrained"
    )
    for ax, scenario in zip(axes[:, 0], scenarios, strict=True):
        _bars_per_context(ax, data.cells_in(group, scenario), series)
        ax.set_title(f"{scenario}: {title}")
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8)
    return fig


def latency_figure(data: RunData, group: Group, out: Path) -> Path:
    """Per scenario: p50/p95/p99 op latency per context (log scale)."""
    series = [(name, lambda c, q=q: c.quantile(q)) for q, name in QUANTILES]
    fig = _bars_per_scenario(
        data, group, series, "op latency per context", "latency per op (s, log)"
    )
    return _save(fig, out / f"latency-{group.slug}.png", data.caption(group))


def total_stall_figure(data: RunData, group: Group, out: Path) -> Path:
    """Per scenario: total time (open + ops + think) next to stall time (total - think)."""
    series: Series = [
        ("total (open + ops + think)", lambda c: c.total_s),
        ("stall (total - think)", lambda c: c.stall_s),
        ("demand bound", lambda c: c.lower_bound_s),
        ("physical limit", lambda c: c.physical_limit_s),
    ]
    fig = _bars_per_scenario(
        data, group, series, "total vs stall time per context", "seconds (log)"
    )
    return _save(fig, out / f"total-stall-{group.slug}.png", data.caption(group))


def cdf_figure(data: RunData, group: Group, out: Path) -> Path | None:
    """Latency CDF per context for ``mixed-session`` (or the scenario with the most ops)."""
    scenario = data.cdf_scenario(group)
    if scenario is None:
        return None
    fig, ax = plt.subplots(figsize=(11, 5.5), layout="constrained")
    cells = data.cells_in(group, scenario)
    for cell in cells:
        values = sorted(_positive(cell.latencies()))
        if not values:
            ax.plot([], [], label=f"{label(cell.context)}: {verdict(cell)}, no ops")
            continue
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        suffix = "" if ok(cell) else f" — {verdict(cell)}"
        style = "-" if ok(cell) else ":"
        color = _style(data, cell.context)["color"]
        ax.step(
            values,
            fractions,
            style,
            where="post",
            color=color,
            label=f"{label(cell.context)}{suffix}",
        )
    _seconds_axis(ax, "x")
    ax.set_xlabel("op latency (s, log)")
    ax.set_ylabel("fraction of ops ≤ latency")
    ax.set_ylim(0, 1.02)
    ops = max(len(cell.ops) for cell in cells)
    ax.set_title(f"latency CDF per context, scenario {scenario} (up to {ops} ops per cell)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return _save(fig, out / f"cdf-{group.slug}.png", data.caption(group))


def slice_scaling_figure(data: RunData, group: Group, out: Path) -> Path | None:
    """Median op latency vs lines per op, per context (log-log): from ``slice-sizes`` if the run
    has it, else from every op of every scenario (warm re-reads included)."""
    source = SLICE_SCENARIO if SLICE_SCENARIO in data.scenarios else None
    cells = data.cells_in(group, source)
    fig, ax = plt.subplots(figsize=(11, 5.5), layout="constrained")
    plotted = False
    for name in data.contexts_in(group):
        mine = [c for c in cells if c.context == name]
        by_size: dict[int, list[float]] = {}
        for cell in mine:
            for op in cell.ops:
                if op.lines > 0:
                    by_size.setdefault(op.lines, []).append(op.latency_s)
        failed = [c for c in mine if not ok(c)]
        suffix = f" — {len(failed)} FAILED cell(s)" if failed else ""
        if not by_size:
            ax.plot([], [], label=f"{label(name)}: no sized ops{suffix}")
            continue
        sizes = sorted(by_size)
        ax.plot(
            sizes,
            _positive([median(by_size[s]) for s in sizes]),
            "-" if not failed else ":",
            label=f"{label(name)}{suffix}",
            **_style(data, name),
        )
        plotted = True
    if not plotted:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    _seconds_axis(ax)
    ax.set_xlabel("lines returned by the op (log)")
    ax.set_ylabel("median op latency (s, log)")
    where = f"scenario {SLICE_SCENARIO}" if source else "all scenarios' ops (cold and warm)"
    ax.set_title(f"scaling with slice size — {where}")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return _save(fig, out / f"scaling-slice-{group.slug}.png", data.caption(group))


def context_scaling_figure(data: RunData, profile: str, out: Path) -> Path:
    """Total time vs corpus size per context, one panel per scenario (log-log)."""
    scenarios = data.scenarios
    columns = min(3, len(scenarios))
    rows = math.ceil(len(scenarios) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(5.2 * columns, 4.2 * rows), squeeze=False, layout="constrained"
    )
    for ax, scenario in zip(axes.flat, scenarios, strict=False):
        for name in data.contexts:
            points = [
                (lines, cell)
                for lines in data.sizes
                if (cell := data.cell(Group(profile, lines), scenario, name)) is not None
            ]
            good = [(n, c.total_s) for n, c in points if ok(c)]
            line = ax.plot(
                [n for n, _ in good],
                _positive([t for _, t in good]),
                "-",
                label=label(name),
                **_style(data, name),
            )
            for lines, cell in points:
                if not ok(cell):  # at the foot of the panel, in the context's colour
                    ax.plot(
                        [lines],
                        [0.04],
                        "x",
                        color=line[0].get_color(),
                        markersize=9,
                        transform=ax.get_xaxis_transform(),
                    )
                    ax.text(
                        lines,
                        0.07,
                        f"{name} {verdict(cell)}",
                        fontsize=7,
                        color=FAILED_COLOR,
                        transform=ax.get_xaxis_transform(),
                    )
        ax.set_xscale("log")
        _seconds_axis(ax)
        ax.set_title(scenario)
        ax.set_xlabel("corpus size (lines, log)")
        ax.set_ylabel("total time (s, log)")
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    single = " (one corpus size in this run: points, not lines)" if len(data.sizes) < 2 else ""
    fig.suptitle(f"scaling with context size{single}")
    return _save(fig, out / f"scaling-context-{profile}.png", data.caption(profile=profile))


def _heatmap(
    ax: Axes,
    data: RunData,
    group: Group,
    value: Callable[[CellResult], float | None],
    text: Callable[[float], str],
    colorbar_label: str,
) -> None:
    names = data.contexts_in(group)
    scenarios = [s for s in data.scenarios if data.cells_in(group, s)]
    grid: list[list[float]] = []
    for name in names:
        row = []
        for scenario in scenarios:
            cell = data.cell(group, scenario, name)
            number = value(cell) if cell is not None and ok(cell) else None
            row.append(number if number is not None and number > 0 else math.nan)
        grid.append(row)
    finite = [v for row in grid for v in row if not math.isnan(v)]
    # at least a decade of colour, so close values do not look far apart
    norm = LogNorm(min(finite), max(max(finite), min(finite) * 10)) if finite else None
    image = ax.imshow(grid, cmap="viridis", norm=norm, aspect="auto")
    for i, name in enumerate(names):
        for j, scenario in enumerate(scenarios):
            cell = data.cell(group, scenario, name)
            if cell is None:
                words, color = "not run", "#888888"
            elif not ok(cell):
                words, color = verdict(cell), FAILED_COLOR
            elif math.isnan(grid[i][j]):
                words, color = "n/a", "#888888"
            else:
                words = text(grid[i][j])
                red, green, blue, _ = image.cmap(image.norm(grid[i][j]))  # type: ignore[arg-type]
                color = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            ax.text(j, i, words, ha="center", va="center", fontsize=8, color=color)
    ax.set_xticks(range(len(scenarios)), scenarios, rotation=20, ha="right")
    ax.set_yticks(range(len(names)), [label(n) for n in names])
    if finite:
        ax.figure.colorbar(image, ax=ax, label=colorbar_label)


def _times(value: float) -> str:
    return f"{value:.3g}x"


def ratio_heatmap(data: RunData, group: Group, out: Path) -> Path:
    """total_s / lower_bound_s and total_s / physical_limit_s per context x scenario (log
    colour), side by side."""
    height = 1.2 + 0.42 * len(data.contexts_in(group))
    fig, axes = plt.subplots(
        1, 2, figsize=(2 * (3 + 1.6 * len(data.scenarios)), height), layout="constrained"
    )
    _heatmap(axes[0], data, group, lambda c: c.ratio, _times, "total / demand bound (log)")
    axes[0].set_title("ratio to the demand bound (1x = at the bound)")
    _heatmap(axes[1], data, group, lambda c: c.physical_ratio, _times, "total / physical (log)")
    axes[1].set_title("ratio to the physical limit (1x = at the limit; winners rank by it)")
    return _save(fig, out / f"ratio-{group.slug}.png", data.caption(group))


def amplification_figure(data: RunData, group: Group, out: Path) -> Path:
    """Requests per storage op and bytes fetched / bytes returned, per context x scenario."""
    height = 1.2 + 0.42 * len(data.contexts_in(group))
    fig, axes = plt.subplots(
        1, 2, figsize=(2 * (3 + 1.6 * len(data.scenarios)), height), layout="constrained"
    )

    def per_op(cell: CellResult) -> float | None:
        return cell.requests / len(cell.ops) if cell.ops and cell.requests else None

    def byte_amp(cell: CellResult) -> float | None:
        return cell.bytes / cell.bytes_returned if cell.bytes_returned and cell.bytes else None

    _heatmap(axes[0], data, group, per_op, lambda v: f"{v:.3g}", "requests per op (log)")
    axes[0].set_title("request amplification: storage requests per RLM op")
    _heatmap(axes[1], data, group, byte_amp, lambda v: f"{v:.3g}x", "fetched / returned (log)")
    axes[1].set_title("byte amplification: bytes fetched / bytes returned")
    return _save(fig, out / f"amplification-{group.slug}.png", data.caption(group))
