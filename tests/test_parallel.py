"""s3-threaded and volume: requests really overlap, 32 readers agree with the oracle, the pool
is sized to the fan-out, nothing is left running, and a volume cannot be led out of its root."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import contexts
from bench.network import S3Server
from tests.conftest import S3Env
from tests.reference import reference_lines, upload_segments
from tests.servers import counted_head, latency_server

TEXT = "".join(f"{i:05d} é€ 中 \U0001f600 parallel line\n" for i in range(2000))
LINES = reference_lines(TEXT)


@pytest.fixture(scope="module")
def slow_server() -> Iterator[S3Server]:
    """Every request waits 100 ms for its first byte."""
    with latency_server(TEXT, "parallel", first_byte_ms=100.0) as server:
        yield server


@pytest.mark.timeout(120)
def test_threaded_overlaps_the_twenty_gets(slow_server: S3Server) -> None:
    """Counted at the server, not timed: one GET at a time for s3-sequential, the twenty
    segment GETs in flight together for s3-threaded (each is held 100 ms, so they meet)."""
    sequential = counted_head("s3-sequential", slow_server, "s3://parallel/ctx/", TEXT)
    threaded = counted_head("s3-threaded", slow_server, "s3://parallel/ctx/", TEXT)
    assert sequential.requests == threaded.requests == 21
    assert sequential.served == threaded.served == 20
    assert sequential.peak_in_flight == 1
    assert threaded.peak_in_flight > 1, threaded


def test_pool_is_sized_to_the_fan_out(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    with contexts.open_context(
        "s3-threaded", url, endpoint_url=s3.endpoint_url, max_workers=48
    ) as ctx:
        client_config = ctx.transport.client.meta.config  # type: ignore[attr-defined]
        assert client_config.max_pool_connections == 48
        assert ctx.text() == TEXT
    with pytest.raises(ValueError, match="max_workers"):
        contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url, max_workers=0)


def _readers_agree(ctx: contexts.Context, threads: int = 32, reads: int = 20) -> None:
    failures: list[tuple[int, int] | BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(reads):
                a, b = sorted(rng.randrange(-2100, 2100) for _ in range(2))
                if ctx[a:b] != "".join(LINES[a:b]):
                    failures.append((a, b))
        except Exception as exc:  # a reader that raised has not agreed: fail the test
            failures.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in workers), "a reader hung"
    assert failures == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["s3-threaded", "s3-async", "obstore"])
def test_thirty_two_threads_on_one_s3_context(s3: S3Env, name: str) -> None:
    url = s3.new_url()
    upload_segments(lambda name, data: s3.put(url, name, data), TEXT, 250)
    # A generous read timeout: this test is about thread safety, and the in-process server
    # shares its GIL with 32 readers (a 2 s first-byte hedge can expire under CI load).
    with contexts.open_context(name, url, endpoint_url=s3.endpoint_url, read_timeout_s=30) as ctx:
        _readers_agree(ctx)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("layout", ["segments", "single"])
def test_thirty_two_threads_on_one_volume(tmp_path: Path, layout: str) -> None:
    contexts.write_layout(TEXT, str(tmp_path), layout, lines_per_segment=37, index_stride=5)
    with contexts.open_context("volume", str(tmp_path)) as ctx:
        assert ctx.reader.layout == layout  # type: ignore[attr-defined]
        _readers_agree(ctx)


def _fetch_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if "Transport-fetch" in t.name]


def test_close_leaves_no_fetch_thread(s3: S3Env, tmp_path: Path) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    contexts.write_layout(TEXT, str(tmp_path), lines_per_segment=100)
    before = _fetch_threads()
    for ctx in (
        contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url),
        contexts.open_context("volume", str(tmp_path)),
    ):
        assert ctx.text() == TEXT
        assert len(_fetch_threads()) > len(before)
        ctx.close()
        assert _fetch_threads() == before
        with pytest.raises(contexts.ContextClosedError):
            ctx[0:10]


def test_volume_refuses_to_leave_its_root(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (tmp_path / "secret.log").write_text("secret\n")
    (root / "inside.log").write_text("ok\n")
    (root / "escape.log").symlink_to(tmp_path / "secret.log")

    def manifest(name: str) -> None:
        entry = {"segment": name, "start_line": 0, "line_count": 1}
        (root / "manifest.json").write_text(json.dumps([entry]))

    manifest("../secret.log")
    with pytest.raises(contexts.ManifestError, match=r"'\.\.'"):
        contexts.open_context("volume", str(root))
    manifest(str(tmp_path / "secret.log"))
    with pytest.raises(contexts.ManifestError, match="relative"):
        contexts.open_context("volume", str(root))
    manifest("escape.log")
    with (
        contexts.open_context("volume", str(root)) as ctx,
        pytest.raises(contexts.UnsafePathError, match="outside the context root"),
    ):
        ctx[0]
    manifest("inside.log")
    with contexts.open_context("volume", str(root)) as ctx:
        assert ctx[0] == "ok\n"


def test_volume_and_threaded_name_the_right_url_kind(s3: S3Env, tmp_path: Path) -> None:
    with pytest.raises(contexts.InvalidURLError, match="s3-threaded"):
        contexts.open_context("volume", "s3://bucket/ctx/")
    with pytest.raises(contexts.InvalidURLError, match="volume"):
        contexts.open_context("s3-threaded", str(tmp_path))


def test_reads_racing_close_get_a_named_error_and_leave_no_pool(tmp_path: Path) -> None:
    contexts.write_layout(TEXT, str(tmp_path), lines_per_segment=10)
    ctx = contexts.open_context("volume", str(tmp_path), max_workers=2)
    transport = ctx.transport  # type: ignore[attr-defined]
    slow_fetch = transport._fetch

    def slow(request: object) -> bytes:
        time.sleep(0.05)
        return slow_fetch(request)  # type: ignore[no-any-return]

    transport._fetch = slow
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            ctx.text()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    time.sleep(0.2)
    ctx.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], contexts.ContextClosedError), errors
    assert transport._pool is None and _fetch_threads() == []


def test_close_closes_the_boto3_client(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    closed: list[bool] = []
    with contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url) as ctx:
        client = ctx.transport.client  # type: ignore[attr-defined]
        original = client.close
        client.close = lambda: (closed.append(True), original())[1]
        assert ctx.text() == TEXT
    assert closed == [True]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"endpoint_url": "localhost:9000"}, contexts.InvalidURLError),
        ({"endpoint_url": "http://"}, contexts.InvalidURLError),
        ({"max_attempts": 0}, ValueError),
        ({"read_timeout_s": 0}, ValueError),
    ],
)
def test_bad_s3_options_are_refused_up_front(options: dict[str, object], error: type) -> None:
    for name in ("s3-sequential", "s3-threaded", "s3-async", "obstore"):
        with pytest.raises(error):
            contexts.open_context(name, "s3://bucket/ctx/", **options)
