"""`ctxlab compare`: per-cell ratios of two synthetic runs and the --fail-if regression gate."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench.cli import main
from bench.compare import Threshold, pair_runs
from tests.bench.synthetic import CONTEXTS, write_run


def runs(tmp_path: Path, **b_options: object) -> tuple[str, str]:
    a = write_run(tmp_path / "a", sizes=(1_000,))
    b = write_run(tmp_path / "b", sizes=(1_000,), **b_options)  # type: ignore[arg-type]
    return str(a), str(b)


def test_ratios_are_b_over_a(tmp_path: Path) -> None:
    a, b = runs(tmp_path, slow={"s3-threaded": 1.2})
    pairs, only_a, only_b = pair_runs(Path(a), Path(b))
    assert not only_a and not only_b and len(pairs) == 12
    ratios = {p.key[0]: p.ratio("p50") for p in pairs if p.key[1] == "peek"}
    assert ratios["s3-threaded"] == pytest.approx(1.2)
    assert ratios["s3-sequential"] == pytest.approx(1.0)


def test_fail_if_exits_non_zero_on_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = runs(tmp_path, slow={"s3-threaded": 1.2})
    assert main(["compare", a, b, "--fail-if", "p50:+10%"]) == 1
    output = capsys.readouterr().out
    assert "REGRESSION s3-threaded · peek · seed · 1000: p50 1.20x A (+20% > +10%)" in output
    assert main(["compare", a, b, "--fail-if", "p50:+25%"]) == 0
    assert main(["compare", a, b]) == 0  # no gate: report only
    assert (Path(b) / "compare-a.png").stat().st_size > 10_000


def test_a_cell_that_starts_failing_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = runs(tmp_path, failed=("s3-byte-range", "head-50k"))
    assert main(["compare", a, b, "--fail-if", "total:+50%"]) == 1
    assert "s3-byte-range · head-50k · seed · 1000: ok in A, failed in B" in capsys.readouterr().out


def test_a_moto_run_against_a_seaweedfs_run_names_both_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_run(tmp_path / "moto", sizes=(1_000,))
    slower = {context: 1.1 for context, _profile, _per_op in CONTEXTS}
    b = write_run(tmp_path / "weed", sizes=(1_000,), slow=slower, target="seaweedfs")
    assert main(["compare", str(a), str(b)]) == 0
    output = capsys.readouterr().out
    assert "A: target moto (simulated (synthetic moto))" in output
    assert "B: target seaweedfs (simulated (synthetic seaweedfs))" in output
    mean_row = next(line for line in output.splitlines() if line.startswith("geometric mean"))
    assert mean_row.split()[2] == "1.100"  # p50 B/A over every matched cell


def test_threshold_syntax() -> None:
    assert Threshold.parse("p50:+10%") == Threshold("p50", 10.0)
    assert Threshold.parse(" total : 2.5 % ") == Threshold("total", 2.5)
    for bad in ("p50", "p42:+10%", "p50:-10%", "p50:+10"):
        with pytest.raises(argparse.ArgumentTypeError, match="METRIC"):
            Threshold.parse(bad)
