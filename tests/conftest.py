"""Shared fixtures: a real moto S3 server over HTTP on 127.0.0.1, dummy credentials, raw boto3."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from bench.network.moto_storage import make_conditional_puts_atomic

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class SilentServer:
    """An endpoint that accepts connections and never answers, and the connections it took
    (one per attempt a client made: a count that says how often it tried, not how long)."""

    url: str
    held: list[socket.socket] = field(default_factory=list)

    @property
    def connections(self) -> int:
        return len(self.held)


@pytest.fixture(scope="session", autouse=True)
def isolated_aws_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Dummy credentials; never the developer's own config, never instance metadata; auto's
    metadata cache in the session's own directory."""
    empty = tmp_path_factory.mktemp("aws") / "empty"
    empty.write_text("")
    patch = pytest.MonkeyPatch()
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        patch.delenv(key, raising=False)
    for key, value in FAKE_CREDENTIALS.items():
        patch.setenv(key, value)
    patch.setenv("AWS_CONFIG_FILE", str(empty))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    patch.setenv("CTXLAB_METADATA_CACHE", str(tmp_path_factory.mktemp("metadata-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def moto_endpoint(isolated_aws_environment: None) -> Iterator[str]:
    """A moto S3 server for the whole session: real HTTP on 127.0.0.1, an OS-chosen port, its
    conditional PutObject atomic as on S3 (``bench/network/moto_storage.py``)."""
    assert make_conditional_puts_atomic(), "moto's PutObject moved: update moto_storage.py"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class S3Env:
    """Everything a test needs to put data on the moto server with raw boto3."""

    endpoint_url: str
    client: Any
    bucket: str

    def new_url(self) -> str:
        """A fresh, empty ``s3://`` prefix in the test bucket."""
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:12]}/"

    def put(self, url: str, name: str, data: bytes | str) -> None:
        """Upload one object under ``url`` with raw boto3."""
        bucket, _, prefix = url[len("s3://") :].partition("/")
        body = data.encode("utf-8") if isinstance(data, str) else data
        self.client.put_object(Bucket=bucket, Key=prefix + name, Body=body)

    def get(self, url: str, name: str) -> bytes:
        """Download one object under ``url`` with raw boto3."""
        bucket, _, prefix = url[len("s3://") :].partition("/")
        data: bytes = self.client.get_object(Bucket=bucket, Key=prefix + name)["Body"].read()
        return data


@pytest.fixture
def s3(moto_endpoint: str) -> Iterator[S3Env]:
    """A clean moto server (reset before the test) with one empty bucket."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=32),
    )
    bucket = f"test-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    yield S3Env(moto_endpoint, client, bucket)
    client.close()


def pytest_report_header(config: pytest.Config) -> str:
    return f"rlm-context-lab tests; AWS env isolated (pid {os.getpid()})"


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """A TCP server that accepts connections and never answers (bounded: closes on teardown)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    silent = SilentServer(f"http://127.0.0.1:{server.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                silent.held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield silent
    stop.set()
    thread.join(timeout=5)
    for connection in silent.held:
        connection.close()
    server.close()
