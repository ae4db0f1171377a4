"""``s3-async``: the shared conformance suite, use from a running event loop and from many threads,
overlap on a slow simulated network, the loop thread's life cycle, dead endpoints and resets.

Speed is asserted only as ratios measured in the same test (plus generous bounds against hangs).
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

import contexts
from bench.network import S3Server
from bench.network.profiles import FaultRates, LatencyModel, NetworkProfile
from contexts import (
    BucketNotFoundError,
    ContextClosedError,
    CredentialsError,
    EndpointUnreachableError,
    InvalidURLError,
    ManifestNotFoundError,
    ObjectNotFoundError,
    StorageError,
)
from contexts.stored import StoredContext
from tests.conftest import S3Env, SilentServer
from tests.reference import reference_lines, upload_segments

AsyncS3Context = contexts.AsyncS3Context

TEXT = "".join(f"{i} é€ line of the async test {'x' * (i % 13)}\n" for i in range(2000))
LINES = reference_lines(TEXT)
SEGMENTS = 20  # 100 lines each
BUCKET = "async-tests"
LATENCY_MS = 100.0


def profile(name: str, *, first_byte_ms: float = 0.0, **rates: Any) -> NetworkProfile:
    return NetworkProfile(
        name,
        "test",
        "test",
        first_byte=LatencyModel.fixed(first_byte_ms),
        faults=FaultRates(**rates),
    )


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with S3Server(profile="none", seed=7, in_process=True) as started:
        yield started


@pytest.fixture
def url(server: S3Server) -> Iterator[str]:
    """A fresh copy of TEXT in 20 segments (written per test: other tests reset moto's state)."""
    server.set_profile("none")
    client = boto3.client("s3", endpoint_url=server.raw_endpoint)
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    finally:
        client.close()
    location = f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}/"
    contexts.write_layout(TEXT, location, lines_per_segment=100, endpoint_url=server.raw_endpoint)
    yield location
    server.set_profile("none")


def open_async(server: S3Server, url: str, **options: Any) -> StoredContext:
    return AsyncS3Context(url, endpoint_url=server.shaped_endpoint, **options)


def our_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since ``before`` that are still alive, except the S3 server's own
    per-connection request threads."""
    return [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.is_alive() and "process_request" not in thread.name
    ]


def random_slices(seed: int, count: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randrange(-2100, 2100), rng.randrange(-2100, 2100)) for _ in range(count)]


# -- from a running event loop and from many threads -------------------------------------------


@pytest.mark.timeout(60)
def test_sync_and_awaitable_forms_inside_a_running_loop(server: S3Server, url: str) -> None:
    async def main() -> None:
        ctx = open_async(server, url)  # opening blocks this loop's thread, never deadlocks it
        with ctx:
            assert ctx.transport.loop is not asyncio.get_running_loop()
            assert await ctx.alen() == len(ctx) == len(LINES)
            for a, b in random_slices(1, 25):
                want = "".join(LINES[a:b])
                assert ctx[a:b] == want, (a, b)
                assert await ctx.aslice(a, b) == want, (a, b)
            assert await ctx.aslice() == TEXT
            assert await ctx.aslice(-1) == LINES[-1]
            ranges: list[tuple[int | None, int | None]] = [
                (0, 150),
                (None, 3),
                (1990, None),
                (5, 5),
                (-120, -7),
                (300, 100),
            ]
            assert await ctx.aread_many(ranges) == ctx.read_many(ranges)
            assert await ctx.aread_many(ranges) == ["".join(LINES[a:b]) for a, b in ranges]
            # Many awaits at once from one loop share the context's loop and its pool.
            pairs = random_slices(2, 40)
            got = await asyncio.gather(*(ctx.aslice(a, b) for a, b in pairs))
            assert got == ["".join(LINES[a:b]) for a, b in pairs]

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_awaiting_does_not_block_the_callers_loop(server: S3Server, url: str) -> None:
    server.set_profile(profile("slow", first_byte_ms=LATENCY_MS))
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    async def main() -> None:
        with open_async(server, url) as ctx:
            stop = asyncio.Event()
            task = asyncio.create_task(ticker(stop))
            await asyncio.sleep(0)
            before = ticks
            assert await ctx.aslice(0, 2000) == TEXT  # ~one 100 ms round trip
            during = ticks - before
            stop.set()
            await task
        assert during >= 3, f"the caller's loop ran only {during} times while awaiting"

    asyncio.run(main())


@pytest.mark.timeout(60)
def test_eight_threads_sync_and_async_at_once(server: S3Server, url: str) -> None:
    failures: list[str] = []

    with open_async(server, url, max_concurrency=16) as ctx:

        def sync_worker(seed: int) -> None:
            for a, b in random_slices(seed, 30):
                if ctx[a:b] != "".join(LINES[a:b]):
                    failures.append(f"sync [{a}:{b}]")

        def async_worker(seed: int) -> None:
            async def run() -> None:  # each thread runs its own event loop
                pairs = random_slices(seed, 30)
                got = await asyncio.gather(*(ctx.aslice(a, b) for a, b in pairs))
                for (a, b), text in zip(pairs, got, strict=True):
                    if text != "".join(LINES[a:b]):
                        failures.append(f"async [{a}:{b}]")

            asyncio.run(run())

        workers: list[Callable[[int], None]] = [sync_worker, async_worker]
        threads = [threading.Thread(target=workers[seed % 2], args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=50)
        assert not any(thread.is_alive() for thread in threads), "a reader thread hung"
        assert failures == []


def test_blocking_call_on_the_contexts_own_loop_is_refused(server: S3Server, url: str) -> None:
    with open_async(server, url) as ctx:

        async def misuse() -> str:
            return ctx[0:1]  # would wait on the very loop that has to do the work

        future = asyncio.run_coroutine_threadsafe(misuse(), ctx.transport.loop)
        with pytest.raises(RuntimeError, match="own event-loop thread"):
            future.result(timeout=10)
        assert ctx[0:1] == LINES[0]  # still usable


def test_close_from_the_contexts_own_loop(server: S3Server, url: str) -> None:
    before = set(threading.enumerate())
    ctx = open_async(server, url)

    async def close_here() -> None:
        ctx.close()

    asyncio.run_coroutine_threadsafe(close_here(), ctx.transport.loop).result(timeout=10)
    ctx.transport.loop_thread.thread.join(timeout=10)
    assert our_threads(before) == []
    with pytest.raises(ContextClosedError):
        ctx[0]


# -- overlap and the concurrency bound ---------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_batch_overlaps_its_requests(server: S3Server, url: str) -> None:
    """Counted at the server, not timed: s3-async has the batch's GETs in flight together."""
    slow = profile("slow", first_byte_ms=LATENCY_MS)
    requests: dict[str, int] = {}
    peaks: dict[str, int] = {}
    for name in ("s3-sequential", "s3-async"):
        with contexts.open_context(name, url, endpoint_url=server.shaped_endpoint) as ctx:
            server.set_profile(slow)  # counters from here: the slice, not the open
            before = ctx.stats.requests
            assert ctx[0:2000] == TEXT
            requests[name] = ctx.stats.requests - before
            peaks[name] = server.peak_in_flight()
    assert requests == {"s3-sequential": SEGMENTS, "s3-async": SEGMENTS}
    assert peaks["s3-sequential"] == 1 and peaks["s3-async"] > 1, peaks


@pytest.mark.timeout(60)
def test_max_concurrency_bounds_requests_in_flight(server: S3Server, url: str) -> None:
    server.set_profile(profile("slow", first_byte_ms=LATENCY_MS))
    with open_async(server, url, max_concurrency=4) as ctx:
        transport = ctx.transport
        inner = transport._aget
        in_flight = peak = 0

        async def counting(request: Any) -> bytes:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await inner(request)
            finally:
                in_flight -= 1

        transport._aget = counting  # type: ignore[method-assign]
        assert ctx[0:2000] == TEXT
    assert peak == 4


# -- life cycle ----------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_close_leaves_no_thread_and_is_final(server: S3Server, url: str) -> None:
    before = set(threading.enumerate())
    ctx = open_async(server, url)
    assert [t.name for t in our_threads(before)] == [ctx.transport.loop_thread.thread.name]
    assert ctx[0:300] == "".join(LINES[0:300])
    assert asyncio.run(ctx.aslice(10, 20)) == "".join(LINES[10:20])  # also uses the executor
    assert len(our_threads(before)) >= 2
    ctx.close()
    assert our_threads(before) == []
    ctx.close()  # idempotent
    for use in (len, lambda c: c[0], lambda c: c[0:5], lambda c: c.text(), list):
        with pytest.raises(ContextClosedError, match="closed"):
            use(ctx)
    for coro in (ctx.alen(), ctx.aslice(0, 5), ctx.aread_many([(0, 5)])):
        with pytest.raises(ContextClosedError, match="closed"):
            asyncio.run(coro)
    with pytest.raises(ContextClosedError, match="closed"):
        ctx.transport.get("manifest.json")
    assert our_threads(before) == []


@pytest.mark.timeout(60)
def test_close_during_reads_in_flight(server: S3Server, url: str) -> None:
    """close() cancels the GETs in flight: the server holds each one for a minute and the
    client would wait 30 s for it, so a reader that ends within 20 s was not left waiting."""
    before = set(threading.enumerate())
    ctx = open_async(server, url, read_timeout_s=30, max_attempts=1)
    server.set_profile(profile("stalled", first_byte_ms=60_000))
    outcome: list[BaseException | str] = []

    def reader() -> None:
        try:
            outcome.append(ctx[0:2000])
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    deadline = time.monotonic() + 20
    while server.fault_counts()["requests"] < SEGMENTS and time.monotonic() < deadline:
        time.sleep(0.01)  # until every GET of the batch has reached the server
    ctx.close()
    thread.join(timeout=20)
    assert not thread.is_alive()  # cancelled, not waited for
    assert len(outcome) == 1 and isinstance(outcome[0], ContextClosedError), outcome
    assert our_threads(before) == []


@pytest.mark.timeout(60)
def test_cancelling_an_await_leaves_the_context_usable(server: S3Server, url: str) -> None:
    server.set_profile(profile("slow", first_byte_ms=LATENCY_MS))

    async def main() -> None:
        with open_async(server, url) as ctx:
            task = asyncio.create_task(ctx.aslice(0, 2000))
            await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await ctx.aslice(0, 2000) == TEXT

    asyncio.run(main())


# -- errors and faults ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.timeout(60)
def test_refused_endpoint_fails_within_the_deadline() -> None:
    before = set(threading.enumerate())
    port = _free_port()
    with pytest.raises(EndpointUnreachableError, match="did not answer") as caught:
        AsyncS3Context(
            "s3://bucket/ctx/",
            endpoint_url=f"http://127.0.0.1:{port}",
            connect_timeout_s=1,
            read_timeout_s=1,
            max_attempts=2,
        )
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert our_threads(before) == []  # a failed open closes its loop thread too


@pytest.mark.timeout(60)
def test_silent_endpoint_hits_the_deadline(silent_server: SilentServer) -> None:
    """Two attempts (two connections), then a named error; a hang is the test's timeout."""
    with pytest.raises(EndpointUnreachableError, match="deadline about 2 s"):
        AsyncS3Context(
            "s3://bucket/ctx/",
            endpoint_url=silent_server.url,
            connect_timeout_s=0.5,
            read_timeout_s=0.5,
            max_attempts=2,
        )
    assert silent_server.connections == 2


@pytest.mark.timeout(120)
def test_resets_still_give_the_exact_text_and_every_attempt_is_counted(
    server: S3Server, url: str
) -> None:
    server.set_profile(profile("resets", reset=0.3), seed=3)
    with open_async(server, url, max_attempts=10) as ctx:
        assert ctx.text() == TEXT
        assert asyncio.run(ctx.aread_many([(0, 2000)])) == [TEXT]
        stats = ctx.stats
    counts = server.fault_counts()
    assert counts["reset"] > 0, "the profile injected no reset; pick another seed"
    # Every injected reset cost exactly one more attempt (botocore's retry before the headers,
    # or our re-read of a cut body), and every attempt the server saw is in the stats.
    assert stats.retries == counts["reset"]
    assert stats.requests == counts["requests"] == 1 + 2 * SEGMENTS + stats.retries
    assert stats.bytes_fetched >= 2 * len(TEXT.encode())


@pytest.mark.timeout(60)
def test_persistent_cuts_raise_a_named_error(server: S3Server, url: str) -> None:
    with open_async(server, url, max_attempts=3) as ctx:
        server.set_profile(profile("always-reset", reset=1.0), seed=1)
        with pytest.raises(StorageError, match="cut off") as caught:
            ctx[0:10]
        assert not isinstance(caught.value, contexts.IntegrityError)
        assert ctx.stats.requests == 1 + 3 and ctx.stats.retries == 2
        with pytest.raises(StorageError, match="cut off"):
            asyncio.run(ctx.aslice(0, 10))
        server.set_profile("none")
        assert ctx[0:10] == "".join(LINES[0:10])  # a failed batch leaves the context usable


@pytest.mark.timeout(60)
def test_slowdowns_retried_by_botocore_are_counted(server: S3Server, url: str) -> None:
    server.set_profile(profile("slowdown", slowdown=0.3), seed=5)
    with open_async(server, url, max_attempts=10) as ctx:
        assert ctx[0:2000] == TEXT
        stats = ctx.stats
    counts = server.fault_counts()
    assert counts["slowdown"] > 0
    assert stats.retries == counts["slowdown"]
    assert stats.requests == counts["requests"] == 1 + SEGMENTS + stats.retries


def test_storage_errors_are_named(s3: S3Env) -> None:
    url = s3.new_url()
    with pytest.raises(ManifestNotFoundError, match="write_layout"):
        AsyncS3Context(url, endpoint_url=s3.endpoint_url)
    with pytest.raises(BucketNotFoundError, match="does not exist"):
        AsyncS3Context("s3://no-such-bucket-here/ctx/", endpoint_url=s3.endpoint_url)
    with pytest.raises(CredentialsError, match="profile 'nope'"):
        AsyncS3Context(url, endpoint_url=s3.endpoint_url, profile_name="nope")
    upload_segments(lambda name, data: s3.put(url, name, data), "a\nb\nc\n", 1)
    s3.client.delete_object(Bucket=s3.bucket, Key=url.split("/", 3)[3] + "segment_000002.log")
    with AsyncS3Context(url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx[0] == "a\n"
        with pytest.raises(ObjectNotFoundError, match=r"segment_000002\.log does not exist"):
            ctx[0:3]
        with pytest.raises(ObjectNotFoundError):
            asyncio.run(ctx.aslice(1, 2))
        assert ctx[2] == "c\n"


def test_bad_arguments(tmp_path: Any) -> None:
    with pytest.raises(InvalidURLError, match="volume"):
        AsyncS3Context(str(tmp_path))
    with pytest.raises(ValueError, match="max_concurrency"):
        AsyncS3Context("s3://bucket/ctx/", max_concurrency=0)
