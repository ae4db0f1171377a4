"""The CPU and page faults a cell spent: counted by the kernel, summed over its timed sections."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bench import runner
from bench.report.build import build_report
from bench.results import load_results
from bench.runner import BenchConfig, run_bench
from bench.usage import Usage, process_usage


def test_touching_fresh_memory_counts_its_pages() -> None:
    before = process_usage()
    block = bytearray(64 << 20)
    block[::4096] = b"x" * len(block[::4096])  # write one byte per page
    used = process_usage() - before
    del block
    assert used.page_faults >= (64 << 20) // 4096 // 2  # the kernel may map some pages at once


def test_a_usage_minus_an_earlier_one_is_what_was_spent_between() -> None:
    assert Usage(1.0, 0.5, 10) - Usage(0.25, 0.25, 3) == Usage(0.75, 0.25, 7)


@pytest.mark.timeout(180)
def test_a_cell_sums_the_usage_of_its_open_and_ops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each timed section (the open, every op) is measured on its own, think time is not: with
    a clock that advances one step per reading, a cell of an open and three ops (peek) counts
    four steps."""
    readings = itertools.count()

    def stepping() -> Usage:
        n = next(readings)
        return Usage(n * 0.5, n * 0.25, n * 10)

    monkeypatch.setattr(runner, "process_usage", stepping)
    config = BenchConfig(
        contexts=("memory",), scenarios=("peek",), profiles=("none",), lines=(500,), out=tmp_path
    )
    (cell,) = run_bench(config).cells
    sections = 1 + len(cell.ops)
    assert len(cell.ops) == 3
    assert (cell.user_s, cell.system_s, cell.page_faults) == (
        sections * 0.5,
        sections * 0.25,
        sections * 10,
    )
    (saved,) = load_results(tmp_path / "results.json").cells
    assert (saved.user_s, saved.system_s, saved.page_faults) == (2.0, 1.0, 40)
    report = build_report(tmp_path).markdown.read_text()
    assert "| page faults |" in report and "| 2.00 s + 1.00 s | 40 |" in report
