"""The report on a small synthetic run: files, valid PNGs, the winner table, failed cells shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bench.cli import main
from bench.lower_bound import MODEL, PHYSICAL_MODEL
from bench.report.data import Group, RunData
from bench.report.winners import headline, overall, usage, winners
from tests.bench.synthetic import write_run


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = write_run(tmp_path_factory.mktemp("run"), failed=("s3-byte-range", "peek"))
    assert main(["report", str(run)]) == 0
    return run


def test_report_files_exist_and_pngs_are_valid(report_dir: Path) -> None:
    markdown = (report_dir / "report.md").read_text()
    page = (report_dir / "index.html").read_text()
    pngs = sorted(report_dir.glob("*.png"))
    kinds = {png.name.split("-seed")[0] for png in pngs}
    assert {"latency", "total-stall", "cdf", "scaling-slice", "amplification", "ratio"} <= kinds
    assert (report_dir / "scaling-context-seed.png").exists()
    for png in pngs:
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG" and image.width > 600 and image.height > 200
        assert f"]({png.name})" in markdown  # every figure is in the report
    assert page.count('src="data:image/png;base64,') == len(pngs)  # self-contained
    assert "commit" in markdown and "lower bound" in markdown.lower()
    boto3_version = json.loads((report_dir / "results.json").read_text())["run"]["libraries"]
    assert f"boto3 {boto3_version['boto3']}" in markdown  # the clients the run read with


def test_winner_table_matches_the_data(report_dir: Path) -> None:
    data = RunData(report_dir)
    found = {(w.group, w.scenario): w for w in winners(data)}
    # head-50k: byte-range is fastest among S3 contexts; memory and volume do not compete
    assert found[(Group("seed", 1_000), "head-50k")].cell.context == "s3-byte-range"
    # peek: byte-range gave a wrong answer, so the next fastest wins
    peek = found[(Group("seed", 1_000), "peek")]
    assert peek.cell.context == "s3-threaded" and peek.runner_up is not None
    assert peek.runner_up.context == "s3fs-readahead"
    # overall: byte-range failed a cell, so threaded is the best correct-everywhere context
    assert overall(data, Group("seed", 1_000))[0][0] == "s3-threaded"
    markdown = (report_dir / "report.md").read_text()
    assert "| seed | 1,000 | head-50k | `s3-byte-range` |" in markdown
    assert "`from contexts import ByteRangeS3Context`" in markdown
    assert "ctx = ThreadedS3Context('s3://my-bucket/my-context/', max_workers=64" in markdown


def test_headline_compares_lab_peer_and_sequential(report_dir: Path) -> None:
    rows = {row.scenario: row for row in headline(RunData(report_dir), Group("seed", 1_000))}
    head = rows["head-50k"]
    assert head.lab is not None and head.lab.context == "s3-byte-range"
    assert head.peer is not None and head.peer.context == "s3fs-readahead"
    assert head.baseline is not None and head.speedup(head.lab, head.baseline) == pytest.approx(
        head.baseline.total_s / head.lab.total_s
    )
    assert "s3fs-readahead (peer)" in (report_dir / "report.md").read_text()


def test_a_failed_cell_appears_as_failed(report_dir: Path) -> None:
    markdown = (report_dir / "report.md").read_text()
    assert "| s3-byte-range | peek | seed | 1,000 | WRONG |" in markdown
    assert "wrong answer at op #1" in markdown
    assert '<td class="failed">WRONG</td>' in (report_dir / "index.html").read_text()


def test_usage_comes_from_the_registry() -> None:
    assert usage("s3fs-blockcache")[-1].startswith(
        "ctx = S3fsContext('s3://my-bucket/my-context/', cache_type='blockcache'"
    )
    large = usage("s3-large-chunk", 1000)
    assert "lines_per_segment=50000" in large[2] and "segment_index_stride=64" in large[2]
    assert usage("memory") == [
        "from contexts import InMemoryContext",
        "ctx = InMemoryContext(text)",
    ]


def test_report_of_a_folder_without_results(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path)]) == 2


def test_reliability_table_sums_faults_errors_and_wrong_answers(tmp_path: Path) -> None:
    run = write_run(tmp_path, failed=("s3-byte-range", "peek"), sizes=(1_000,))
    raw = json.loads((run / "results.json").read_text())
    for cell in raw["cells"]:
        if cell["context"] == "s3-threaded":  # two cells: peek and head-50k
            cell.update(faults={"slowdown": 3, "short_body": 1, "reset": 0}, retries=4, errors=1)
        if cell["context"] == "s3-byte-range" and not cell["correct"]:
            cell["wrong_answers"] = 2
    (run / "results.json").write_text(json.dumps(raw))
    assert main(["report", str(run)]) == 0
    markdown = (run / "report.md").read_text()
    header = next(
        line for line in markdown.splitlines() if line.startswith("| context | cells | ops")
    )
    assert header.endswith("| faults | fault: short_body | fault: slowdown |")  # no empty kinds
    assert "| s3-threaded | 2 | 6 | 0 | 0 | 2 | 60 | 8 | 8 | 2 | 6 |" in markdown
    assert "| s3-byte-range | 2 | 6 | 1 | 2 | 0 | 60 | 0 | 0 | 0 | 0 |" in markdown


def test_a_context_that_gave_up_with_errors_never_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under faults a cell with named errors stays ``ok`` in results.json; giving up fast must
    not beat answering, in the winners, the overall ranking or ``compare``."""
    run = write_run(tmp_path / "a", sizes=(1_000,))
    raw = json.loads((run / "results.json").read_text())
    for cell in raw["cells"]:
        if cell["context"] == "s3-byte-range" and cell["scenario"] == "head-50k":
            cell["errors"] = 1  # the fastest S3 context, but one op gave up
    (run / "results.json").write_text(json.dumps(raw))
    data = RunData(run)
    found = {w.scenario: w.cell.context for w in winners(data)}
    assert found["head-50k"] == "s3-threaded" and found["peek"] == "s3-byte-range"
    assert "s3-byte-range" not in dict(overall(data, Group("seed", 1_000)))
    baseline = write_run(tmp_path / "b", sizes=(1_000,))
    assert main(["compare", str(baseline), str(run), "--fail-if", "p50:+10%"]) == 1
    assert "op(s) raised a named error" in capsys.readouterr().out
    assert main(["compare", str(baseline), str(baseline), "--fail-if", "p50:+10%"]) == 0


def test_the_report_explains_both_bounds_and_the_ceiling(report_dir: Path) -> None:
    markdown = (report_dir / "report.md").read_text()
    assert f"**Demand bound** (the lower bound: `lower_bound_s`, `÷ demand bound`). {MODEL}" in (
        markdown
    )
    assert f"**Physical limit** (`physical_limit_s`, `÷ physical`). {PHYSICAL_MODEL}" in markdown
    assert "Ceiling of this run: **900 MB/s** (synthetic)" in markdown
    assert "| total | ÷ physical | ÷ demand bound | runner-up |" in markdown
    assert "| demand bound | ÷ demand | physical limit | ÷ physical |" in markdown


def test_winners_rank_by_the_physical_ratio_and_fall_back_to_total_time(tmp_path: Path) -> None:
    run = write_run(tmp_path, sizes=(1_000,))
    raw = json.loads((run / "results.json").read_text())
    for cell in raw["cells"]:
        if (cell["context"], cell["scenario"]) == ("s3-threaded", "head-50k"):
            # slower than s3-byte-range, but against a limit 100x higher: closest to it
            cell["physical_limit_s"] = 12.0
            cell["physical_ratio"] = cell["total_s"] / 12.0
    (run / "results.json").write_text(json.dumps(raw))
    found = {w.scenario: w.cell.context for w in winners(RunData(run))}
    assert found == {"head-50k": "s3-threaded", "peek": "s3-byte-range"}
    for cell in raw["cells"]:
        if (cell["context"], cell["scenario"]) == ("s3-sequential", "head-50k"):
            cell["physical_ratio"] = None  # one cell without a limit: seconds for everyone
    (run / "results.json").write_text(json.dumps(raw))
    found = {w.scenario: w.cell.context for w in winners(RunData(run))}
    assert found == {"head-50k": "s3-byte-range", "peek": "s3-byte-range"}
