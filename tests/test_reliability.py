"""Reliability across every registered context: under a seeded, hostile network each read is the
oracle's text or a named error (never a wrong slice); 32 threads agree with the oracle; a dead
endpoint hits the slice deadline; memory budgets hold; no credential leaks into any output."""

from __future__ import annotations

import faulthandler
import os
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

import contexts
from bench.network import S3Server
from bench.network.profiles import FaultKind, FaultRates, LatencyModel, NetworkProfile
from contexts import registry
from tests.conftest import S3Env
from tests.reference import reference_lines

TEXT = "".join(f"{i:05d} é€ 中 \U0001f600 reliability line {'x' * (i % 37)}\n" for i in range(2000))
LINES = reference_lines(TEXT)
S3_CONTEXTS = [name for name in contexts.available() if registry.spec(name).storage == "s3"]

HOSTILE = NetworkProfile(
    "hostile",
    "every fault kind at a high rate",
    "test",
    first_byte=LatencyModel.fixed(0.0),
    faults=FaultRates(
        slowdown=0.06,
        internal_error=0.04,
        reset=0.05,
        slow_tail=0.0,
        truncate=0.06,
        short_body=0.06,
        stall=0.005,
        stall_s=5.0,
    ),
)
"""About 30 % of requests fail; stalled ones cost one ``read_timeout_s`` each."""


def write_for(name: str, url: str, endpoint: str) -> None:
    """The layout ``name`` is meant for (the bench's choice), with sizes and hashes."""
    spec = registry.spec(name)
    options = {"lines_per_segment": 100, **dict(spec.write_options)}
    if spec.name == "s3-large-chunk":
        options["segment_index_stride"] = 16
    if spec.layouts[0] == "single":  # copies of 64 KiB would hold most of this small text in
        options["inline_bytes"] = 512  # the index, and auto's reads would meet no fault
    contexts.write_layout(TEXT, url, spec.layouts[0], endpoint_url=endpoint, **options)


@pytest.fixture(scope="module")
def fault_server() -> Iterator[S3Server]:
    with S3Server(profile="none", seed=0, in_process=True) as server:
        client = boto3.client("s3", endpoint_url=server.raw_endpoint)
        client.create_bucket(Bucket="reliability")
        client.close()
        for name in S3_CONTEXTS:
            write_for(name, f"s3://reliability/{name}/", server.raw_endpoint)
        yield server


READS = 30
"""Random slices per context under ``HOSTILE`` (2 GETs each on average)."""


def random_ranges(rng: random.Random, count: int) -> list[tuple[int, int]]:
    ranges = []
    for _ in range(count):
        start = rng.randrange(-len(LINES), len(LINES))
        ranges.append((start, start + rng.choice((1, 3, 40, 250))))
    return ranges


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", S3_CONTEXTS)
def test_faults_give_the_oracles_text_or_a_named_error(fault_server: S3Server, name: str) -> None:
    fault_server.set_profile(HOSTILE, seed=sum(map(ord, name)))
    rng = random.Random(name)
    wrong: list[tuple[int, int]] = []
    errors: dict[str, int] = {}
    ctx: contexts.Context | None = None
    options: dict[str, Any] = {"endpoint_url": fault_server.shaped_endpoint, "read_timeout_s": 0.5}
    if registry.spec(name).peer:
        options["block_size"] = 4096  # s3fs's 50 MiB blocks would fetch this text in one GET
    if name == "auto":  # its 1 MiB head read would hold this text at open: read it in pieces
        options.update(head_bytes=2048, tail_bytes=512, part_bytes=1024, load_part_bytes=4096)
    for _attempt in range(10):  # opening is a read too: it may fail with a named error
        try:
            ctx = contexts.open_context(name, f"s3://reliability/{name}/", **options)
            break
        except contexts.ContextError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    assert ctx is not None, f"could not open {name} in 10 attempts: {errors}"
    with ctx:
        for start, stop in random_ranges(rng, READS):
            try:
                answer = ctx[start:stop]
            except contexts.ContextError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if answer != "".join(LINES[start:stop]):
                wrong.append((start, stop))
        stats = ctx.stats
    counts = fault_server.fault_counts()
    fault_server.set_profile("none")
    assert wrong == [], f"{name} returned wrong text for {wrong[:5]}"
    # The network really was hostile, and the context retried instead of giving up.
    assert sum(counts[kind.value] for kind in FaultKind) >= 0.15 * counts["requests"], counts
    assert stats.retries > 0
    assert sum(errors.values()) <= READS // 2, errors  # mostly answered, not mostly failed


@pytest.mark.timeout(120)
def test_short_bodies_with_matching_length_are_caught_and_read_again(
    fault_server: S3Server,
) -> None:
    """HTTP cannot see a body cut with a matching Content-Length; manifest byte counts, hashes
    and index offsets do, and the read is repeated (counted as retries)."""
    short = NetworkProfile("short", "", "test", faults=FaultRates(short_body=0.2))
    for name in ("s3-sequential", "s3-byte-range", "s3-large-chunk"):
        fault_server.set_profile(short, seed=11)
        with contexts.open_context(
            name,
            f"s3://reliability/{name}/",
            endpoint_url=fault_server.shaped_endpoint,
            max_attempts=8,
        ) as ctx:
            ctx.integrity_attempts = 8  # type: ignore[attr-defined]
            for start in range(0, 2000, 100):  # small slices: one or two GETs each
                assert ctx[start : start + 100] == "".join(LINES[start : start + 100])
            assert ctx.stats.retries > 0
        assert fault_server.fault_counts()[FaultKind.SHORT_BODY.value] > 0
    fault_server.set_profile("none")


@pytest.mark.timeout(60)
def test_a_cut_body_in_a_big_batch_is_fetched_again_alone(fault_server: S3Server) -> None:
    """One short body among 20 segments costs one more GET, not the whole batch again."""
    short = NetworkProfile("short", "", "test", faults=FaultRates(short_body=0.1))
    fault_server.set_profile(short, seed=3)
    with contexts.open_context(
        "s3-threaded", "s3://reliability/s3-threaded/", endpoint_url=fault_server.shaped_endpoint
    ) as ctx:
        opened = ctx.stats.requests
        assert ctx[0:2000] == TEXT  # 20 segments of 100 lines, one batch
        fetched = ctx.stats.requests - opened
    counts = fault_server.fault_counts()
    fault_server.set_profile("none")
    assert counts[FaultKind.SHORT_BODY.value] > 0, counts  # the seed must cut something
    # Every cut body was fetched once more, and nothing else was (the manifest GET of the open
    # may have been cut too, and re-read).
    assert fetched == 20 + counts[FaultKind.SHORT_BODY.value] - (opened - 1), (fetched, counts)


STALL = NetworkProfile("stall", "", "test", faults=FaultRates(stall=1.0, stall_s=10.0))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", S3_CONTEXTS)
def test_a_stalled_endpoint_hits_the_slice_deadline(fault_server: S3Server, name: str) -> None:
    """botocore would retry a silent GET ten times here (10 x 0.5 s); ``deadline_s`` stops the
    slice (or the open, which is a read too) at 1.5 s with a named error."""
    url = f"s3://reliability/{name}/"
    options = {
        "endpoint_url": fault_server.shaped_endpoint,
        "read_timeout_s": 0.5,
        "max_attempts": 10,
        "deadline_s": 1.5,
    }
    try:
        ctx = None
        if name not in (
            "s3-ram",
            "auto",
        ):  # these hold this text once open: only the open can stall
            ctx = contexts.open_context(name, url, **options)
        fault_server.set_profile(STALL)
        with pytest.raises(contexts.DeadlineExceededError, match=r"deadline_s=1\.5"):
            if ctx is None:
                contexts.open_context(name, url, **options)
            else:
                ctx[0:2000]
        # Counted, not timed: each attempt waits >= 0.5 s, so a 1.5 s deadline allows at most
        # 4 attempts of each of the <= 21 GETs (manifest + 20 segments); ignoring the deadline
        # would make 10 attempts of each.
        assert fault_server.fault_counts()["requests"] <= 4 * 21
    finally:
        fault_server.set_profile("none")
        if ctx is not None:
            ctx.close()


# -- concurrency and resources ---------------------------------------------------------------


def _open_each(name: str, s3: S3Env, tmp: str) -> contexts.Context:
    spec = registry.spec(name)
    if spec.storage == "memory":
        return contexts.InMemoryContext(TEXT)
    if spec.storage == "local":
        contexts.write_layout(TEXT, tmp, lines_per_segment=100)
        return contexts.open_context(name, tmp)
    url = s3.new_url()
    write_for(name, url, s3.endpoint_url)
    # Thread safety is the point here: a generous read timeout, as the in-process server shares
    # its GIL with 32 readers (the 2 s first-byte hedge can expire under CI load).
    return contexts.open_context(name, url, endpoint_url=s3.endpoint_url, read_timeout_s=30)


THREADS = 32
SLICES_PER_THREAD = int(os.environ.get("CTXLAB_STRESS_SLICES", "1000"))
"""1,000 as the issue asks; contexts that make one moto request per slice get fewer in CI
(``NETWORK_SLICES``): 32,000 GETs against one moto process take minutes on 2 cores."""
NETWORK_SLICES = int(os.environ.get("CTXLAB_STRESS_NETWORK_SLICES", "20"))
IN_MEMORY = {"memory", "s3-ram", "s3-cached-prefetch", "auto"}
STRESS_BUDGET_S = 240 if NETWORK_SLICES <= 20 else 3600
"""The watchdog: a full 32 x 1,000 run of one network context takes ~5 minutes on 2 cores."""


@pytest.mark.timeout(STRESS_BUDGET_S + 60)
@pytest.mark.parametrize("name", contexts.available())
def test_32_threads_of_random_slices_and_a_clean_close(
    s3: S3Env, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    before = {thread.ident for thread in threading.enumerate()}
    ctx = _open_each(name, s3, str(tmp_path_factory.mktemp(name)))
    mismatches: list[tuple[int, int] | BaseException] = []
    slices = SLICES_PER_THREAD if name in IN_MEMORY else NETWORK_SLICES
    done = threading.Barrier(THREADS + 1, timeout=STRESS_BUDGET_S)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(slices):
                start = rng.randrange(-2100, 2100)
                stop = start + rng.choice((1, 2, 17, 120, 700))
                if ctx[start:stop] != "".join(LINES[start:stop]):
                    mismatches.append((start, stop))
        except Exception as exc:  # a reader that raised has not agreed: fail the test
            mismatches.append(exc)
        finally:
            done.wait()

    faulthandler.dump_traceback_later(STRESS_BUDGET_S + 10, exit=False)  # show who hangs
    try:
        for seed in range(THREADS):
            threading.Thread(target=reader, args=(seed,), daemon=True).start()
        done.wait()  # raises BrokenBarrierError instead of hanging CI
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert mismatches == []
    ctx.close()
    with pytest.raises(contexts.ContextClosedError):
        ctx[0:1]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [
            t.name
            for t in threading.enumerate()
            if t.ident not in before and t.is_alive() and not t.name.startswith("Thread-")
        ]
        if not left:
            break
        time.sleep(0.05)
    assert left == [], f"{name} left threads behind after close(): {left}"


# -- memory budgets ----------------------------------------------------------------------------

BIG = "".join(f"{i:06d} budget line {'m' * (i % 90)} end\n" for i in range(40_000))  # ~3.5 MB


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "times"), [("s3-cached-prefetch", 10), ("auto", 10), ("auto", 2)])
def test_a_full_scan_of_a_text_over_the_budget_stays_within_it(name: str, times: int) -> None:
    """A cache (and read-ahead) budget of a tenth or a half of the text (``auto`` then does not
    load): the traced Python heap grows by at most the budget plus a documented slack while it
    scans it all.
    The server runs in its own process, so only the client's allocations are traced.

    Slack (docs/bad-input.md, "Memory"): the blocks of the read in progress as bytes, str and line
    index (about 3x a read), a read-ahead batch in flight, and interpreter noise: 1.5 MB here."""
    import tracemalloc

    with S3Server(profile="none") as server:
        client = boto3.client("s3", endpoint_url=server.raw_endpoint)
        client.create_bucket(Bucket="budget")
        client.close()
        _scan_within_budget(name, server.raw_endpoint, tracemalloc, times)


def _scan_within_budget(name: str, endpoint: str, tracemalloc: Any, times: int) -> None:
    url = "s3://budget/ctx/"
    contexts.write_layout(BIG, url, lines_per_segment=1000, endpoint_url=endpoint)
    budget = len(BIG.encode()) // times
    lines = reference_lines(BIG)
    with contexts.open_context(name, url, endpoint_url=endpoint, max_bytes=budget) as ctx:
        assert ctx[-1] == lines[-1]  # warm the client (botocore loads its models lazily)
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            for start in range(0, len(lines), 500):
                assert ctx[start : start + 500] == "".join(lines[start : start + 500])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert ctx.stats.cache_misses > 0  # the scan really went through the cache
    slack = 1_500_000
    assert peak - baseline <= budget + slack, (peak - baseline, budget)


# -- security --------------------------------------------------------------------------------

FAKE_KEY_ID = "AKIAFAKELEAKTEST0001"
FAKE_SECRET = "fakeLeakSecretValue/DoNotPrint0000000001"
FAKE_TOKEN = "FakeLeakSessionTokenValue0001"


@pytest.mark.timeout(180)
def test_no_credential_value_reaches_errors_logs_or_results(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    moto_endpoint: str,
) -> None:
    """A small bench under faults plus every storage error path, run with recognisable fake
    keys: the key id, secret and token appear in no message, log record, stdout/stderr or
    results file. (botocore's own DEBUG log prints the ``Authorization`` header, which holds the
    key id: the lab never enables it; this test captures INFO and above.)"""
    import logging
    import socket

    from bench.runner import BenchConfig, run_bench

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_TOKEN)
    caplog.set_level(logging.INFO)
    out = tmp_path_factory.mktemp("leak")
    harsh = out / "harsh.json"
    harsh.write_text(
        '{"extends": "faulty", "first_byte": {"fixed_ms": 0}, '
        '"faults": {"slowdown": 0.2, "reset": 0.1, "short_body": 0.1}}'
    )
    run_bench(
        BenchConfig(
            contexts=("s3-sequential", "s3-async", "obstore"),
            scenarios=("head-50k",),
            profiles=(str(harsh),),
            lines=(2_000,),
            out=out,
            segment_lines=100,
            think_scale=0.0,
        )
    )
    messages = []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{probe.getsockname()[1]}"
    for name in S3_CONTEXTS:
        for url, endpoint in (("s3://no-such-bucket-x/ctx/", None), ("s3://b/ctx/", refused)):
            try:
                contexts.open_context(
                    name,
                    url,
                    endpoint_url=endpoint or moto_endpoint,
                    max_attempts=1,
                    connect_timeout_s=0.5,
                )
            except contexts.ContextError as exc:
                messages.append(f"{exc!r} {exc.__cause__!r}")
    captured = capsys.readouterr()
    outputs = [*messages, caplog.text, captured.out, captured.err]
    outputs += [path.read_text() for path in out.rglob("*") if path.is_file()]
    assert len(messages) == 2 * len(S3_CONTEXTS)
    for secret in (FAKE_KEY_ID, FAKE_SECRET, FAKE_TOKEN):
        leaks = [text[:200] for text in outputs if secret in text]
        assert leaks == [], f"{secret} leaked into: {leaks}"


@pytest.mark.parametrize("name", ["memory", "s3-sequential", "s3-byte-range", "volume"])
def test_huge_indices_behave_like_a_list(
    s3: S3Env, tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    with _open_each(name, s3, str(tmp_path_factory.mktemp(name))) as ctx:
        for index in (10**30, -(10**30), 2**63, len(LINES)):
            with pytest.raises(IndexError, match="out of range"):
                ctx[index]
        assert ctx[-(10**30) : 10**30] == TEXT
        assert ctx[10**30 :] == "" and ctx[: -(10**30)] == ""
        assert ctx[2**63 : 2**64 : 10**20] == ""
        assert ctx.read_many([(10**30, None), (None, 3)]) == ["", "".join(LINES[:3])]
