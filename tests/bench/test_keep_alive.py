"""The embedded server's HTTP side keeps connections of bodiless requests open, as S3 does, and
closes them where it must: a body sent without a length, a request with a body, a failed app,
the server's stop."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest

from bench.network import S3Server
from bench.network.aws_env import REGION, use_local_aws_env
from bench.network.http_server import KeepAliveServer, RequestHandler

BODY = b"abc" * 1000


def _app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """``/sized``: a body with its length; ``/unsized``: a body without one; ``/fail``: an
    error before the response; anything else: 404."""
    path = environ["PATH_INFO"]
    if path == "/sized":
        start_response("200 OK", [("Content-Length", str(len(BODY)))])
        return [BODY]
    if path == "/unsized":
        start_response("200 OK", [])
        return iter([BODY[:100], BODY[100:]])
    if path == "/fail":
        raise RuntimeError("the app failed")
    start_response("404 Not Found", [("Content-Length", "0")])
    return []


@pytest.fixture
def served() -> Iterator[KeepAliveServer]:
    server = KeepAliveServer("127.0.0.1", _app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    server.close_connections()
    thread.join(10)
    assert not thread.is_alive()


def _connection(server: KeepAliveServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


@pytest.mark.timeout(60)
def test_gets_with_a_length_share_one_connection(served: KeepAliveServer) -> None:
    connection = _connection(served)
    sockets = []
    for path in ("/sized", "/missing", "/sized"):
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.read() == (BODY if path == "/sized" else b"")
        assert not response.will_close
        sockets.append(connection.sock)
    assert sockets[0] is not None and all(sock is sockets[0] for sock in sockets)
    connection.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("method", "path", "body", "status", "answer"),
    [
        ("GET", "/unsized", None, 200, BODY),  # the body ends where the connection does
        ("GET", "/fail", None, 500, None),  # an app error
        ("PUT", "/sized", b"x" * 10, 200, BODY),  # a request with a body: werkzeug's way
    ],
)
def test_these_responses_close_their_connection(
    served: KeepAliveServer,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    answer: bytes | None,
) -> None:
    connection = _connection(served)
    connection.request(method, path, body=body)
    response = connection.getresponse()
    read = response.read()
    assert response.status == status
    if answer is not None:
        assert read == answer
    assert response.will_close
    connection.close()


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """Whether the server's end of ``connection`` is gone (its socket reads EOF or a reset)."""
    assert connection.sock is not None
    connection.sock.settimeout(10)
    try:
        return connection.sock.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.mark.timeout(60)
def test_stop_closes_connections_kept_alive(served: KeepAliveServer) -> None:
    connection = _connection(served)
    connection.request("GET", "/sized")
    connection.getresponse().read()
    served.close_connections()
    assert _closed_by_server(connection)
    connection.close()


@pytest.mark.timeout(60)
def test_the_s3_server_answers_gets_on_one_connection() -> None:
    use_local_aws_env()
    with S3Server(in_process=True) as running:
        raw = boto3.client("s3", endpoint_url=running.raw_endpoint, region_name=REGION)
        raw.create_bucket(Bucket="keep-alive")
        raw.put_object(Bucket="keep-alive", Key="x", Body=BODY)
        try:
            shaped = boto3.client("s3", endpoint_url=running.shaped_endpoint, region_name=REGION)
            url = shaped.generate_presigned_url(
                "get_object", Params={"Bucket": "keep-alive", "Key": "x"}
            )
            host, _, rest = url.removeprefix("http://").partition("/")
            connection = http.client.HTTPConnection(host, timeout=10)
            first: socket.socket | None = None
            for _ in range(3):
                connection.request("GET", "/" + rest)
                response = connection.getresponse()
                assert (response.status, response.read()) == (200, BODY)
                assert not response.will_close
                first = first or connection.sock
                assert connection.sock is first
            connection.close()
        finally:
            raw.delete_object(Bucket="keep-alive", Key="x")
            raw.delete_bucket(Bucket="keep-alive")


@pytest.mark.timeout(60)
def test_an_idle_connection_closes_quietly(
    served: KeepAliveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A kept-alive connection idle past the handler's timeout is closed by the server, and its
    timeout is not logged as an error (a bench run would print one line per idle connection)."""
    monkeypatch.setattr(RequestHandler, "timeout", 0.2)  # read as each connection is set up
    connection = _connection(served)
    connection.request("GET", "/sized")
    assert connection.getresponse().read() == BODY
    assert _closed_by_server(connection)
    connection.close()
    assert "timed out" not in caplog.text
