"""``auto`` / ``contexts.open``: one round trip at open, a load that ends in memory, the cache
path over budget, shared clients that never cross endpoints or credentials, no thread after
close. Everything is counted (requests, requests in flight, threads), never timed."""

from __future__ import annotations

import gc
import json
import threading
import time
import weakref
import zlib
from array import array
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contexts
from contexts import auto
from contexts.auto import AutoContext
from contexts.policies import PrefetchingContext
from contexts.transport import obstore_threaded
from contexts.transport.base import ByteRequest
from contexts.transport.buffered import BufferedTransport, HeldBytes
from contexts.transport.clients import (
    client_key,
    shared_client_count,
    shared_s3_client,
    with_shared_session,
)
from contexts.transport.hedge import HedgePolicy
from contexts.transport.obstore_threaded import shared_store_count
from contexts.transport.options import S3Options
from tests.conftest import S3Env
from tests.reference import reference_lines, upload_segments
from tests.servers import DictTransport, latency_server

TEXT = "".join(f"{i:05d} naïve ✓ \u2028 auto line {'x' * (i % 41)}\n" for i in range(3000))
LINES = reference_lines(TEXT)


def auto_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("auto-")]


def test_contexts_open_is_the_auto_context(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert isinstance(ctx, AutoContext)
        assert ctx[:] == TEXT and ctx[-1] == LINES[-1]


@pytest.mark.parametrize("layout", ["single", "segments"])
def test_open_is_one_round_of_requests_in_flight_together(layout: str) -> None:
    """Metadata and speculative data go out together: at 1 s a request, all the open's
    requests are in flight at once, and the first and last lines need none more."""
    text = TEXT[: 40 * 1000]  # fits the head read, so the load needs nothing more either
    with latency_server(
        text, "auto-open", first_byte_ms=1000.0, lines_per_segment=10_000
    ) as server:
        url = "s3://auto-open/ctx/"
        if layout == "single":
            contexts.write_layout(text, url, "single", endpoint_url=server.raw_endpoint)
        server.set_profile(server.profile, seed=server.seed)
        lines = reference_lines(text)
        with contexts.open(url, endpoint_url=server.shaped_endpoint) as ctx:
            assert len(ctx) == len(lines)
            assert ctx[:100] == "".join(lines[:100]) and ctx[-100:] == "".join(lines[-100:])
            assert ctx.wait_loaded(60) and ctx.text() == text
            # manifest and index (twice each: the first answer wins), first segment, the
            # text's tail and its head in nine parts (64 KiB, then 1 MiB each; eight past the
            # end of this small text), all in flight together; the reads and the load needed
            # nothing more
            assert ctx.stats.requests == 15 and ctx.stats.retries >= 2
            assert server.fault_counts()["requests"] == 15
            assert server.peak_in_flight() == 15


def test_loaded_context_reads_cost_no_request(s3: S3Env) -> None:
    url = s3.new_url()
    text = TEXT * 20  # ~2.5 MB: several load requests of 1 MiB
    contexts.write_layout(text, url, "single", endpoint_url=s3.endpoint_url)
    with contexts.open(url, endpoint_url=s3.endpoint_url, load_part_bytes=1 << 20) as ctx:
        assert ctx.wait_loaded(60) and ctx.loaded and ctx.load_error is None
        assert ctx.stats.bytes_fetched >= len(text.encode())
        # From here on the transport refuses every request: a read that sent one would fail.
        # (Counting requests instead raced the slower copies of hedged requests, which are
        # counted when they end, after wait_loaded on a busy machine.)
        assert ctx._buffer is not None
        ctx._buffer.inner.stop()
        lines = reference_lines(text)
        assert ctx[1000:41_000] == "".join(lines[1000:41_000])
        assert ctx.grep("02999 ") == [(i, lines[i]) for i in range(2999, len(lines), 3000)]
        assert ctx.text() == text and list(ctx)[-1] == lines[-1]


@pytest.mark.parametrize("layout", ["single", "segments"])
def test_over_budget_reads_through_a_bounded_cache(s3: S3Env, layout: str) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, layout, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    budget = len(TEXT.encode()) // 4
    with contexts.open(url, endpoint_url=s3.endpoint_url, max_bytes=budget) as ctx:
        assert not ctx.wait_loaded(60)
        assert isinstance(ctx, AutoContext) and isinstance(ctx._source(), PrefetchingContext)
        assert ctx[10:2500] == "".join(LINES[10:2500])
        assert [hit.line_number for hit in ctx.grep("^020")] == list(range(2000, 2100))
        assert ctx.text() == TEXT
        assert ctx._source().cached_bytes <= budget  # type: ignore[attr-defined]


def test_over_budget_scans_read_batches_that_fit_the_budget(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = s3.new_url()
    text = TEXT * 20  # 60,000 lines
    lines = reference_lines(text)
    contexts.write_layout(text, url, "single", endpoint_url=s3.endpoint_url)
    size = len(text.encode())
    budget = size // 3
    with contexts.open(url, endpoint_url=s3.endpoint_url, max_bytes=budget) as ctx:
        assert isinstance(ctx, AutoContext) and ctx._layout is not None
        batches: list[int] = []
        chunks: list[int] = []
        read_ranges = ctx._layout._read_ranges

        def counted(ranges: list[tuple[int, int]]) -> list[str]:
            answers = read_ranges(ranges)
            batches.append(sum(len(answer.encode()) for answer in answers))
            chunks.extend(len(answer.encode()) for answer in answers)
            return answers

        monkeypatch.setattr(ctx._layout, "_read_ranges", counted)
        expected = [(i, line) for i, line in enumerate(lines) if line.startswith("0200")]
        assert ctx.grep("^0200") == expected
        assert "".join(ctx) == text
    # a third of the text in budget, an eighth of that a batch: 24 batches or more per scan
    # (the 200,000-line batches of a context within its budget would read it all in one)
    assert len(batches) >= 2 * 24
    mean_line = size / len(lines)  # a batch is sized at the mean; lines vary around it
    assert max(batches) <= budget / auto.OVER_BUDGET_BATCH_SHARE + 50 * mean_line
    # each batch in PIPELINE_CHUNKS chunks: a character wider than Latin-1 widens only the str
    # of its own chunk, and the chunk a caller still holds while the next batch comes is small
    batch_lines = budget / auto.OVER_BUDGET_BATCH_SHARE / mean_line
    chunk_lines = max(auto.OVER_BUDGET_MIN_LINES, batch_lines // auto.PIPELINE_CHUNKS)
    assert max(chunks) <= (chunk_lines + 50) * mean_line  # here 1,000 lines of a 2,000-line batch


def test_an_over_budget_scan_borrows_from_the_cache_what_its_batch_can_decode_to(
    s3: S3Env,
) -> None:
    """The cache, full from slices, and a scan's batches (outside it) fit the budget together:
    while the scan runs, the cache keeps at most what the batch cannot take."""
    url = s3.new_url()
    text = TEXT * 20  # 60,000 lines
    lines = reference_lines(text)
    contexts.write_layout(text, url, "single", endpoint_url=s3.endpoint_url)
    budget = len(text.encode()) // 3
    lent = 4 * budget // auto.OVER_BUDGET_BATCH_SHARE
    with contexts.open(url, endpoint_url=s3.endpoint_url, max_bytes=budget) as ctx:
        assert isinstance(ctx, AutoContext)
        cache = ctx._source()
        assert isinstance(cache, PrefetchingContext)
        for start in range(0, len(ctx), 5_000):  # the cache fills
            assert ctx[start : start + 5_000] == "".join(lines[start : start + 5_000])
        assert cache.cached_bytes > budget - lent
        chunks = ctx._chunks()
        first, chunk = next(chunks)
        assert first == 0 and text.startswith(chunk) and chunk.endswith("\n")
        assert cache.cached_bytes <= budget - lent  # lent while the scan runs
        ctx[30_000:30_010]  # a read meanwhile is kept within the rest
        assert cache.cached_bytes <= budget - lent
        assert "".join(chunk for _first, chunk in chunks) == text[len(chunk) :]
        for start in range(0, len(ctx), 5_000):  # the whole budget is back
            ctx[start : start + 5_000]
        assert cache.cached_bytes > budget - lent


def test_seed_manifest_without_sizes_loads_or_falls_back_by_what_it_finds(s3: S3Env) -> None:
    """A seed manifest does not give sizes: the load counts bytes and gives up past the budget."""
    url = s3.new_url()
    upload_segments(lambda name, data: s3.put(url, name, data), TEXT, 100)
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.wait_loaded(60) and ctx[:] == TEXT
    budget = len(TEXT.encode()) // 3
    with contexts.open(url, endpoint_url=s3.endpoint_url, max_bytes=budget) as ctx:
        assert not ctx.wait_loaded(60) and ctx.load_error is None
        assert isinstance(ctx, AutoContext) and isinstance(ctx._source(), PrefetchingContext)
        assert ctx[:] == TEXT


def test_a_load_that_finds_the_text_over_budget_sizes_scans_by_what_it_read(s3: S3Env) -> None:
    """A seed manifest whose first segment is small (the estimate fits) and the rest large:
    the load gives up past the budget, and scans read batches sized by the bytes it counted,
    not the 200,000-line batches of a context within its budget."""
    url = s3.new_url()
    text = "s\n" * 2_000 + "".join(f"{i:06d} {'w' * 200}\n" for i in range(40_000))
    upload_segments(lambda name, data: s3.put(url, name, data), text, 2_000)
    budget = len(text.encode()) // 3
    with contexts.open(url, endpoint_url=s3.endpoint_url, max_bytes=budget) as ctx:
        assert isinstance(ctx, AutoContext)
        assert not ctx.wait_loaded(60) and ctx.load_error is None
        assert isinstance(ctx._source(), PrefetchingContext)
        stored = ctx._over_budget_bytes
        assert stored is not None and budget < stored <= 2 * len(text.encode())
        _chunk, batch = ctx._batch_lines()
        assert batch * len(text.encode()) / len(ctx) <= 2 * budget / auto.OVER_BUDGET_BATCH_SHARE
        assert ctx.grep("^0399") == [
            (i, line) for i, line in enumerate(reference_lines(text)) if line.startswith("0399")
        ]


def test_a_corrupt_object_is_a_named_error_and_the_load_says_why(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    s3.put(url, "context.txt", TEXT.replace("\n", " ", 1) + "\n")  # same size, a line moved
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert not ctx.wait_loaded(60)
        assert isinstance(ctx.load_error, contexts.IntegrityError)
        with pytest.raises(contexts.IntegrityError):
            ctx[0:10]


def test_bytes_that_are_not_utf8_are_a_named_error_when_read_and_the_load_says_why(
    s3: S3Env,
) -> None:
    """Lines check out in bytes at load; a block that does not decode sends its first read (or
    the decoding that follows the load) through storage, whose checks name the bad bytes, and
    reads go through storage from then on."""
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    data = TEXT.encode()
    at = data.index("ï".encode())
    s3.put(url, "context.txt", data[:at] + b"\xff\xfe" + data[at + 2 :])  # same size and lines
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert isinstance(ctx, AutoContext)
        ctx.wait_loaded(60)
        with pytest.raises(contexts.IntegrityError):
            ctx[0:10]
        assert ctx._loader is not None
        ctx._loader.join(60)
        assert not ctx.loaded and isinstance(ctx.load_error, contexts.IntegrityError)
        assert ctx[2000:2002] == "".join(LINES[2000:2002])  # through storage: intact there


def test_close_during_the_load_leaves_no_thread() -> None:
    text = TEXT * 30
    with latency_server(
        text, "auto-close", first_byte_ms=100.0, lines_per_segment=50_000
    ) as server:
        url = "s3://auto-close/ctx/"
        contexts.write_layout(text, url, "single", endpoint_url=server.raw_endpoint)
        ctx = contexts.open(
            url, endpoint_url=server.shaped_endpoint, head_bytes=1024, load_part_bytes=64 * 1024
        )
        assert isinstance(ctx, AutoContext) and not ctx.loaded
        assert any(name.startswith("auto-") for name in auto_threads())
        ctx.close()
        assert auto_threads() == []
        assert not ctx.loaded and ctx.load_error is None
        with pytest.raises(contexts.ContextClosedError):
            ctx[0]


@pytest.mark.parametrize(
    ("client", "shared_count"), [("boto3", shared_client_count), ("obstore", shared_store_count)]
)
def test_clients_are_shared_and_never_cross_settings_or_credentials(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch, client: str, shared_count: Callable[[], int]
) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    with contexts.open(url, endpoint_url=s3.endpoint_url, client=client) as ctx:
        assert ctx.client == client
    count = shared_count()
    for _ in range(3):
        with contexts.open(url, endpoint_url=s3.endpoint_url, client=client) as ctx:
            assert ctx[0] == LINES[0]
    assert shared_count() == count
    with contexts.open(url, endpoint_url=s3.endpoint_url, read_timeout_s=3.0, client=client) as ctx:
        assert ctx[0] == LINES[0]
    assert shared_count() == count + 1
    base = S3Options(endpoint_url=s3.endpoint_url)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-secret-never-shown")
    other = client_key(base)
    assert "a-secret-never-shown" not in repr(other)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "another-secret")
    assert client_key(base) != other
    for access_key in ("first-key", "second-key"):  # a new environment: a new session too
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
        signer = shared_s3_client(base)._request_signer
        assert signer._credentials.access_key == access_key
    assert client_key(S3Options(endpoint_url=s3.endpoint_url, deadline_s=5.0)) == client_key(base)
    assert client_key(S3Options(endpoint_url=s3.endpoint_url, region_name="eu-west-1")) != (
        client_key(base)
    )


def test_a_directory_loads_too(tmp_path: Path) -> None:
    contexts.write_layout(TEXT, str(tmp_path), "single")
    with contexts.open(str(tmp_path)) as ctx:
        assert ctx.wait_loaded(60) and ctx[:] == TEXT
    with pytest.raises(contexts.InvalidURLError, match="endpoint_url"):
        contexts.open(str(tmp_path), endpoint_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    "options",
    [
        {"head_bytes": 0},
        {"max_bytes": -1},
        {"load_workers": True},
        {"layout": "columns"},
        {"client": "curl"},
    ],
)
def test_bad_options_are_named(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=str(next(iter(options)))):
        AutoContext("s3://bucket/ctx/", **options)  # type: ignore[arg-type]


def test_the_client_is_obstore_where_it_is_installed(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.client == "obstore" and ctx[:] == TEXT
    found = auto.importlib.util.find_spec
    monkeypatch.setattr(
        auto.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "obstore" else found(name, *args),
    )
    assert auto.s3_client_name("auto") == "boto3"
    with pytest.raises(contexts.MissingDependencyError, match=r"rlm-context-lab\[obstore\]"):
        auto.s3_client_name("obstore")
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.client == "boto3" and ctx[:] == TEXT


def test_obstore_reads_only_where_it_knows_the_region(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """object_store does not follow S3's redirect to a bucket's region, boto3 does."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config").write_text("[default]\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert not obstore_threaded.region_known(S3Options())
    assert obstore_threaded.region_known(S3Options(region_name="eu-west-1"))
    assert obstore_threaded.region_known(S3Options(endpoint_url=s3.endpoint_url))
    (tmp_path / "config").write_text("[default]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_PROFILE", "default")  # another credential environment: asked again
    assert obstore_threaded.region_known(S3Options())
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    monkeypatch.setattr(obstore_threaded, "region_known", lambda options: False)
    assert auto.s3_client_name("auto", S3Options()) == "boto3"
    assert auto.s3_client_name("obstore", S3Options()) == "obstore"
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.client == "boto3" and ctx[:] == TEXT
    with contexts.open(url, endpoint_url=s3.endpoint_url, client="obstore") as ctx:
        assert ctx.client == "obstore" and ctx[:] == TEXT


def test_one_session_per_profile_and_credential_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clients, obstore's credentials and the region check share a session: no open pays for
    another, and other credentials never reuse one."""
    first = with_shared_session(S3Options(), lambda session: session)
    assert with_shared_session(S3Options(region_name="eu-west-1"), id) == id(first)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another-key")
    assert with_shared_session(S3Options(), id) != id(first)


def test_a_missing_context_is_a_named_error(s3: S3Env) -> None:
    with pytest.raises(contexts.ManifestNotFoundError, match="write_layout"):
        contexts.open(s3.new_url(), endpoint_url=s3.endpoint_url)
    assert auto_threads() == []


# -- the parts -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(min_value=1, max_value=60),
    extents=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)), max_size=8),
    asks=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 20)), min_size=1, max_size=8),
)
def test_held_bytes_answer_exactly_what_is_held(
    size: int, extents: list[tuple[int, int]], asks: list[tuple[int, int]]
) -> None:
    data = bytes(range(65, 65 + size))
    held, covered = HeldBytes(), [False] * size
    for start, length in extents:
        start = min(start, size - 1)
        stop = min(size, start + length)
        held.add(start, data[start:stop])
        covered[start:stop] = [True] * (stop - start)
    assert held.size == sum(covered)
    for start, length in asks:
        start, stop = min(start, size), min(size, start + length)
        answer = held.read(start, stop)
        if all(covered[start:stop]):
            assert answer == data[start:stop]
        else:
            assert answer is None
        gaps = held.gaps(start, stop)
        assert [i for a, b in gaps for i in range(a, b)] == [
            i for i in range(start, stop) if not covered[i]
        ]


def test_load_requests_wait_for_demand_requests_in_flight() -> None:
    """The load waits for the callers' reads in flight when it asks, not for reads that start
    later (a caller reading without pause would starve it)."""
    releases = {(5, 9): threading.Event(), (1, 2): threading.Event()}
    inner = DictTransport({"a": b"0123456789"})
    fetch = inner._fetch
    inner._fetch = lambda request: (releases[request.byte_range].wait(10), fetch(request))[1]  # type: ignore[method-assign,index]
    buffer = BufferedTransport(inner)
    buffer.hold("a", 0, b"0")

    def in_flight(count: int) -> None:
        for _ in range(1000):
            if len(buffer._demand) == count:
                return
            time.sleep(0.01)

    first = threading.Thread(target=buffer.get, args=("a", (5, 9)))
    first.start()
    in_flight(1)
    waited = threading.Event()

    def background() -> None:
        buffer.wait_for_demand(30.0)
        waited.set()

    loader = threading.Thread(target=background)
    loader.start()
    assert not waited.wait(0.2)  # the demand read is still in flight
    later = threading.Thread(target=buffer.get, args=("a", (1, 2)))
    later.start()
    in_flight(2)
    releases[5, 9].set()
    first.join(10)
    loader.join(10)
    assert waited.is_set() and later.is_alive()  # the later read did not hold the load up
    releases[1, 2].set()
    later.join(10)
    buffer.hold("a", 1, b"123456789")
    assert buffer.get_many([ByteRequest("a", (0, 2)), ByteRequest("a", (6, 8))]) == [b"01", b"67"]


def test_a_read_larger_than_the_threshold_waits_for_the_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While the load runs, a read estimated over WAIT_FOR_LOAD_BYTES (here lowered to 10 KB)
    waits for it, so it returns with the text in memory (whatever the timing: the load either
    ended before the read or is waited for); a small read is answered as ever."""
    monkeypatch.setattr(auto, "WAIT_FOR_LOAD_BYTES", 10_000)
    text = "".join(f"{i:06d} waits for the load {'y' * (i % 53)}\n" for i in range(20_000))
    lines = reference_lines(text)
    with latency_server(text, "auto-wait", first_byte_ms=300.0) as server:
        url = "s3://auto-wait/ctx/"
        contexts.write_layout(text, url, "single", endpoint_url=server.raw_endpoint)
        with contexts.open(
            url, endpoint_url=server.shaped_endpoint, head_bytes=1024, load_part_bytes=64 * 1024
        ) as ctx:
            assert ctx[100:110] == "".join(lines[100:110])
            assert ctx[:] == text
            assert ctx.loaded


def test_callers_ranges_read_on_while_loading_and_what_follows_is_held() -> None:
    """With ``hold_demand`` and ``read_ahead``, a caller's range asks for what follows it in the
    same request (a quarter of a round trip's transfer: 0.25 x 50 ms x 50 MB/s before anything
    is timed), up to the next held byte or the object's end; later reads of it ask nothing.
    Other objects, and a buffer after ``release()``, ask for exactly what they are asked."""
    data = bytes(range(256)) * 1024  # 256 KiB
    inner = DictTransport({"a": data, "b": data})
    asked: list[tuple[str, tuple[int, int] | None]] = []
    fetch = inner._fetch
    inner._fetch = lambda request: (
        asked.append((request.name, request.byte_range)),
        fetch(request),
    )[1]  # type: ignore[method-assign]
    with ThreadPoolExecutor(4) as pool:
        buffer = BufferedTransport(inner, hedge=HedgePolicy(), pool=pool)
        buffer.hold_demand = True
        buffer.read_ahead("a", len(data))
        buffer.hold("a", 200_000, data[200_000:210_000])
        assert buffer.get("a", (0, 10)) == data[:10]
        assert asked == [("a", (0, 200_000))]  # on to the held bytes
        assert buffer.get("a", (100, 150_000)) == data[100:150_000]
        assert buffer.get("a", (190_000, 205_000)) == data[190_000:205_000]
        assert len(asked) == 1
        assert buffer.get("a", (250_000, 250_010)) == data[250_000:250_010]
        assert asked[-1] == ("a", (250_000, len(data)))  # on to the object's end
        assert buffer.get_many(
            [ByteRequest("a", (215_000, 215_001)), ByteRequest("a", (220_000, 220_001))]
        ) == [data[215_000:215_001], data[220_000:220_001]]
        assert asked[-2:] == [
            ("a", (215_000, 220_000)),
            ("a", (220_000, 250_000)),
        ]  # not into each other
        assert buffer.get("b", (0, 10)) == data[:10] and asked[-1] == ("b", (0, 10))
        buffer.release()
        assert buffer.get("a", (0, 10)) == data[:10] and asked[-1] == ("a", (0, 10))


def test_reads_that_flights_cover_wait_for_them_instead_of_asking_again() -> None:
    inner = DictTransport({"a": b"0123456789"})
    buffer = BufferedTransport(inner)
    buffer.hold("a", 0, b"0123")
    flight: Future[bytes] = Future()
    buffer.expect("a", 4, 8, flight)
    answers: list[bytes] = []
    reader = threading.Thread(target=lambda: answers.append(buffer.get("a", (2, 7))))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive() and answers == []  # waiting for the flight, not fetching
    buffer.hold("a", 4, b"4567")
    flight.set_result(b"4567")
    reader.join(10)
    assert answers == [b"23456"] and inner.stats.snapshot().requests == 0
    assert buffer.get("a", (6, 10)) == b"6789"  # past every flight: fetched
    assert inner.stats.snapshot().requests == 1
    failed: Future[bytes] = Future()
    buffer.expect("a", 8, 10, failed)
    failed.set_exception(contexts.StorageError("cut"))  # a failed flight: the read asks itself
    assert buffer.get("a", (8, 10)) == b"89"


def test_a_reopen_takes_unchanged_metadata_from_the_cache_and_never_trusts_a_stale_or_damaged_entry(
    s3: S3Env, tmp_path: Path
) -> None:
    """The index is revalidated by its ETag in the first round trip (a 304 carries no body); a
    rewritten context or a damaged entry is fetched again, and every answer is the text."""
    url = s3.new_url()
    cache_dir = tmp_path / "metadata"
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)

    def opened(**options: object) -> tuple[list[str], int, str]:
        with contexts.open(url, endpoint_url=s3.endpoint_url, **options) as ctx:  # type: ignore[arg-type]
            assert isinstance(ctx, AutoContext)
            assert ctx.wait_loaded(60)
            return list(ctx.metadata_revalidated), ctx.stats.bytes_fetched, ctx[:]

    first, fetched, text = opened(metadata_cache=str(cache_dir))
    assert first == [] and text == TEXT
    entries = list(cache_dir.iterdir())
    assert len(entries) == 1  # the index (the manifest of this layout does not exist)
    again, refetched, text = opened(metadata_cache=str(cache_dir))
    assert again == ["context.idx"] and text == TEXT
    assert refetched < fetched  # the index's body did not come again
    assert opened(metadata_cache=False)[0] == []

    entries[0].write_bytes(entries[0].read_bytes()[:-1] + b"?")  # damaged: digest fails
    damaged, _, text = opened(metadata_cache=str(cache_dir))
    assert damaged == [] and text == TEXT
    assert opened(metadata_cache=str(cache_dir))[0] == ["context.idx"]  # repaired

    changed = TEXT.replace("auto line", "new line")
    contexts.write_layout(changed, url, "single", endpoint_url=s3.endpoint_url)
    stale, _, text = opened(metadata_cache=str(cache_dir))
    assert stale == [] and text == changed
    with pytest.raises(TypeError, match="metadata_cache"):
        contexts.open(url, endpoint_url=s3.endpoint_url, metadata_cache=3)  # type: ignore[arg-type]


def test_the_metadata_cache_is_keyed_by_endpoint_and_url(tmp_path: Path) -> None:
    from contexts.metadata_cache import MetadataCache

    cache = MetadataCache(tmp_path / "never-made-yet")
    assert cache.get("a") is None
    cache.put("a", '"etag-1"', b"body")
    entry = cache.get("a")
    assert entry is not None and entry.body == b"body" and entry.etag == '"etag-1"'
    assert cache.get("b") is None
    for damage in (b"", b"not json\nbody", b'{"key": "a"}\nbody'):
        cache.put("a", '"etag-1"', b"body")
        next(cache.directory.iterdir()).write_bytes(damage)
        assert cache.get("a") is None and list(cache.directory.iterdir()) == []


def test_copies_of_a_metadata_request_share_one_look_at_the_cache(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each metadata name is looked up in the cache once per open, and every copy of its request
    asks with that entry: a copy that lands first and replaces a stale entry does not make a
    later copy's answer a revalidation (it was reported as one, now and then)."""
    from contexts.metadata_cache import MetadataCache

    url = s3.new_url()
    cache_dir = tmp_path / "metadata"
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    with contexts.open(url, endpoint_url=s3.endpoint_url, metadata_cache=str(cache_dir)) as ctx:
        assert ctx[:1] == LINES[0]
    looked_up: list[str] = []
    get = MetadataCache.get
    monkeypatch.setattr(
        MetadataCache, "get", lambda self, key: (looked_up.append(key), get(self, key))[1]
    )
    for number in range(8):  # each open finds the entry of the text before
        changed = TEXT.replace("auto line", f"line {number}")
        contexts.write_layout(changed, url, "single", endpoint_url=s3.endpoint_url)
        looked_up.clear()
        options = {"metadata_cache": str(cache_dir), "metadata_copies": 3}
        with contexts.open(url, endpoint_url=s3.endpoint_url, **options) as ctx:  # type: ignore[arg-type]
            assert isinstance(ctx, AutoContext)
            assert ctx.metadata_revalidated == [] and ctx[:] == changed
        assert sorted(looked_up) == sorted(set(looked_up)) and len(looked_up) == 2


def test_the_load_waits_after_open_for_the_callers_first_read_or_wait_loaded(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after open the load holds back (``LOAD_GRACE_S``, here a minute) so that a read
    made at once goes out first; the caller's first read that needs storage, or
    ``wait_loaded``, starts it. Counted, not timed: with the grace a minute long, a load that
    started by itself would show requests before the read, and ``wait_loaded(30)`` would
    time out."""
    monkeypatch.setattr(auto, "LOAD_GRACE_S", 60.0)
    url = s3.new_url()
    text = TEXT * 20  # ~2.5 MB: the head read holds 64 KiB, the load asks for the rest
    lines = reference_lines(text)
    contexts.write_layout(text, url, "single", endpoint_url=s3.endpoint_url)
    options = {"endpoint_url": s3.endpoint_url, "head_bytes": 64 * 1024, "metadata_copies": 1}
    with contexts.open(url, **options) as ctx:
        assert isinstance(ctx, AutoContext)

        def sent() -> int:  # requests, not counting hedge copies
            return ctx.stats.requests - ctx.stats.retries

        assert not ctx._load_ended.wait(0.5)
        # index, manifest, segment 1, the tail and the 64 KiB head: open's, and no more
        assert sent() == 5
        assert ctx[40_000] == lines[40_000]  # past the head: the caller's read goes first
        assert sent() == 6
        assert ctx._load_ended.wait(30) and ctx.loaded  # and the load follows
    with contexts.open(url, **options) as ctx:
        assert ctx.wait_loaded(30) and ctx.text() == text


def test_character_offsets_are_checked_when_first_used_and_lines_read_on(s3: S3Env) -> None:
    """An index whose character offsets UTF-8 cannot hold opens (they are computed and checked
    on first use, not by open); the load names them in ``load_error``, lines read through
    storage, and the character view names them too."""
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    header_bytes, _, payload = s3.get(url, "context.idx").partition(b"\n")
    stream = zlib.decompressobj()
    table = array("Q", stream.decompress(payload))
    half = len(table) // 2
    table[half + 1] = table[1]  # block 0: all its bytes beyond one per character
    header = json.loads(header_bytes)
    forged = zlib.compress(table.tobytes()) + stream.unused_data
    s3.put(url, "context.idx", json.dumps(header).encode() + b"\n" + forged)
    with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert not ctx.wait_loaded(60)
        assert isinstance(ctx.load_error, contexts.IndexFormatError)
        assert ctx[10:20] == "".join(LINES[10:20]) and ctx[-1] == LINES[-1]
        with pytest.raises(contexts.IndexFormatError, match="UTF-8 cannot encode"):
            ctx.char_map()


def test_a_whole_read_becomes_the_loaded_text_where_it_costs_no_more_memory(s3: S3Env) -> None:
    """After ``ctx[:]`` or ``text()`` of a loaded text whose every block is as wide, the loaded
    text is that one ``str``: the next whole read is the same object (no copy of the whole
    text), lines and greps read from it, and no request goes out. A text of narrower blocks
    (ASCII beside one emoji) keeps its blocks."""
    from contexts.loaded import CheckpointedText

    wide = "".join(f"{i:05d} naïve \U0001f600 {'x' * (i % 41)}\n" for i in range(20_000))
    narrow = "".join(f"{i:05d} line\n" for i in range(20_000)) + "end \U0001f600\n"
    for text, kept in ((wide, True), (narrow, False)):
        url = s3.new_url()
        lines = reference_lines(text)
        contexts.write_layout(text, url, "single", endpoint_url=s3.endpoint_url)
        with contexts.open(url, endpoint_url=s3.endpoint_url) as ctx:
            assert isinstance(ctx, AutoContext) and ctx.wait_loaded(60)
            before = ctx.stats.requests
            first = ctx[:] if kept else ctx.text()
            assert first == text
            memory = ctx._memory
            assert isinstance(memory, CheckpointedText)
            assert (len(memory._blocks) == 1) is kept
            assert (ctx.text() is first) is kept and (ctx[:] is first) is kept
            assert ctx[19_990:] == "".join(lines[19_990:]) and ctx[7] == lines[7]
            assert ctx.grep("12345 ") == [(12345, lines[12345])]
            assert ctx.stats.requests == before


def test_a_closed_context_lets_go_of_its_text_without_the_cyclic_collector(s3: S3Env) -> None:
    """An auto context sits in reference cycles (its layout calls back into it); once closed,
    its loaded text is freed at once, not when the cyclic collector next runs (texts of
    closed contexts piled up to gigabytes in a long bench run)."""
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    gc.collect()
    gc.disable()
    try:
        ctx = contexts.open(url, endpoint_url=s3.endpoint_url)
        assert isinstance(ctx, AutoContext) and ctx.wait_loaded(60) and ctx._memory is not None
        text = weakref.ref(ctx._memory)
        ctx.close()
        assert text() is None
    finally:
        gc.enable()


def test_small_reads_while_loading_decode_each_window_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the load runs (held here until the test lets it go), a read of up to a window of
    lines is read as its whole aligned window (two across an edge), once: line after line of it,
    and any range inside it, is cut from the kept window without reading the layout again.
    Longer ranges are read as asked, and kept too; a batch reads its windows together; every
    answer is the reference's. Once loaded, reads go to memory and the windows are dropped."""
    go = threading.Event()
    load = AutoContext._load_into_memory

    def held_back(self: AutoContext) -> None:
        go.wait(60)
        load(self)

    monkeypatch.setattr(AutoContext, "_load_into_memory", held_back)
    contexts.write_layout(TEXT, str(tmp_path), "single")
    with contexts.open(str(tmp_path)) as ctx:
        assert isinstance(ctx, AutoContext) and ctx._layout is not None
        layout_reads: list[list[tuple[int, int]]] = []
        read = ctx._layout._read_ranges

        def counted(ranges: list[tuple[int, int]]) -> list[str]:
            layout_reads.append(list(ranges))
            return read(ranges)

        monkeypatch.setattr(ctx._layout, "_read_ranges", counted)
        try:
            assert [ctx[i] for i in range(1500, 1700)] == LINES[1500:1700]
            assert ctx.read_many([(5, 6), (2999, 3000), (2100, 2101)]) == [
                LINES[5],
                LINES[2999],
                LINES[2100],
            ]  # one batch: (0, 1024), and the one window the other two share
            assert ctx[1030:1100] == "".join(LINES[1030:1100]) and ctx[-2049] == LINES[951]
            assert layout_reads == [[(1024, 2048)], [(0, 1024), (2048, 3000)]]
            assert ctx[2040:2050] == "".join(LINES[2040:2050])  # across an edge: both windows
            assert ctx[0:2000] == "".join(LINES[:2000])  # longer than a window: as asked
            assert ctx[0:2000] == "".join(LINES[:2000]) and ctx[900:1990] == "".join(
                LINES[900:1990]
            )  # kept: read again, or inside it
            assert layout_reads[2:] == [[(1024, 3000)], [(0, 2000)]]
            assert not ctx.loaded
        finally:
            go.set()
        assert ctx.wait_loaded(60) and ctx._windows is None
        assert ctx[1500] == LINES[1500] and len(layout_reads) == 4
