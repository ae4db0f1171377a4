"""Who wins: the correct S3 context closest to the physical limit per scenario and overall (the
fastest, where cells carry no physical limit), the headline ratios, and the exact lines a user
copies (import and constructor arguments, from the registry)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass

from bench.report.data import Group, RunData, is_peer, ok, reads_network, spec_of
from bench.results import CellResult
from contexts.errors import ContextError
from contexts.registry import opener
from contexts.transport.options import S3_CLIENT_DEFAULTS

BASELINE = "s3-sequential"
EXAMPLE_URL = "s3://my-bucket/my-context/"


@dataclass(frozen=True)
class Winner:
    """The best correct S3 context of one scenario in one group (see :func:`candidates`)."""

    group: Group
    scenario: str
    cell: CellResult
    runner_up: CellResult | None
    """The second best correct S3 context, if any."""


def rank_metric(cells: list[CellResult]) -> Callable[[CellResult], float]:
    """What ranks ``cells``: the physical ratio when every one of them has one, else ``total_s``
    (ratios and seconds are not comparable, so one cell without a limit means seconds for all).
    Cells of one scenario and group share their physical limit, so both usually agree."""
    if cells and all(c.physical_ratio is not None for c in cells):
        return lambda c: c.physical_ratio or 0.0
    return lambda c: c.total_s


def candidates(cells: list[CellResult]) -> list[CellResult]:
    """Correct, finished cells of contexts that read S3, best first by :func:`rank_metric`,
    ties by total time (the oracle and local-disk contexts do not compete: they do not read the
    network)."""
    eligible = [c for c in cells if ok(c) and reads_network(c.context)]
    metric = rank_metric(eligible)
    return sorted(eligible, key=lambda c: (metric(c), c.total_s))


def winners(data: RunData) -> list[Winner]:
    found = []
    for group in data.groups():
        for scenario in data.scenarios:
            ranked = candidates(data.cells_in(group, scenario))
            if ranked:
                found.append(
                    Winner(group, scenario, ranked[0], ranked[1] if len(ranked) > 1 else None)
                )
    return found


def overall(data: RunData, group: Group) -> list[tuple[str, float]]:
    """S3 contexts correct and finished in every scenario of the group, by the geometric mean
    over scenarios of ``metric / best metric`` (:func:`rank_metric`: the physical ratio, or
    ``total_s``; 1.0 = best everywhere); best first. A wrong answer or an error disqualifies
    wherever it happens; a cell the budget truncated disqualifies only where another context
    finished (a scenario nobody finished in the budget is left out, so a ``--quick`` run still
    names an overall winner)."""
    scores: dict[str, list[float]] = {}
    disqualified: set[str] = set()
    for scenario in data.scenarios:
        cells = [c for c in data.cells_in(group, scenario) if reads_network(c.context)]
        disqualified |= {c.context for c in cells if not ok(c) and not _only_truncated(c)}
        ranked = candidates(cells)
        if not ranked:
            continue
        disqualified |= {c.context for c in cells if not ok(c)}
        metric = rank_metric(ranked)
        best = max(metric(ranked[0]), 1e-9)
        for cell in ranked:
            scores.setdefault(cell.context, []).append(max(metric(cell), 1e-9) / best)
    expected = max((len(v) for v in scores.values()), default=0)
    ranking = [
        (name, math.exp(sum(map(math.log, values)) / len(values)))
        for name, values in scores.items()
        if name not in disqualified and len(values) == expected
    ]
    return sorted(ranking, key=lambda item: item[1])


def _only_truncated(cell: CellResult) -> bool:
    """Right so far and stopped by its budget (no wrong answer, no error)."""
    return cell.truncated and cell.status == "ok" and cell.correct and cell.errors == 0


def physical_score(data: RunData, group: Group, name: str) -> float | None:
    """Geometric mean over the group's scenarios of ``name``'s physical ratio (None: a correct
    cell without one, or none at all)."""
    values = []
    for scenario in data.scenarios:
        cell = data.cell(group, scenario, name)
        if cell is None or not ok(cell):
            continue
        if cell.physical_ratio is None or cell.physical_ratio <= 0:
            return None
        values.append(cell.physical_ratio)
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


@dataclass(frozen=True)
class Headline:
    """Best lab context vs best s3fs peer vs the sequential baseline, for one scenario."""

    scenario: str
    lab: CellResult | None
    peer: CellResult | None
    baseline: CellResult | None
    """``s3-sequential``'s cell: finished, or cut by the budget (its time is then a floor)."""

    def speedup(self, fast: CellResult | None, slow: CellResult | None) -> float | None:
        """``slow.total_s / fast.total_s`` (how many times faster ``fast`` is)."""
        if fast is None or slow is None or fast.total_s <= 0:
            return None
        return slow.total_s / fast.total_s


def headline(data: RunData, group: Group) -> list[Headline]:
    rows = []
    for scenario in data.scenarios:
        ranked = candidates(data.cells_in(group, scenario))
        lab = next((c for c in ranked if not is_peer(c.context)), None)
        peer = next((c for c in ranked if is_peer(c.context)), None)
        baseline = data.cell(group, scenario, BASELINE)
        usable = baseline is not None and (ok(baseline) or _only_truncated(baseline))
        rows.append(Headline(scenario, lab, peer, baseline if usable else None))
    return rows


def usage(name: str, segment_lines: int | None = None) -> list[str]:
    """The lines a user copies: write the layout, import the class, open it (registry-derived).

    Constructor arguments are the preset's own options, then the context's keyword defaults
    (what the bench ran) other than how to reach the endpoint; a class whose extra is missing
    here shows only the preset options.
    """
    spec = spec_of(name)
    if spec is None:
        return [f"# {name!r} is not registered in this checkout"]
    class_name = spec.class_name
    options: dict[str, object] = dict(spec.open_options)
    try:
        signature = inspect.signature(opener(name))
        for p in signature.parameters.values():
            keyword = p.kind is inspect.Parameter.KEYWORD_ONLY
            # how to reach the endpoint (S3_CLIENT_DEFAULTS) is the user's own
            if keyword and p.default is not p.empty and p.name not in S3_CLIENT_DEFAULTS:
                options.setdefault(p.name, p.default)
    except ContextError:
        pass
    lines = [f"from contexts import {class_name}"]
    if spec.storage == "memory":
        return [*lines, f"ctx = {class_name}(text)"]
    url = EXAMPLE_URL if spec.storage == "s3" else "/mnt/volume/my-context"
    if spec.layouts:
        layout = spec.layouts[0]
        write: dict[str, object] = {"layout": layout}
        if layout == "segments" and segment_lines:
            write["lines_per_segment"] = segment_lines
        write.update(dict(spec.write_options))
        arguments = ", ".join(f"{key}={value!r}" for key, value in write.items())
        lines.insert(0, "import contexts")
        lines.append(f"contexts.write_layout(text, {url!r}, {arguments})  # once")
    arguments = "".join(f", {key}={value!r}" for key, value in options.items())
    lines.append(f"ctx = {class_name}({url!r}{arguments})")
    return lines


def import_line(name: str) -> str:
    spec = spec_of(name)
    return f"from contexts import {spec.class_name}" if spec else f"# unknown context {name!r}"
