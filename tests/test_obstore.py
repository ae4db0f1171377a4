"""obstore (on its loop and, for ``auto``, on threads): the conformance suite, batches planned into few exact GETs, real overlap on a slow
network, every attempt counted, named errors within the deadline, and no thread left behind."""

from __future__ import annotations

import asyncio
import gc
import random
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence

import boto3
import pytest
from obstore.exceptions import GenericError, PermissionDeniedError, UnauthenticatedError

import contexts
from bench.network import S3Server
from bench.network.profiles import FaultRates, NetworkProfile
from contexts.layouts.segments import segment_name
from contexts.location import S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest
from contexts.transport.obstore import Piece, plan_batch, translate_error
from contexts.transport.obstore_threaded import ThreadedObstoreTransport
from contexts.transport.options import S3Options
from contexts.transport.retry import deadline_scope
from tests.conftest import S3Env, SilentServer
from tests.reference import reference_lines, upload_segments, upload_single
from tests.servers import counted_head, latency_server

TEXT = "".join(f"{i:05d} é€ 中 \U0001f600 obstore line\n" for i in range(2000))
LINES = reference_lines(TEXT)


def open_obstore(url: str, endpoint: str, **options: object) -> contexts.Context:
    return contexts.open_context("obstore", url, endpoint_url=endpoint, **options)


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ObstoreTransport-loop")]


def spans(gets: Sequence[ByteRequest]) -> list[tuple[int, int]]:
    """The byte ranges of range GETs."""
    out = []
    for get in gets:
        assert get.byte_range is not None
        out.append(get.byte_range)
    return out


# -- the batch plan ---------------------------------------------------------------------------------


def test_plan_dedups_coalesces_and_splits() -> None:
    requests = [
        ByteRequest("a.log"),
        ByteRequest("t", (100, 200)),
        ByteRequest("a.log"),
        ByteRequest("t", (250, 300)),  # 50 bytes after the first: same GET
        ByteRequest("t", (150, 260)),  # overlaps both
        ByteRequest("t", (5000, 5010)),  # far away: its own GET
        ByteRequest("t", (7, 7)),  # empty: no GET
    ]
    plan = plan_batch(requests, coalesce_bytes=100, part_bytes=None)
    assert sorted(plan.gets, key=repr) == [
        ByteRequest("a.log"),
        ByteRequest("t", (100, 300)),
        ByteRequest("t", (5000, 5010)),
    ]
    data = bytes(range(256)) * 40
    bodies = [data[slice(*get.byte_range)] if get.byte_range else b"whole" for get in plan.gets]
    assert plan.assemble(bodies) == [
        b"whole",
        data[100:200],
        b"whole",
        data[250:300],
        data[150:260],
        data[5000:5010],
        b"",
    ]


def test_plan_merges_then_splits_into_parts() -> None:
    """Ranges 1 byte apart share a GET even when it is longer than a part: it becomes parts
    (the one planner of contexts.ranges, as the layouts plan), so 3 GETs, not 4."""
    plan = plan_batch(
        [ByteRequest("t", (0, 25)), ByteRequest("t", (26, 30))], coalesce_bytes=5, part_bytes=10
    )
    assert [get.byte_range for get in plan.gets] == [(0, 10), (10, 20), (20, 30)]
    assert plan.pieces == (
        (Piece(0, 0, 10), Piece(1, 0, 10), Piece(2, 0, 5)),
        (Piece(2, 6, 4),),
    )
    data = bytes(range(40))
    assert plan.assemble([data[a:b] for a, b in spans(plan.gets)]) == [data[0:25], data[26:30]]
    no_merge = plan_batch(
        [ByteRequest("t", (0, 5)), ByteRequest("t", (5, 9))], coalesce_bytes=None, part_bytes=None
    )
    assert [get.byte_range for get in no_merge.gets] == [(0, 5), (5, 9)]


def test_plan_matches_slicing_for_random_batches() -> None:
    rng = random.Random(3)
    data = bytes(rng.randrange(256) for _ in range(3000))
    for _ in range(300):
        ranges = []
        for _ in range(rng.randint(1, 12)):
            a, b = sorted(rng.sample(range(3001), 2))
            ranges.append((a, b))
        coalesce = rng.choice([None, 0, 10, 500])
        part = rng.choice([None, 1, 7, 100, 5000])
        plan = plan_batch(
            [ByteRequest("t", r) for r in ranges], coalesce_bytes=coalesce, part_bytes=part
        )
        bodies = [data[a:b] for a, b in spans(plan.gets)]
        assert plan.assemble(bodies) == [data[a:b] for a, b in ranges]
        if part is not None:
            assert all(b - a <= part for a, b in spans(plan.gets))


@pytest.mark.parametrize(
    ("exc", "named", "retry", "fragment"),
    [
        (
            FileNotFoundError("404 Not Found: <Code>NoSuchKey</Code>"),
            "ObjectNotFoundError",
            False,
            "does not exist",
        ),
        (
            FileNotFoundError("404: <Code>NoSuchBucket</Code>"),
            "BucketNotFoundError",
            False,
            "bucket",
        ),
        (
            PermissionDeniedError("403: <Code>SignatureDoesNotMatch</Code>"),
            "AccessDeniedError",
            False,
            "SignatureDoesNotMatch",
        ),
        (
            GenericError("status code: 400 Bad Request: <Code>ExpiredToken</Code>"),
            "CredentialsError",
            False,
            "expired",
        ),
        (
            UnauthenticatedError("provider: RuntimeError: AKIASECRET"),
            "CredentialsError",
            False,
            "could not be loaded",
        ),
        (
            GenericError("status code: 416 Range Not Satisfiable"),
            "IntegrityError",
            False,
            "shorter than its index",
        ),
        (
            GenericError("status code: 503 Service Unavailable: <Code>SlowDown</Code>"),
            "StorageError",
            True,
            "SlowDown",
        ),
        (
            GenericError("status code: 301 Moved Permanently: <Code>PermanentRedirect</Code>"),
            "StorageError",
            False,
            "region_name",
        ),
        (
            GenericError("HTTP error: body error HttpError {\n kind: Interrupted,"),
            "StorageError",
            True,
            "cut off",
        ),
        (
            GenericError("HttpError {\n  kind: Connect, source: refused"),
            "EndpointUnreachableError",
            True,
            "deadline about 21 s",
        ),
        (
            GenericError("HttpError {\n  kind: Timeout, source: TimedOut"),
            "EndpointUnreachableError",
            True,
            "did not answer",
        ),
    ],
)
def test_obstore_errors_become_named_errors(
    exc: Exception, named: str, retry: bool, fragment: str
) -> None:
    error, retryable = translate_error(exc, url="s3://b/k", options=S3Options())
    assert type(error).__name__ == named and retryable is retry
    assert fragment in str(error) and "AKIASECRET" not in str(error)
    assert "s3://b/k" in str(error) or named == "CredentialsError"


# -- reads over moto --------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["segments", "single"])
def test_eight_threads_slice_one_context(s3: S3Env, layout: str) -> None:
    url = s3.new_url()
    if layout == "segments":
        upload_segments(lambda name, data: s3.put(url, name, data), TEXT, 150)
    else:
        upload_single(lambda name, data: s3.put(url, name, data), TEXT, 5)
    failures: list[tuple[int, int, int]] = []
    with open_obstore(url, s3.endpoint_url) as ctx:
        assert ctx.reader.layout == layout  # type: ignore[attr-defined]

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(40):
                a, b = sorted(rng.randrange(-2100, 2100) for _ in range(2))
                step = rng.choice([1, 1, 1, 3, -7, 450])
                if ctx[a:b:step] != "".join(LINES[a:b:step]):
                    failures.append((a, b, step))

        threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads), "a reader hung"
    assert failures == []


def test_single_layout_batches_become_few_exact_gets(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), TEXT, 4)
    ranges = [(i, i + 2) for i in range(0, 2000, 50)]
    want = ["".join(LINES[a:b]) for a, b in ranges]
    with open_obstore(url, s3.endpoint_url) as ctx:
        before = ctx.stats.requests
        assert ctx.read_many(ranges) == want
        assert ctx.stats.requests - before == 1  # 40 ranges ~2.5 KB apart: one GET
    with open_obstore(url, s3.endpoint_url, coalesce_bytes=None) as ctx:
        before = ctx.stats.requests
        assert ctx.read_many(ranges) == want
        assert ctx.stats.requests - before == 40
    size = len(TEXT.encode())
    with open_obstore(url, s3.endpoint_url, part_bytes=10_000) as ctx:
        opened = ctx.stats
        assert ctx[:] == TEXT
        read = ctx.stats
        assert read.requests - opened.requests == -(-size // 10_000)  # parallel parts
        assert read.bytes_fetched - opened.bytes_fetched == size


def test_loop_is_private_inside_a_running_event_loop(s3: S3Env) -> None:
    """As in Jupyter: synchronous reads from a thread whose own loop is running."""
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=300, endpoint_url=s3.endpoint_url)

    async def notebook_cell() -> str:
        with open_obstore(url, s3.endpoint_url) as ctx:
            return ctx[10:1500]

    assert asyncio.run(notebook_cell()) == "".join(LINES[10:1500])


def test_keys_with_unusual_characters(s3: S3Env) -> None:
    url = f"s3://{s3.bucket}/runs/été 42+x=1/"
    contexts.write_layout(TEXT, url, lines_per_segment=500, endpoint_url=s3.endpoint_url)
    with open_obstore(url, s3.endpoint_url) as ctx:
        assert ctx.text() == TEXT


# -- a slow network: GETs overlap -------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_server() -> Iterator[S3Server]:
    """Every request waits 100 ms for its first byte."""
    with latency_server(TEXT, "obstore-slow", first_byte_ms=100.0) as server:
        yield server


@pytest.mark.timeout(120)
def test_twenty_segments_overlap(slow_server: S3Server) -> None:
    """Counted at the server: obstore has the twenty segment GETs in flight together."""
    sequential = counted_head("s3-sequential", slow_server, "s3://obstore-slow/ctx/", TEXT)
    overlapped = counted_head("obstore", slow_server, "s3://obstore-slow/ctx/", TEXT)
    assert sequential.requests == overlapped.requests == 21
    assert sequential.served == overlapped.served == 20
    assert sequential.peak_in_flight == 1
    assert overlapped.peak_in_flight > 1, overlapped


@pytest.mark.timeout(120)
def test_close_cancels_a_read_in_flight(slow_server: S3Server) -> None:
    ctx = open_obstore("s3://obstore-slow/ctx/", slow_server.shaped_endpoint, max_concurrency=2)
    errors: list[BaseException] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            while True:
                ctx.text()  # 20 GETs, 2 at a time: about a second each
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait()
    time.sleep(0.3)
    ctx.close()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the reader hung after close()"
    assert len(errors) == 1 and isinstance(errors[0], contexts.ContextClosedError), errors
    assert loop_threads() == []


# -- faults: every attempt counted ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_server() -> Iterator[S3Server]:
    with S3Server(profile="none", seed=7, in_process=True) as server:
        client = boto3.client("s3", endpoint_url=server.raw_endpoint)
        client.create_bucket(Bucket="obstore-faults")
        client.close()
        contexts.write_layout(
            TEXT,
            "s3://obstore-faults/ctx/",
            lines_per_segment=100,
            endpoint_url=server.raw_endpoint,
        )
        yield server
        server.set_profile("none")


def faulty(name: str, **rates: float) -> NetworkProfile:
    return NetworkProfile(name, "test", "test", faults=FaultRates(**rates))  # type: ignore[arg-type]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("fault", "seed"), [("slowdown", 5), ("internal_error", 2), ("reset", 3)])
def test_failed_attempts_are_retried_and_counted(
    fault_server: S3Server, fault: str, seed: int
) -> None:
    fault_server.set_profile(faulty(fault, **{fault: 0.3}), seed=seed)
    with open_obstore(
        "s3://obstore-faults/ctx/", fault_server.shaped_endpoint, max_attempts=8
    ) as ctx:
        assert ctx.text() == TEXT
        stats = ctx.stats
    injected = fault_server.fault_counts()[fault]
    assert injected > 0, "the profile injected no fault; pick another seed"
    assert stats.retries == injected and stats.requests == 21 + injected


@pytest.mark.timeout(120)
def test_persistent_faults_raise_named_errors(fault_server: S3Server) -> None:
    fault_server.set_profile("none")
    with open_obstore("s3://obstore-faults/ctx/", fault_server.shaped_endpoint) as ctx:
        fault_server.set_profile(faulty("always-reset", reset=1.0), seed=1)
        with pytest.raises(contexts.StorageError, match="cut off") as caught:
            ctx[0:10]
        assert not isinstance(caught.value, contexts.IntegrityError)
        assert ctx.stats.requests == 1 + 3 and ctx.stats.retries == 2
        fault_server.set_profile(faulty("always-503", slowdown=1.0), seed=1)
        with pytest.raises(contexts.StorageError, match="SlowDown"):
            ctx[0:10]
        assert ctx.stats.requests == 1 + 3 + 3
    fault_server.set_profile("none")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("fault", "seed"), [("slowdown", 5), ("internal_error", 2), ("reset", 3)])
def test_threaded_transport_retries_and_counts_failed_attempts(
    fault_server: S3Server, fault: str, seed: int
) -> None:
    """``auto``'s obstore transport: each attempt counted, the bodies exact."""
    location = S3Location("obstore-faults", "ctx/")
    names = [segment_name(number) for number in range(1, 21)]
    raw = boto3.client("s3", endpoint_url=fault_server.raw_endpoint)
    expected = [
        raw.get_object(Bucket="obstore-faults", Key=f"ctx/{n}")["Body"].read() for n in names
    ]
    raw.close()
    fault_server.set_profile(faulty(fault, **{fault: 0.3}), seed=seed)
    options = S3Options(endpoint_url=fault_server.shaped_endpoint, max_attempts=8)
    transport = ThreadedObstoreTransport(location, options, StatsRecorder(), max_workers=4)
    try:
        assert transport.get_many([ByteRequest(name) for name in names]) == expected
        stats = transport.stats.snapshot()
        injected = fault_server.fault_counts()[fault]
    finally:
        transport.close()
        fault_server.set_profile("none")
    assert injected > 0, "the profile injected no fault; pick another seed"
    assert stats.retries == injected and stats.requests == 20 + injected


def test_threaded_transport_sends_nothing_past_the_deadline(s3: S3Env) -> None:
    url = s3.new_url()
    s3.put(url, "a.txt", b"alpha\n")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    options = S3Options(endpoint_url=s3.endpoint_url)
    transport = ThreadedObstoreTransport(S3Location(bucket, prefix), options, StatsRecorder(), 2)
    try:
        assert transport.get("a.txt") == b"alpha\n"
        with deadline_scope(0.01):
            time.sleep(0.05)
            with pytest.raises(contexts.DeadlineExceededError, match="deadline_s"):
                transport.get("a.txt")
        assert transport.stats.snapshot().requests == 1  # the refused GET was never sent
    finally:
        transport.close()


# -- named errors ---------------------------------------------------------------------------------


def test_missing_layout_bucket_and_object(s3: S3Env) -> None:
    url = s3.new_url()
    with pytest.raises(contexts.ManifestNotFoundError) as caught:
        open_obstore(url, s3.endpoint_url)
    assert f"{url}manifest.json" in str(caught.value) and "write_layout" in str(caught.value)
    with pytest.raises(contexts.BucketNotFoundError, match="does not exist"):
        open_obstore("s3://no-such-bucket-here/ctx/", s3.endpoint_url)
    upload_segments(lambda name, data: s3.put(url, name, data), "a\nb\nc\n", 1)
    s3.client.delete_object(Bucket=s3.bucket, Key=url.split("/", 3)[3] + "segment_000002.log")
    with open_obstore(url, s3.endpoint_url) as ctx:
        assert ctx[0] == "a\n"
        with pytest.raises(contexts.ObjectNotFoundError, match=r"segment_000002\.log does not"):
            ctx[1]


def test_object_shorter_than_its_index(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), "alpha\nbeta\ngamma\n", 1)
    s3.put(url, "context.txt", b"alpha\nbeta\n")  # truncated after indexing
    with open_obstore(url, s3.endpoint_url, coalesce_bytes=None) as ctx:
        assert ctx[0] == "alpha\n"
        with pytest.raises(contexts.IntegrityError, match=r"shorter than its index|InvalidRange"):
            ctx[2]
        with pytest.raises(contexts.IntegrityError):
            ctx[1:3]
    # Coalesced into one GET, whose body comes up short:
    with open_obstore(url, s3.endpoint_url) as ctx, pytest.raises(contexts.IntegrityError):
        ctx.read_many([(0, 1), (2, 3)])


def test_missing_credentials(s3: S3Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    before = loop_threads()
    with pytest.raises(contexts.CredentialsError) as caught:
        open_obstore(s3.new_url(), s3.endpoint_url)
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)
    assert "testing" not in str(caught.value)
    assert loop_threads() == before  # failed before any thread started
    with pytest.raises(contexts.CredentialsError, match="profile 'nope'"):
        open_obstore(s3.new_url(), s3.endpoint_url, profile_name="nope")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.timeout(60)
def test_refused_connection_fails_fast() -> None:
    port = free_port()
    with pytest.raises(contexts.EndpointUnreachableError, match="did not answer") as caught:
        open_obstore(
            "s3://bucket/ctx/",
            f"http://127.0.0.1:{port}",
            connect_timeout_s=1,
            read_timeout_s=1,
            max_attempts=2,
        )
    assert f"127.0.0.1:{port}" in str(caught.value) and "deadline about 4 s" in str(caught.value)
    assert loop_threads() == []


@pytest.mark.timeout(60)
def test_endpoint_that_never_answers_hits_the_deadline(silent_server: SilentServer) -> None:
    """Two attempts (two connections), then a named error; a hang is the test's timeout."""
    with pytest.raises(contexts.EndpointUnreachableError, match="deadline about 2 s"):
        open_obstore(
            "s3://bucket/ctx/",
            silent_server.url,
            connect_timeout_s=0.5,
            read_timeout_s=0.5,
            max_attempts=2,
        )
    assert silent_server.connections == 2


def test_bad_arguments(tmp_path: object) -> None:
    with pytest.raises(contexts.InvalidURLError, match="volume"):
        contexts.open_context("obstore", str(tmp_path))
    with pytest.raises(ValueError, match="max_concurrency"):
        contexts.open_context("obstore", "s3://b/p/", max_concurrency=0)
    for endpoint in ("not a url", "ftp://host", "http://", "http://host:port"):
        with pytest.raises(contexts.InvalidURLError, match="endpoint_url"):
            contexts.open_context("obstore", "s3://b/p/", endpoint_url=endpoint)


def test_missing_obstore_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("contexts.transport.obstore",):
        monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setitem(sys.modules, "obstore", None)  # the import fails
    with pytest.raises(
        contexts.MissingDependencyError, match=r"pip install 'rlm-context-lab\[obstore\]'"
    ):
        contexts.open_context("obstore", "s3://b/p/")


# -- life cycle -----------------------------------------------------------------------------------


def test_close_leaves_no_thread_behind(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    baseline = set(threading.enumerate())
    ctx = open_obstore(url, s3.endpoint_url)
    assert ctx.text() == TEXT
    assert len(loop_threads()) == 1
    ctx.close()
    assert loop_threads() == []
    # The in-process moto server's per-connection threads come and go on their own.
    ours = {t for t in threading.enumerate() if "process_request" not in t.name}
    assert ours <= baseline
    with pytest.raises(contexts.ContextClosedError):
        ctx[0:10]
    ctx.close()  # idempotent

    forgotten = open_obstore(url, s3.endpoint_url)  # never closed: the collector stops its loop
    assert forgotten[5] == LINES[5]
    del forgotten
    gc.collect()
    deadline = time.monotonic() + 5
    while loop_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop_threads() == []
