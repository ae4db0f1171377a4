"""The Modal app without Modal's cloud: it imports and builds without a token, its functions run
here with ``.local()`` against a directory standing in for the Volume mount, and the fan-out
merges fragments into one valid results JSON."""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

import contexts
from bench.cli import main
from bench.remote_cell import CellSpec, fan_out, matrix, merge_fragments, run_remote_cell
from bench.results import load_results, results_from_json
from tests.conftest import S3Env

pytest.importorskip("modal")


@pytest.fixture
def modal_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    """bench.modal_app imported fresh with no Modal token anywhere."""
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    monkeypatch.delenv("CTXLAB_MODAL_BUCKET", raising=False)
    sys.modules.pop("bench.modal_app", None)
    return importlib.import_module("bench.modal_app")


def test_the_app_builds_without_a_token(modal_app: ModuleType) -> None:
    assert modal_app.app.name == "ctxlab-bench"
    modal = pytest.importorskip("modal")
    assert isinstance(modal_app.prepare, modal.Function)
    assert isinstance(modal_app.run_cell, modal.Function)
    assert callable(modal_app.main)  # the local entrypoint behind `modal run`
    specs = modal_app.specs_for("volume,s3-threaded", "peek", "1000,2000", s3_url="s3://b/p/")
    assert len(specs) == 4 and {s.label for s in specs} == {"modal-volume", "real"}


@pytest.mark.filterwarnings("ignore:The .* function is executing locally")
def test_cell_runs_locally_on_a_directory_standing_in_for_the_volume(
    modal_app: ModuleType, tmp_path: Path
) -> None:
    spec = CellSpec("volume", "head-50k", 3000, root=str(tmp_path / "data"), where="test")
    written = modal_app.prepare.local([spec.to_dict()])
    assert len(written) == 1 and (Path(written[0]) / "manifest.json").exists()
    fragment = modal_app.run_cell.local(spec.to_dict())
    json.dumps(fragment)  # plain JSON, as it travels back from a container
    results = results_from_json(fragment)
    (cell,) = results.cells
    assert (cell.context, cell.scenario, cell.profile, cell.lines) == (
        "volume",
        "head-50k",
        "modal-volume",
        3000,
    )
    assert cell.status == "ok" and cell.correct and cell.requests > 0
    assert results.meta["target"] == "test" and results.meta["corpora"][0]["lines"] == 3000


@pytest.mark.timeout(120)
def test_fan_out_merges_fragments_into_one_results_json(s3: S3Env, tmp_path: Path) -> None:
    specs = matrix(
        ["volume", "s3-sequential", "memory"],
        ["peek", "head-50k"],
        [2000],
        root=str(tmp_path / "data"),
        s3_url=s3.new_url(),
        endpoint_url=s3.endpoint_url,
    )
    results = fan_out(specs, lambda items: map(run_remote_cell, items))
    path = tmp_path / "out" / "results.json"
    results.write(path)
    loaded = load_results(path)
    assert len(loaded.cells) == 6 and all(c.status == "ok" and c.correct for c in loaded.cells)
    assert {(c.context, c.profile) for c in loaded.cells} == {
        ("volume", "modal-volume"),
        ("s3-sequential", "real"),
        ("memory", "none"),
    }
    assert loaded.meta["fragments"] == 6 and len(loaded.meta["corpora"]) == 1
    assert loaded.meta["started_at"] <= loaded.meta["finished_at"]


def test_fragments_of_different_matrices_are_not_merged(tmp_path: Path) -> None:
    one = run_remote_cell(CellSpec("memory", "peek", 500, root=str(tmp_path)))
    other = run_remote_cell(CellSpec("memory", "peek", 500, root=str(tmp_path), seed=1))
    with pytest.raises(ValueError, match="disagree on seed"):
        merge_fragments([one, other])
    with pytest.raises(ValueError, match="not a rlm-context-lab/results"):
        merge_fragments([{"cells": []}])


def test_upload_writes_a_layout_to_s3_and_to_a_directory(
    s3: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "notes.txt"
    source.write_bytes(b"one\r\ntwo\nthree")
    url = s3.new_url()
    assert main(["upload", str(source), "--to", url, "--endpoint-url", s3.endpoint_url]) == 0
    assert main(["upload", str(source), "--to", str(tmp_path / "ctx"), "--layout", "single"]) == 0
    assert "wrote 3 lines" in capsys.readouterr().out
    with contexts.open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == "one\r\ntwo\nthree"
    with contexts.open_context("volume", str(tmp_path / "ctx")) as ctx:
        assert ctx.text() == "one\r\ntwo\nthree"
    with pytest.raises(SystemExit, match="modal-volume NAME"):
        main(["upload", str(source), "--to", "modal-volume"])


@pytest.mark.timeout(120)
def test_bucket_mount_cells_read_each_object_at_its_key(s3: S3Env, tmp_path: Path) -> None:
    """A CloudBucketMount shows the whole bucket: the corpus under ``s3_url``'s prefix is at
    ``mount/<prefix>/...``. A directory standing in for the mount gets each object at its key."""
    url = s3.new_url()
    uploader = CellSpec("s3-sequential", "peek", 1000, root=str(tmp_path / "data"), s3_url=url)
    first = results_from_json(run_remote_cell(replace(uploader, endpoint_url=s3.endpoint_url)))
    assert first.cells[0].status == "ok"
    mount = tmp_path / "bucket"
    prefix = url.removeprefix(f"s3://{s3.bucket}/")
    listed = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=prefix)["Contents"]
    for item in listed:
        target = mount / item["Key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.client.get_object(Bucket=s3.bucket, Key=item["Key"])["Body"].read())
    spec = CellSpec(
        "volume",
        "peek",
        1000,
        root=str(tmp_path / "data"),
        s3_url=url,
        bucket_root=str(mount),
        endpoint_url=s3.endpoint_url,
    )
    (cell,) = results_from_json(run_remote_cell(spec)).cells
    assert cell.status == "ok" and cell.correct, cell.error


def test_a_dead_container_is_a_failed_cell_not_a_lost_run(tmp_path: Path) -> None:
    """``run_cell.map(..., return_exceptions=True)`` hands back the exception of a container
    that died; the other cells keep their results and the dead one is shown as failed."""
    specs = matrix(["memory"], ["peek", "head-50k"], [500], root=str(tmp_path))

    def one_dies(items: object) -> list[object]:
        outputs: list[object] = []
        for number, item in enumerate(items):  # type: ignore[attr-defined]
            outputs.append(run_remote_cell(item) if number else MemoryError("container OOM"))
        return outputs

    results = fan_out(specs, one_dies)  # type: ignore[arg-type]
    dead, alive = results.cells[-1], results.cells[0]
    assert (alive.scenario, alive.status) == ("head-50k", "ok")
    assert (dead.scenario, dead.status, dead.profile) == ("peek", "failed", "none")
    assert "container failed: MemoryError: container OOM" in (dead.error or "")
