"""``ctxlab bench --target s3://...``: the moto server addressed exactly as a real endpoint —
preflight errors, the confirmation prompt, run-prefix cleanup and ``--keep``."""

from __future__ import annotations

import io
import json
import os
import pty
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions as bce
import pytest

from bench.cli import main
from bench.network.server import S3Server
from bench.runner import BenchConfig, run_bench
from bench.targets import REAL_PROFILE, RealTarget, estimate, real_target_kind
from contexts.location import S3Location
from tests.conftest import S3Env

CONTEXTS = ("s3-sequential", "s3-byte-range", "s3-large-chunk")
SMALL = ["--contexts", ",".join(CONTEXTS), "--scenarios", "peek", "--lines", "2000"]


def bench(s3: S3Env, tmp_path: Path, *extra: str, prefix: str = "runs") -> int:
    args = ["bench", "--target", f"s3://{s3.bucket}/{prefix}", "--endpoint-url", s3.endpoint_url]
    return main([*args, *SMALL, "--out", str(tmp_path), *extra])


def keys(s3: S3Env, prefix: str = "") -> list[str]:
    pages = s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def results(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    return data


@pytest.mark.timeout(120)
def test_real_target_runs_the_matrix_and_deletes_its_prefix(
    s3: S3Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put(f"s3://{s3.bucket}/runs/", "unrelated.txt", "not the bench's")
    assert bench(s3, tmp_path, "--yes") == 0
    run = results(tmp_path)["run"]
    assert run["target"] == f"s3://{s3.bucket}/runs/"
    assert run["network"].startswith("real") and run["profiles"] == {}
    assert run["endpoint"] == s3.endpoint_url and run["kept"] is False
    assert run["run_prefix"].startswith(f"s3://{s3.bucket}/runs/ctxlab-run-")
    cells = results(tmp_path)["cells"]
    assert len(cells) == 3 and all(c["status"] == "ok" and c["correct"] for c in cells)
    assert {c["profile"] for c in cells} == {REAL_PROFILE}
    # a real network has no model and no measured ceiling: neither bound, no ratios
    assert run["ceiling_bytes_per_s"] is None and run["ceiling"] is None
    assert {(c["lower_bound_s"], c["ratio"]) for c in cells} == {(0.0, None)}
    assert {(c["physical_limit_s"], c["physical_ratio"]) for c in cells} == {(0.0, None)}
    assert keys(s3) == ["runs/unrelated.txt"]  # the run prefix is empty, nothing else touched
    out = capsys.readouterr().out
    config = BenchConfig(CONTEXTS, ("peek",), ("real",), (2000,), tmp_path)
    expected = estimate(config)
    assert f"{expected.objects:,} objects" in out  # the estimate was printed ...
    assert f"deleted {expected.objects:,} objects" in out  # ... and matched what was stored


@pytest.mark.timeout(120)
def test_keep_leaves_the_corpora_under_the_run_prefix(s3: S3Env, tmp_path: Path) -> None:
    assert bench(s3, tmp_path, "--yes", "--keep") == 0
    run = results(tmp_path)["run"]
    assert run["kept"] is True
    run_prefix = run["run_prefix"].removeprefix(f"s3://{s3.bucket}/")
    stored = keys(s3)
    assert stored and all(key.startswith(run_prefix) for key in stored)
    assert f"{run_prefix}2000-lines-seed0/segments-1000/manifest.json" in stored


@pytest.fixture
def terminal_stdin(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A real pseudo-terminal as stdin; yields the fd to type answers into."""
    controller, terminal = pty.openpty()
    handle = os.fdopen(terminal, "r")
    monkeypatch.setattr(sys, "stdin", handle)
    yield controller
    handle.close()
    os.close(controller)


@pytest.mark.timeout(120)
def test_prompt_yes_runs_and_no_cancels_before_any_upload(
    s3: S3Env, tmp_path: Path, terminal_stdin: int, capsys: pytest.CaptureFixture[str]
) -> None:
    os.write(terminal_stdin, b"n\n")
    with pytest.raises(SystemExit, match="cancelled; nothing was uploaded"):
        bench(s3, tmp_path)
    assert "[y/N]" in capsys.readouterr().out
    assert keys(s3) == []
    os.write(terminal_stdin, b"y\n")
    assert bench(s3, tmp_path) == 0
    assert keys(s3) == []


def test_non_interactive_stdin_without_yes_refuses(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))  # a pipe, not a terminal
    with pytest.raises(SystemExit, match="stdin is not a terminal; pass --yes"):
        bench(s3, tmp_path)
    assert keys(s3) == []


def test_missing_bucket(s3: S3Env, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"bucket 'no-such-bucket-x' does not exist .* create it"):
        main(
            [
                "bench",
                "--target",
                "s3://no-such-bucket-x/p",
                "--endpoint-url",
                s3.endpoint_url,
                *SMALL,
                "--yes",
            ]
        )


def test_missing_credentials(s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    # AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE point at empty files (tests/conftest.py)
    assert Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).read_text() == ""
    with pytest.raises(SystemExit) as raised:
        bench(s3, tmp_path, "--yes")
    message = str(raised.value)
    assert "no AWS credentials found" in message and "AWS_ACCESS_KEY_ID" in message
    assert "\n" not in message


def test_unknown_aws_profile(s3: S3Env, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="AWS profile 'nobody' is not in your AWS config"):
        bench(s3, tmp_path, "--yes", "--aws-profile", "nobody")


def test_wrong_region(s3: S3Env, tmp_path: Path) -> None:
    client = boto3.client("s3", endpoint_url=s3.endpoint_url, region_name="eu-west-1")
    client.create_bucket(
        Bucket="ctxlab-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client.close()
    base = ["bench", "--target", "s3://ctxlab-eu/p", "--endpoint-url", s3.endpoint_url]
    with pytest.raises(SystemExit, match="is in region eu-west-1, not ap-south-1: pass --region"):
        main([*base, "--region", "ap-south-1", *SMALL, "--yes"])


@pytest.mark.timeout(60)
def test_access_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A moto server with IAM authorisation on (its own process): a user without policies."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "8")  # read by the spawned server
    with S3Server() as server:
        endpoint = server.raw_endpoint
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="ctxlab-locked")
        iam = boto3.client("iam", endpoint_url=endpoint)
        iam.create_user(UserName="no-policies")
        key = iam.create_access_key(UserName="no-policies")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.delenv("AWS_SESSION_TOKEN")
        user = boto3.client("s3", endpoint_url=endpoint)
        for _ in range(10):  # use up the unauthenticated actions left
            try:
                user.list_buckets()
            except bce.ClientError:
                break
        else:
            pytest.fail("moto did not enforce IAM authorisation")
        with pytest.raises(SystemExit) as raised:
            main(
                [
                    "bench",
                    "--target",
                    "s3://ctxlab-locked/p",
                    "--endpoint-url",
                    endpoint,
                    *SMALL,
                    "--yes",
                ]
            )
    message = str(raised.value)
    assert "access to bucket 'ctxlab-locked'" in message and "was denied" in message
    assert key["SecretAccessKey"] not in message and key["AccessKeyId"] not in message


def test_moto_only_options_are_refused_with_moto(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--keep only apply to --target s3://"):
        main(["bench", "--keep", *SMALL])


@pytest.mark.timeout(120)
def test_ctrl_c_mid_run_still_deletes_the_run_prefix(s3: S3Env, tmp_path: Path) -> None:
    target = RealTarget(
        S3Location(s3.bucket, "runs/"), endpoint_url=s3.endpoint_url, run_id="ctxlab-run-test"
    )
    config = BenchConfig(
        ("s3-sequential", "s3-byte-range"), ("peek",), (REAL_PROFILE,), (2000,), tmp_path
    )
    messages: list[str] = []
    done: list[object] = []

    def interrupt_after_first(cell: object) -> None:
        done.append(cell)
        assert keys(s3, "runs/ctxlab-run-test/")  # the corpus is there while the run runs
        raise KeyboardInterrupt

    results = run_bench(
        config, on_cell_done=interrupt_after_first, target=real_target_kind(target, messages.append)
    )
    assert results.meta["interrupted"] is True and len(results.cells) == len(done) == 1
    assert keys(s3) == [] and messages and messages[0].startswith("deleted ")


def test_the_estimate_plans_single_object_reads_with_the_layouts_planner(tmp_path: Path) -> None:
    """head-50k on 100k lines: preflight (2) + upload of text and index (2) + the index at open
    (1) + one GET, 50k lines being under one 8 MiB part (1) + cleanup (2), the cell run twice
    (the first of its group: once untimed before it); a 100k-line read is ~10.6 MB, so the
    planner splits it into two parts."""
    head = estimate(BenchConfig(("s3-byte-range",), ("head-50k",), ("real",), (100_000,), tmp_path))
    assert head.requests == 8 + 2 and head.objects == 2
    assert 2 * 4_500_000 < head.bytes_down < 2 * 6_500_000
    ladder = estimate(
        BenchConfig(("s3-byte-range",), ("slice-sizes",), ("real",), (100_000,), tmp_path)
    )
    # 100, 1k, 10k lines: a GET each; 100k twice: 2 parts; the cell twice
    assert ladder.requests == 7 + 3 + 2 + 2 + (1 + 3 + 2 + 2)
