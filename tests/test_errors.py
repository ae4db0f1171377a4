"""Every failure gets a named error whose message says what went wrong and what to do."""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from pathlib import Path

import pytest

import contexts
from contexts import (
    BucketNotFoundError,
    ContextClosedError,
    CredentialsError,
    EndpointUnreachableError,
    IndexFormatError,
    IntegrityError,
    InvalidURLError,
    LayoutNotFoundError,
    ManifestError,
    ManifestNotFoundError,
    MissingDependencyError,
    ObjectNotFoundError,
    UnknownContextError,
    UnsafePathError,
    open_context,
    registry,
)
from contexts.location import LocalLocation
from tests.conftest import S3Env, SilentServer
from tests.reference import sha256, upload_segments, upload_single


def sequential(env: S3Env, url: str, **options: object) -> contexts.Context:
    return open_context("s3-sequential", url, endpoint_url=env.endpoint_url, **options)


# -- layouts that are missing or corrupt -------------------------------------------------------


def test_missing_layout_names_the_url_and_the_fix(s3: S3Env) -> None:
    url = s3.new_url()
    with pytest.raises(ManifestNotFoundError) as caught:
        sequential(s3, url)
    assert f"{url}manifest.json" in str(caught.value)
    assert "write_layout" in str(caught.value)
    with pytest.raises(ManifestNotFoundError, match=r"manifest\.json"):
        sequential(s3, url, layout="segments")
    with pytest.raises(LayoutNotFoundError, match=r"context\.idx"):
        sequential(s3, url, layout="single")


def _manifest(*entries: object) -> bytes:
    return json.dumps(list(entries)).encode()


def _entry(name: str, start: int, count: int, **extra: object) -> dict[str, object]:
    return {"segment": name, "start_line": start, "line_count": count, **extra}


CORRUPT_MANIFESTS = {
    "not json": (b"{not json", "not valid JSON"),
    "not utf-8": (b"\xff\xfe[", "not valid JSON"),
    "not a list": (b'{"segment": "a"}', "must be a JSON array"),
    "entry not object": (_manifest([1, 2]), "must be an object"),
    "missing keys": (_manifest({"segment": "a"}), "lacks start_line, line_count"),
    "name not string": (_manifest(_entry(7, 0, 1)), "'segment' must be a string"),  # type: ignore[arg-type]
    "gap": (_manifest(_entry("a", 0, 2), _entry("b", 3, 1)), "a gap"),
    "overlap": (_manifest(_entry("a", 0, 2), _entry("b", 1, 1)), "overlap"),
    "unsorted": (_manifest(_entry("b", 2, 1), _entry("a", 0, 2)), "unsorted"),
    "not from zero": (_manifest(_entry("a", 1, 2)), "a gap"),
    "negative count": (_manifest(_entry("a", 0, -1)), "at least 1"),
    "zero count": (_manifest(_entry("a", 0, 0)), "at least 1"),
    "float count": (_manifest(_entry("a", 0, 1.5)), "must be an integer"),
    "string count": (_manifest(_entry("a", 0, "3")), "must be an integer"),
    "bool count": (_manifest(_entry("a", 0, True)), "must be an integer"),
    "duplicate": (_manifest(_entry("a", 0, 1), _entry("a", 1, 1)), "listed twice"),
    "dot-dot": (_manifest(_entry("../x", 0, 1)), "without '..'"),
    "absolute": (_manifest(_entry("/etc/passwd", 0, 1)), "must be relative"),
    "dot": (_manifest(_entry(".", 0, 1)), "must be relative"),
    "directory": (_manifest(_entry("dir/", 0, 1)), "trailing '/'"),
    "bad sha": (_manifest(_entry("a", 0, 1, sha256="xyz")), "64 lowercase hex"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_MANIFESTS))
def test_corrupt_manifest(s3: S3Env, case: str) -> None:
    data, fragment = CORRUPT_MANIFESTS[case]
    url = s3.new_url()
    s3.put(url, "manifest.json", data)
    with pytest.raises(ManifestError) as caught:
        sequential(s3, url)
    message = str(caught.value)
    assert fragment in message
    assert f"{url}manifest.json" in message and "write_layout" in message


@pytest.mark.parametrize(
    ("body", "extra", "fragment"),
    [
        (b"a\n", {}, "holds 1 lines but the manifest says 3"),  # short segment
        # One line short and ending in a newline is also a valid seed segment ("\n".join with
        # a blank last line); the writer's byte_count is what rules that reading out.
        (b"a\nb\n", {"byte_count": 6}, "has 4 bytes but the manifest says 6"),
        (b"a\nb\nc\nd\n", {}, "holds 4 lines but the manifest says 3"),  # long segment
        (b"a\nb\nc", {"byte_count": 6}, "has 5 bytes but the manifest says 6"),
        (b"a\nb\nX\n", {"sha256": sha256(b"a\nb\nc\n")}, "does not match the manifest's sha256"),
        (b"a\n\xff\xfeb\nc\n", {}, "not valid UTF-8 at byte 2"),
    ],
)
def test_segment_that_disagrees_with_the_manifest(
    s3: S3Env, body: bytes, extra: dict[str, object], fragment: str
) -> None:
    url = s3.new_url()
    s3.put(url, "segment_000001.log", body)
    s3.put(url, "segment_000002.log", b"tail\n")
    manifest = _manifest(
        _entry("segment_000001.log", 0, 3, **extra), _entry("segment_000002.log", 3, 1)
    )
    s3.put(url, "manifest.json", manifest)
    with sequential(s3, url) as ctx:
        assert len(ctx) == 4
        assert ctx[3] == "tail\n"  # other segments still read
        with pytest.raises(IntegrityError) as caught:
            ctx[0:2]
    assert fragment in str(caught.value)
    assert f"{url}segment_000001.log" in str(caught.value)


def test_missing_segment_object(s3: S3Env) -> None:
    url = s3.new_url()
    upload_segments(lambda name, data: s3.put(url, name, data), "a\nb\nc\n", 1)
    s3.client.delete_object(Bucket=s3.bucket, Key=url.split("/", 3)[3] + "segment_000002.log")
    with sequential(s3, url) as ctx:
        assert ctx[0] == "a\n"
        with pytest.raises(ObjectNotFoundError, match=r"segment_000002\.log does not exist"):
            ctx[1]


def _index_parts(url: str, s3: S3Env) -> tuple[dict[str, object], bytes]:
    header, _, payload = s3.get(url, "context.idx").partition(b"\n")
    return json.loads(header), payload


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda h, p: (b"garbage", p), "unreadable"),
        (lambda h, p: (json.dumps({**h, "version": 9}).encode(), p), "version 9"),
        (lambda h, p: (json.dumps({**h, "format": "x"}).encode(), p), "not an rlm-line-index"),
        (lambda h, p: (json.dumps({**h, "line_count": 99}).encode(), p), "need"),
        (lambda h, p: (json.dumps({**h, "byte_count": 3}).encode(), p), "object size"),
        (lambda h, p: (json.dumps(h).encode(), p[:-3]), "unreadable"),
        (lambda h, p: (json.dumps({**h, "stride": 0}).encode(), p), "stride"),
    ],
)
def test_corrupt_line_index(s3: S3Env, mutate: object, fragment: str) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), "a\nbb\nccc\n", 1)
    header, payload = _index_parts(url, s3)
    new_header, new_payload = mutate(header, payload)  # type: ignore[operator]
    s3.put(url, "context.idx", new_header + b"\n" + new_payload)
    with pytest.raises(IndexFormatError, match=fragment) as caught:
        sequential(s3, url)
    assert "write_layout" in str(caught.value)


def test_object_shorter_than_its_index(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), "alpha\nbeta\ngamma\n", 1)
    s3.put(url, "context.txt", b"alpha\nbeta\n")  # truncated after indexing
    with sequential(s3, url) as ctx:
        assert ctx[0] == "alpha\n"
        with pytest.raises(IntegrityError, match=r"shorter than its index|InvalidRange"):
            ctx[2]


def test_object_changed_after_indexing(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), "alpha\nbeta\n", 1)
    s3.put(url, "context.txt", b"alp\nha\nbeta\n"[:11])  # same size, different lines
    with sequential(s3, url) as ctx, pytest.raises(IntegrityError, match="changed after indexing"):
        ctx[0]


def test_index_payload_is_compact() -> None:
    # 1M lines at the default stride: the index must stay small (it is one GET at open).
    from contexts.layouts.single import build_single

    text = "".join(f"{i:07d} some line text\n" for i in range(1_000_000))
    size = len(build_single(text).index.to_bytes())
    assert size < 300_000, size
    assert zlib  # payload is zlib-compressed (see format docs)


# -- storage failures -----------------------------------------------------------------------------


def test_unknown_bucket(s3: S3Env) -> None:
    with pytest.raises(BucketNotFoundError, match="does not exist"):
        sequential(s3, "s3://no-such-bucket-here/ctx/")


def test_missing_credentials(s3: S3Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    with pytest.raises(CredentialsError) as caught:
        sequential(s3, s3.new_url())
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)
    assert "testing" not in str(caught.value)


def test_missing_profile(s3: S3Env) -> None:
    with pytest.raises(CredentialsError, match="profile 'nope'"):
        sequential(s3, s3.new_url(), profile_name="nope")


@pytest.mark.timeout(60)
def test_refused_connection_fails_fast() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EndpointUnreachableError, match="did not answer") as caught:
        open_context(
            "s3-sequential",
            "s3://bucket/ctx/",
            endpoint_url=f"http://127.0.0.1:{port}",
            connect_timeout_s=1,
            read_timeout_s=1,
            max_attempts=2,
        )
    assert f"127.0.0.1:{port}" in str(caught.value)


@pytest.mark.timeout(60)
def test_endpoint_that_never_answers_hits_the_deadline(silent_server: SilentServer) -> None:
    """Two attempts (two connections), then a named error; a hang is the test's timeout."""
    with pytest.raises(EndpointUnreachableError, match="deadline about 2 s"):
        open_context(
            "s3-sequential",
            "s3://bucket/ctx/",
            endpoint_url=silent_server.url,
            connect_timeout_s=0.5,
            read_timeout_s=0.5,
            max_attempts=2,
        )
    assert silent_server.connections == 2


# -- bad arguments --------------------------------------------------------------------------------


def test_unknown_context_name_lists_the_registered_ones() -> None:
    with pytest.raises(UnknownContextError, match="s3-sequential"):
        open_context("s3-turbo", "s3://b/p/")


@pytest.mark.parametrize("url", ["gs://bucket/p", "http://host/p", "s3:///nobucket", ""])
def test_invalid_urls(url: str) -> None:
    with pytest.raises(InvalidURLError):
        open_context("s3-sequential", url)


def test_missing_optional_dependency_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = registry.ContextSpec(
        "fake", "contexts_not_installed_anywhere:Fake", "test", storage="s3", extra="obstore"
    )
    monkeypatch.setitem(registry.REGISTRY, "fake", fake)
    with pytest.raises(MissingDependencyError, match=r"pip install 'rlm-context-lab\[obstore\]'"):
        open_context("fake", "s3://b/p/")


def test_in_memory_context_needs_str() -> None:
    with pytest.raises(TypeError, match="decode"):
        contexts.InMemoryContext(b"bytes")  # type: ignore[arg-type]


def test_local_names_cannot_escape_the_root(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (tmp_path / "secret").write_text("no")
    (root / "link").symlink_to(tmp_path / "secret")
    location = LocalLocation(root)
    for name in ("../secret", "link", "/etc/passwd"):
        with pytest.raises(UnsafePathError, match="outside the context root"):
            location.path(name)
    assert location.path("segment_000001.log") == (root / "segment_000001.log").resolve()


def test_directory_where_a_file_should_be(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").mkdir()
    with pytest.raises(contexts.StorageError, match="cannot read"):
        open_context("s3-sequential", str(tmp_path))


def test_a_request_that_never_left_is_not_counted(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from contexts.location import S3Location
    from contexts.stats import StatsRecorder
    from contexts.transport.options import S3Options
    from contexts.transport.s3 import S3Transport

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    stats = StatsRecorder()
    transport = S3Transport(
        S3Location(s3.bucket, "ctx/"), S3Options(endpoint_url=s3.endpoint_url), stats
    )
    with pytest.raises(CredentialsError):
        transport.get("manifest.json")
    assert stats.snapshot().requests == 0
    transport.close()


# -- close() while a slice is under way ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"), [("s3-sequential", {}), ("s3-threaded", {"max_workers": 1})]
)
def test_close_during_a_slice_stops_its_remaining_requests(
    s3: S3Env, name: str, options: dict[str, int]
) -> None:
    """close() from another thread while a 20-segment slice runs: the slice raises
    ContextClosedError and the requests it had not sent yet are never sent (counted)."""
    url = s3.new_url()
    text = "".join(f"{i:04d} closing mid-slice\n" for i in range(2000))
    contexts.write_layout(text, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    ctx = open_context(name, url, endpoint_url=s3.endpoint_url, **options)
    transport = ctx.transport  # type: ignore[attr-defined]
    fetch = transport._fetch
    sent: list[object] = []
    closer = threading.Thread(target=ctx.close)

    def close_after_the_third(request: object) -> bytes:
        sent.append(request)
        body: bytes = fetch(request)
        if len(sent) == 3:  # another thread closes the context while the slice is under way
            closer.start()
            for _ in range(1000):  # until close() has refused what is left (a hang guard)
                if transport.stopped:
                    break
                time.sleep(0.01)
        return body

    transport._fetch = close_after_the_third
    with pytest.raises(ContextClosedError):
        ctx[0:2000]
    closer.join(timeout=30)
    assert len(sent) == 3  # segments 4..20 were refused before they were sent
    assert ctx.closed and not closer.is_alive()
