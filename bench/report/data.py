"""A run as the report sees it: cells grouped by (profile, corpus size), labels and captions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import CellResult, load_results
from contexts.registry import REGISTRY, ContextSpec

LOCAL_DISK = "local-disk"
"""Profile label of directory contexts' cells (as in ``bench.runner``)."""

PRIMARY_SCENARIO = "mixed-session"
"""The scenario the CDF uses when the run has it; otherwise the one with the most ops."""

SLICE_SCENARIO = "slice-sizes"
"""The scenario the scaling plot uses when the run has it; otherwise every op's ``lines``."""


@dataclass(frozen=True)
class Group:
    """One slice of a run that figures and tables compare within: a profile and a corpus size.

    Directory contexts (profile ``local-disk``) join every group of their corpus size."""

    profile: str
    lines: int

    @property
    def slug(self) -> str:
        return f"{self.profile}-{self.lines}"


def spec_of(name: str) -> ContextSpec | None:
    """The registry entry, or ``None`` for a context this checkout does not know."""
    return REGISTRY.get(name)


def is_peer(name: str) -> bool:
    spec = spec_of(name)
    return spec is not None and spec.peer


def reads_network(name: str) -> bool:
    """S3 contexts (lab or peer); unknown names from older runs are assumed to be S3 too."""
    spec = spec_of(name)
    return spec is None or spec.storage == "s3"


def label(name: str) -> str:
    """How a context is named in figures: peers and directory contexts say what they are."""
    spec = spec_of(name)
    if spec is not None and spec.peer:
        return f"{name} (peer)"
    if spec is not None and spec.storage == "local":
        return f"{name} [local disk]"
    return name


def ok(cell: CellResult) -> bool:
    """Finished its whole trace, every answer right, and no op gave up with a named error (under
    faults a cell with errors stays ``ok`` in results.json, but a context that gives up fast must
    not win; a cell its budget truncated measured only part of the work, so it cannot win)."""
    return cell.status == "ok" and cell.correct and cell.errors == 0 and not cell.truncated


def verdict(cell: CellResult) -> str:
    """``ok``, ``WRONG`` (a wrong answer), ``FAILED`` (an error), ``ERRORS`` (answered, but some
    ops raised a named error under faults), ``TRUNCATED`` (right so far, stopped by its budget)
    or ``SKIPPED``."""
    if cell.status == "ok" and cell.correct:
        if cell.errors:
            return "ERRORS"
        return "TRUNCATED" if cell.truncated else "ok"
    if not cell.correct:
        return "WRONG"
    return "SKIPPED" if cell.status == "skipped" else "FAILED"


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


class RunData:
    """The cells of ``RUN_DIR/results.json`` and the run's metadata."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        results = load_results(run_dir / "results.json")
        self.meta = results.meta
        self.cells = results.cells
        self.contexts: list[str] = _unique(cell.context for cell in self.cells)
        self.scenarios: list[str] = _unique(cell.scenario for cell in self.cells)
        self.sizes: list[int] = sorted(_unique(cell.lines for cell in self.cells))
        profiles = _unique(cell.profile for cell in self.cells)
        self.profiles: list[str] = [p for p in profiles if p != LOCAL_DISK] or profiles

    def groups(self) -> list[Group]:
        return [Group(profile, lines) for profile in self.profiles for lines in self.sizes]

    def cells_in(self, group: Group, scenario: str | None = None) -> list[CellResult]:
        """The group's cells (directory contexts included), in run order."""
        return [
            cell
            for cell in self.cells
            if cell.lines == group.lines
            and cell.profile in (group.profile, LOCAL_DISK)
            and (scenario is None or cell.scenario == scenario)
        ]

    def cell(self, group: Group, scenario: str, context: str) -> CellResult | None:
        found = [c for c in self.cells_in(group, scenario) if c.context == context]
        return found[0] if found else None

    def contexts_in(self, group: Group) -> list[str]:
        return _unique(cell.context for cell in self.cells_in(group))

    def cdf_scenario(self, group: Group) -> str | None:
        """``mixed-session`` if present, else the scenario with the most ops per cell."""
        cells = self.cells_in(group)
        names = _unique(cell.scenario for cell in cells)
        if PRIMARY_SCENARIO in names:
            return PRIMARY_SCENARIO
        if not names:
            return None
        richest: str = max(
            names, key=lambda name: max(len(c.ops) for c in cells if c.scenario == name)
        )
        return richest

    # -- what every figure states --------------------------------------------------------------

    @property
    def commit(self) -> str:
        commit = self.meta.get("commit") or "unknown"
        return f"{commit[:10]}{' (dirty)' if self.meta.get('dirty') else ''}"

    @property
    def machine(self) -> str:
        machine = self.meta.get("machine") or {}
        return (
            f"{machine.get('platform', '?')}, {machine.get('cpus', '?')} CPUs, "
            f"Python {machine.get('python', '?')}"
        )

    @property
    def libraries(self) -> str:
        """The client libraries installed for the run (``auto`` reads with obstore where it is
        installed), or ``""`` for results written before runs recorded them."""
        found = self.meta.get("libraries") or {}
        return ", ".join(f"{name} {version}" for name, version in found.items() if version)

    def corpus_bytes(self, lines: int) -> int | None:
        for corpus in self.meta.get("corpora") or []:
            if corpus.get("lines") == lines:
                size: int = corpus.get("bytes", 0)
                return size
        return None

    def corpus_text(self, lines: int) -> str:
        size = self.corpus_bytes(lines)
        megabytes = f", {size / 1e6:.1f} MB" if size else ""
        return f"{lines:,} lines{megabytes}"

    def caption(self, group: Group | None = None, *, profile: str | None = None) -> str:
        """Profile, corpus size, machine and commit, for a figure's footer."""
        if group is not None:
            where = f"profile {group.profile} · corpus {self.corpus_text(group.lines)}"
        else:
            sizes = ", ".join(self.corpus_text(n) for n in self.sizes)
            where = f"profile {profile or ', '.join(self.profiles)} · corpora {sizes}"
        think = self.meta.get("think_scale")
        think_text = f" · think x{think:g}" if isinstance(think, int | float) else ""
        return f"{where}{think_text} · {self.machine} · commit {self.commit}"
