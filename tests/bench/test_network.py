"""The simulated network: profiles, seeded sampling, shaping over real HTTP, faults, the server
process lifecycle and the calibration relations. Speed is asserted only as ratios measured in the
same test (plus generous upper bounds against hangs)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bench.cli import main as cli_main
from bench.network import (
    BUILTIN_PROFILES,
    FaultKind,
    FaultRates,
    LatencyModel,
    NetworkProfile,
    ProfileError,
    S3Server,
    Sampler,
    ServerError,
    load_profile,
)
from bench.network.aws_env import REGION, use_local_aws_env
from bench.network.calibrate import calibrate, predict_ms
from bench.network.ceiling import BUCKET as CEILING_BUCKET
from bench.network.ceiling import measure_ceiling

BUCKET = "network-tests"
SMALL = b"0123456789abcdef" * 64  # 1 KiB


def _profile(name: str, **kwargs: Any) -> NetworkProfile:
    return NetworkProfile(name=name, description="test", source="test", **kwargs)


def _client(endpoint: str, *, retries: int | None = None, pool: int = 10) -> Any:
    config = Config(max_pool_connections=pool)
    if retries is not None:
        config = config.merge(Config(retries={"total_max_attempts": retries}))
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, config=config)


def _timed_get(s3: Any, key: str = "small") -> float:
    start = time.perf_counter()
    s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return time.perf_counter() - start


def _pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    saved = {name: os.environ.get(name) for name in (*names, "AWS_EC2_METADATA_DISABLED")}
    use_local_aws_env()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _populate(endpoint: str) -> None:
    raw = _client(endpoint)
    raw.create_bucket(Bucket=BUCKET)
    raw.put_object(Bucket=BUCKET, Key="small", Body=SMALL)


@pytest.fixture(scope="module", params=["middleware", "proxy"])
def server(aws_env: None, request: pytest.FixtureRequest) -> Iterator[S3Server]:
    """The shaping tests run twice: on the embedded server (shaping inside moto's process) and
    on a proxy in front of a moto server (how any other S3 server is shaped)."""
    with S3Server() as moto:
        if request.param == "middleware":
            _populate(moto.raw_endpoint)
            yield moto
            return
        with S3Server(upstream=moto.raw_endpoint) as proxy:
            _populate(proxy.raw_endpoint)
            yield proxy


# --- profiles ------------------------------------------------------------------------------------


def test_builtin_profiles_load_and_round_trip_through_json() -> None:
    assert {"none", "seed", "s3-standard", "s3-express", "cross-region", "faulty"} <= set(
        BUILTIN_PROFILES
    )
    for name, profile in BUILTIN_PROFILES.items():
        assert load_profile(name) is profile
        assert profile.source, f"{name} must say where its numbers come from"
        data = json.loads(json.dumps(profile.to_dict()))
        assert NetworkProfile.from_dict(data) == profile


def test_builtin_numbers() -> None:
    assert load_profile("seed").first_byte.sample_ms(random.Random(0)) == 150.0
    standard = load_profile("s3-standard").first_byte
    assert standard.quantile_ms(0.5) == pytest.approx(20.0)
    assert standard.quantile_ms(0.99) == pytest.approx(150.0)
    assert load_profile("s3-standard").bandwidth_bytes_per_s == 90e6
    assert load_profile("faulty").faults.total > 0
    assert load_profile("none").faults.total == 0


def test_profile_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "lan.toml"
    path.write_text(
        'description = "office LAN"\n'
        "bandwidth_bytes_per_s = 12_500_000\n"
        "[first_byte]\np50_ms = 1.5\np99_ms = 9\n"
        "[faults]\nslowdown = 0.05\nslow_tail_multiplier = [2, 4]\n"
    )
    profile = load_profile(path)
    assert profile.name == "lan"  # the file name when `name` is absent
    assert profile.first_byte == LatencyModel.lognormal(1.5, 9.0)
    assert profile.bandwidth_bytes_per_s == 12_500_000
    assert profile.faults == FaultRates(slowdown=0.05, slow_tail_multiplier=(2.0, 4.0))


def test_profile_extends_a_builtin(tmp_path: Path) -> None:
    path = tmp_path / "throttled.toml"
    path.write_text('name = "throttled"\nextends = "s3-standard"\n[faults]\nslowdown = 0.2\n')
    profile = load_profile(str(path))
    standard = load_profile("s3-standard")
    assert profile.name == "throttled"
    assert profile.first_byte == standard.first_byte
    assert profile.bandwidth_bytes_per_s == standard.bandwidth_bytes_per_s
    assert profile.faults.slowdown == 0.2


def test_profile_from_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    data = {"name": "j", "first_byte": {"fixed_ms": 7}, "bandwidth_bytes_per_s": None}
    path.write_text(json.dumps(data))
    profile = load_profile(path)
    assert (profile.name, profile.first_byte.fixed_ms, profile.bandwidth_bytes_per_s) == (
        "j",
        7,
        None,
    )


@pytest.mark.parametrize(
    ("suffix", "text", "expected"),
    [
        (".toml", "[first_bite]\nfixed_ms = 3\n", "unknown field 'first_bite'"),
        (".toml", "[first_byte]\nfixed_ms = 3\nmedian = 2\n", "unknown field 'median'"),
        (".toml", '[faults]\nslowdown = "5%"\n', "faults.slowdown must be a number"),
        (".toml", "[faults]\nslowdown = 0.7\nreset = 0.7\n", "add up to 1.4"),
        (".toml", "[first_byte]\np50_ms = 50\np99_ms = 10\n", "p99_ms (10) must be >= p50_ms"),
        (".toml", "[first_byte]\np50_ms = 50\n", "both p50_ms and p99_ms"),
        (".toml", "bandwidth_bytes_per_s = -1\n", "bandwidth_bytes_per_s must be a number > 0"),
        (".toml", "name = 'x\n", "not valid TOML"),
        (".json", "{not json", "not valid JSON"),
        (".json", "[1, 2]", "must be a table/object"),
        (".toml", 'extends = "nope"\n', "unknown network profile 'nope'"),
    ],
)
def test_bad_profile_files_raise_a_named_error(
    tmp_path: Path, suffix: str, text: str, expected: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    with pytest.raises(ProfileError, match="bad") as info:
        load_profile(path)
    assert expected in str(info.value)


def test_unknown_name_lists_builtins_and_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"s3-standard.*\.toml") as info:
        load_profile("s3-standrad")
    assert "'s3-standrad'" in str(info.value)
    with pytest.raises(ProfileError, match="cannot read profile file"):
        load_profile(tmp_path / "missing.toml")


# --- sampling ------------------------------------------------------------------------------------


def test_same_seed_same_draws_different_seed_different_draws() -> None:
    faulty = load_profile("faulty")
    a = Sampler(faulty, seed=7)
    b = Sampler(faulty, seed=7)
    c = Sampler(faulty, seed=8)
    draws_a = [a.draw() for _ in range(500)]
    assert draws_a == [b.draw() for _ in range(500)]
    assert draws_a != [c.draw() for _ in range(500)]
    assert draws_a[0] == Sampler(faulty, seed=7).draw()


def test_sampled_distribution_matches_profile() -> None:
    profile = _profile(
        "dist",
        first_byte=LatencyModel.lognormal(20.0, 150.0),
        faults=FaultRates(slowdown=0.1, reset=0.05, slow_tail=0.05, slow_tail_multiplier=(10, 50)),
    )
    sampler = Sampler(profile, seed=1)
    draws = [sampler.draw() for _ in range(20_000)]
    normal = sorted(d.first_byte_s * 1000 for d in draws if d.fault is None)
    assert normal[len(normal) // 2] == pytest.approx(20.0, rel=0.1)
    assert normal[int(len(normal) * 0.99)] == pytest.approx(150.0, rel=0.25)
    share = {kind: sum(d.fault is kind for d in draws) / len(draws) for kind in FaultKind}
    assert share[FaultKind.SLOWDOWN] == pytest.approx(0.1, abs=0.015)
    assert share[FaultKind.RESET] == pytest.approx(0.05, abs=0.01)
    assert share[FaultKind.INTERNAL_ERROR] == 0
    tails = [d.first_byte_s * 1000 for d in draws if d.fault is FaultKind.SLOW_TAIL]
    assert min(tails) >= 200 and max(tails) <= 1000  # 10-50x the 20 ms median


# --- shaping over real HTTP ----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_raw_endpoint_bypasses_shaping(server: S3Server) -> None:
    """Counted: the shaper sees only the shaped endpoint's GETs. The one timing check is a
    floor the shaper guarantees (it sleeps), which a busy machine can only raise."""
    server.set_profile("seed")
    raw, shaped = _client(server.raw_endpoint), _client(server.shaped_endpoint)
    for _ in range(4):
        _timed_get(raw)
    shaped_s = min(_timed_get(shaped) for _ in range(3))
    assert shaped_s >= 0.15
    assert server.fault_counts()["requests"] == 3


@pytest.mark.timeout(60)
@pytest.mark.parametrize("client", ["boto3", "aioboto3"])
def test_concurrent_gets_overlap_at_the_server(server: S3Server, client: str) -> None:
    """Calibration's concurrent GETs really meet at the server (a count, not a time); each
    request pays at least the profile's first byte (a floor the shaper guarantees)."""
    rows = calibrate(server, "seed", clients=[client], repeats=1, large_bytes=1 << 20)
    one, concurrent, _large = rows
    assert (one.errors, concurrent.errors) == (0, 0)
    assert one.measured_ms >= 150
    assert server.peak_in_flight() > 1


@pytest.mark.timeout(60)
def test_64_concurrent_connections(server: S3Server) -> None:
    """64 threads' GETs are all served and overlap at the server (counted, not timed)."""
    server.set_profile("seed")
    s3 = _client(server.shaped_endpoint, pool=64)
    _timed_get(s3)
    server.set_profile("seed")
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(lambda _: _timed_get(s3), range(64)))
    assert server.fault_counts()["requests"] == 64
    assert server.peak_in_flight() > 1


@pytest.mark.timeout(60)
def test_bandwidth_limit_slows_large_gets(server: S3Server) -> None:
    """The shaper paces a 16 MiB body to 64 MB/s: it cannot arrive sooner than the prediction
    (a floor, which a busy machine can only raise)."""
    limited = _profile("limited", first_byte=LatencyModel.fixed(5.0), bandwidth_bytes_per_s=64e6)
    rows = calibrate(server, limited, clients=["boto3"], repeats=1, large_bytes=16 << 20)
    _small, _, large = rows
    assert large.predicted_ms == pytest.approx(5 + 1000 * (16 << 20) / 64e6)
    assert large.measured_ms > 0.9 * large.predicted_ms


def test_predictions() -> None:
    seed = load_profile("seed")
    assert predict_ms(seed, 1 << 20, concurrency=50) == 150.0
    standard = load_profile("s3-standard")
    assert predict_ms(standard, 0) == pytest.approx(20.0)
    assert 20 < predict_ms(standard, 0, concurrency=50) < 150
    assert predict_ms(standard, 90_000_000) == pytest.approx(1020.0)


@pytest.mark.timeout(60)
def test_ceiling_measures_a_positive_rate_and_cleans_up(server: S3Server) -> None:
    """The ceiling: a warm-up round plus every timed round of parallel range GETs reaches the
    shaped endpoint (counted there), the best round is the figure, and nothing is left behind."""
    server.set_profile("seed")  # the measurement must switch to none by itself
    ceiling = measure_ceiling(server, object_bytes=4 << 20, parallel=4, rounds=2, budget_s=math.inf)
    assert ceiling.error is None
    assert ceiling.bytes_per_s is not None and ceiling.bytes_per_s > 0
    assert len(ceiling.rounds_bytes_per_s) == 2
    assert ceiling.bytes_per_s == max(ceiling.rounds_bytes_per_s)
    assert ceiling.requests == 4 * (1 + 2) == server.fault_counts()["requests"]
    assert server.profile.name == "none"
    assert (ceiling.object_bytes, ceiling.range_bytes) == (4 << 20, 1 << 20)
    meta = ceiling.to_meta()
    assert meta["bytes_per_s"] == ceiling.bytes_per_s and meta["requests"] == 12
    assert "2 rounds of 4 parallel range GETs of 1 MiB" in meta["method"]
    buckets = {b["Name"] for b in _client(server.raw_endpoint).list_buckets()["Buckets"]}
    assert CEILING_BUCKET not in buckets and BUCKET in buckets


def test_ceiling_of_a_server_that_is_not_running_is_unknown() -> None:
    ceiling = measure_ceiling(S3Server())
    assert ceiling.bytes_per_s is None and ceiling.requests == 0
    assert ceiling.error is not None and "not running" in ceiling.error
    with pytest.raises(ValueError, match="parallel"):
        measure_ceiling(S3Server(), parallel=0)


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [(FaultKind.SLOWDOWN, 503, "SlowDown"), (FaultKind.INTERNAL_ERROR, 500, "InternalError")],
)
def test_error_faults_reach_the_client(
    server: S3Server, kind: FaultKind, status: int, code: str
) -> None:
    server.set_profile(NetworkProfile.from_dict({"name": "always", "faults": {kind.value: 1.0}}))
    s3 = _client(server.shaped_endpoint, retries=1)
    for _ in range(3):
        with pytest.raises(ClientError) as info:
            _timed_get(s3)
        assert info.value.response["Error"]["Code"] == code
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert server.fault_counts() == {
        "requests": 3,
        **{k.value: 3 if k is kind else 0 for k in FaultKind},
    }


@pytest.mark.timeout(60)
def test_reset_fault_breaks_the_connection(server: S3Server) -> None:
    raw = _client(server.raw_endpoint)
    raw.put_object(Bucket=BUCKET, Key="medium", Body=b"m" * (1 << 20))
    server.set_profile(_profile("resets", faults=FaultRates(reset=1.0)), seed=3)
    s3 = _client(server.shaped_endpoint, retries=1)
    for _ in range(3):
        with pytest.raises(BotoCoreError) as info:
            _timed_get(s3, "medium")
        message = str(info.value)
        assert "reset" in message.lower() or "IncompleteRead" in message, message
    assert server.fault_counts()[FaultKind.RESET.value] == 3
    server.set_profile("none")
    assert _timed_get(s3, "medium") < 30  # the server still serves after resets


@pytest.mark.timeout(60)
def test_set_profile_restarts_the_seeded_sequence(server: S3Server) -> None:
    coin = _profile("coin", faults=FaultRates(slowdown=0.5))
    s3 = _client(server.shaped_endpoint, retries=1)

    def outcomes(seed: int) -> list[bool]:
        server.set_profile(coin, seed=seed)
        result = []
        for _ in range(24):
            try:
                _timed_get(s3)
                result.append(True)
            except ClientError:
                result.append(False)
        return result

    first = outcomes(11)
    assert 0 < first.count(False) < 24
    assert first == outcomes(11)
    other = outcomes(12)
    assert other != first
    assert server.fault_counts() == {
        "requests": 24,
        **{kind.value: 0 for kind in FaultKind},
        "slowdown": other.count(False),
    }


# --- server lifecycle ----------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_reset_clears_buckets(server: S3Server) -> None:
    raw = _client(server.raw_endpoint)
    server.reset()
    assert raw.list_buckets()["Buckets"] == []
    _populate(server.raw_endpoint)


@pytest.mark.timeout(60)
def test_in_process_server_shapes_too(aws_env: None) -> None:
    with S3Server("seed", in_process=True) as running:
        assert running.pid is None
        _populate(running.raw_endpoint)
        assert _timed_get(_client(running.shaped_endpoint)) >= 0.15
        assert running.fault_counts()["requests"] == 1
        raw = _client(running.raw_endpoint)  # moto's state is this process's: leave it clean
        raw.delete_object(Bucket=BUCKET, Key="small")
        raw.delete_bucket(Bucket=BUCKET)


@pytest.mark.timeout(60)
def test_stop_ends_the_child_process() -> None:
    running = S3Server().start()
    pid = running.pid
    assert pid is not None and _pid_alive(pid)
    running.stop()
    assert not _pid_alive(pid)
    with pytest.raises(ServerError, match="not running"):
        running.raw_endpoint  # noqa: B018


@pytest.mark.timeout(60)
def test_child_does_not_outlive_a_killed_parent() -> None:
    script = (
        "import time\n"
        "from bench.network import S3Server\n"
        "server = S3Server().start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert _pid_alive(child_pid)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
    deadline = time.monotonic() + 10
    while _pid_alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _pid_alive(child_pid)
    if alive:  # never leave it behind, even when the test fails
        os.kill(child_pid, signal.SIGKILL)
    assert not alive, "the server process outlived its killed parent"


def test_startup_timeout_is_a_named_error() -> None:
    with pytest.raises(ServerError, match="not ready after"):
        S3Server(startup_timeout=0.01).start()


# --- command line --------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_cli_calibrate_json(capsys: pytest.CaptureFixture[str], aws_env: None) -> None:
    argv = ["network", "calibrate", "--profile", "seed", "--repeats", "1", "--clients", "boto3"]
    assert cli_main([*argv, "--concurrency", "8", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["profile"]["name"] == "seed"
    assert [row["case"] for row in payload["rows"]] == ["GET 1 KiB", "8 x GET 1 KiB", "GET 16 MiB"]
    assert all(row["predicted_ms"] == 150.0 for row in payload["rows"])
    assert all(math.isfinite(row["measured_ms"]) for row in payload["rows"])


def test_cli_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["network", "calibrate", "--profile", "nope"]) == 2
    assert "built-ins are none, seed" in capsys.readouterr().err
