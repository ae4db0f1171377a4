"""Concurrent appends to one segments-layout context: S3 conditional writes on the moto server,
flock + rename in a directory. Nothing lost, nothing duplicated, the manifest stays valid."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import contexts
from contexts.append import (
    Appender,
    AppendNotSupportedError,
    AppendResult,
    append_text,
)
from contexts.errors import ContextError, ManifestError, StorageError
from contexts.layouts.manifest import parse_manifest
from contexts.location import S3Location
from contexts.transport.options import S3Options
from contexts.transport.s3 import S3Writer
from tests.conftest import S3Env

WRITERS = 8
SESSIONS = 25


def session_text(writer: int, session: int) -> str:
    """A small session whose every line names its writer and session (1-4 lines)."""
    return "".join(f"w{writer} s{session} line {i}\n" for i in range(1 + (writer + session) % 4))


def hammer(
    url: str, *, writers: int = WRITERS, sessions: int = SESSIONS, **options: str
) -> list[AppendResult]:
    """``writers`` threads, each appending ``sessions`` sessions in order; every result."""

    def one_writer(writer: int) -> list[AppendResult]:
        with Appender(url, **options) as appender:  # one client per writer, as in real use
            return [
                appender.append(session_text(writer, s), writer=f"w{writer}")
                for s in range(sessions)
            ]

    with ThreadPoolExecutor(writers) as pool:
        return [r for results in pool.map(one_writer, range(writers)) for r in results]


def check_union(
    text: str, results: list[AppendResult], *, writers: int = WRITERS, sessions: int = SESSIONS
) -> None:
    """Every session exactly once, contiguous, at the line its append reported; each writer's
    sessions in its own order; nothing else."""
    lines = text.splitlines(keepends=True)
    assert len(lines) == sum(r.line_count for r in results)
    blocks: dict[tuple[int, int], int] = {}
    for result in results:
        block = lines[result.start_line : result.start_line + result.line_count]
        match = re.match(r"w(\d+) s(\d+) ", block[0])
        assert match, block
        writer, session = int(match[1]), int(match[2])
        assert "".join(block) == session_text(writer, session)
        assert (writer, session) not in blocks  # never twice
        blocks[writer, session] = result.start_line
    assert len(blocks) == writers * sessions  # never lost
    for writer in range(writers):
        starts = [blocks[writer, s] for s in range(sessions)]
        assert starts == sorted(starts)


@pytest.mark.timeout(120)
def test_concurrent_appends_on_s3_lose_nothing(
    s3: S3Env, capsys: pytest.CaptureFixture[str]
) -> None:
    url = s3.new_url()
    results = hammer(url, endpoint_url=s3.endpoint_url)
    manifest = parse_manifest(s3.get(url, "manifest.json"), url=url)  # valid, gap-free
    assert len(manifest.segments) == WRITERS * SESSIONS
    assert len({entry.name for entry in manifest.segments}) == WRITERS * SESSIONS
    with contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url) as ctx:
        check_union(ctx.text(), results)
        assert len(ctx) == manifest.line_count
    retries = sum(r.retries for r in results)
    with capsys.disabled():
        print(
            f"\n[append s3] writers={WRITERS} sessions={len(results)} 412-retries={retries}"
            " lost=0 duplicated=0"
        )


@pytest.mark.timeout(120)
def test_concurrent_appends_in_a_directory_lose_nothing(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    results = hammer(str(root))
    manifest = parse_manifest((root / "manifest.json").read_bytes(), url=str(root))
    assert len(manifest.segments) == WRITERS * SESSIONS
    assert not list(root.glob(".*.tmp"))  # no temp files left behind
    with contexts.open_context("volume", str(root)) as ctx:
        check_union(ctx.text(), results)


def test_append_extends_a_written_layout_and_reads_back(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout("a\nb\nc", url, lines_per_segment=2, endpoint_url=s3.endpoint_url)
    result = append_text("d\ne\n", url, endpoint_url=s3.endpoint_url, lines_per_segment=1)
    assert (result.start_line, result.line_count, result.attempts) == (3, 2, 1)
    assert len(result.segments) == 2 and all(n.startswith("append-") for n in result.segments)
    with contexts.open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == "a\nb\nc\nd\ne\n"  # the old last line gains its newline
    assert append_text("", url, endpoint_url=s3.endpoint_url).line_count == 0


def test_a_stale_etag_is_refused_by_the_server(s3: S3Env) -> None:
    """The compare-and-swap itself: a write with an outdated ETag gets 412 and reports False."""
    url = s3.new_url()
    append_text("one\n", url, endpoint_url=s3.endpoint_url)
    store = S3Writer(
        S3Location(s3.bucket, url.split("/", 3)[3]), S3Options(endpoint_url=s3.endpoint_url)
    )
    try:
        data, etag = store.read_versioned("manifest.json")
        assert data is not None and etag
        append_text("two\n", url, endpoint_url=s3.endpoint_url)  # someone else wins
        assert store.put_if("manifest.json", data, etag) is False
        assert (
            store.put_if("manifest.json", data, None) is False
        )  # IfNoneMatch="*" on an existing key
        _, fresh = store.read_versioned("manifest.json")
        assert store.put_if("manifest.json", data, fresh) is True
    finally:
        store.close()


def test_a_swap_that_landed_but_looked_lost_is_not_appended_twice(s3: S3Env) -> None:
    """A PUT whose response is lost is retried by botocore; the retry meets our own new ETag
    and gets 412. The appender must see its segments already listed and stop, not append again."""
    url = s3.new_url()
    append_text("one\n", url, endpoint_url=s3.endpoint_url)
    with Appender(url, endpoint_url=s3.endpoint_url) as appender:
        store = appender._store
        real_swap = store.put_if
        lost: list[bool] = []

        def swap_then_lose_the_answer(name: str, data: bytes, token: str | None) -> bool:
            landed = real_swap(name, data, token)  # the real conditional PUT on the moto server
            if landed and not lost:
                lost.append(True)
                return False  # ... but the caller saw only the retry's 412
            return landed

        store.put_if = swap_then_lose_the_answer  # type: ignore[method-assign]
        result = appender.append("two\nthree\n", lines_per_segment=1)
    assert lost and (result.start_line, result.line_count) == (1, 2)
    with contexts.open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == "one\ntwo\nthree\n"


@pytest.mark.parametrize("answer", ["conflict", "error"])
def test_a_last_attempt_that_landed_keeps_its_segments(tmp_path: Path, answer: str) -> None:
    """The final swap lands but reports a conflict (or an error after the write): the append
    succeeded, so its segments are listed and must not be deleted."""
    url = str(tmp_path)
    append_text("one\n", url)
    with Appender(url) as appender:
        real_swap = appender._store.put_if

        def landed_but_lost(name: str, data: bytes, token: str | None) -> bool:
            assert real_swap(name, data, token)
            if answer == "error":
                raise StorageError("the answer to a PUT that landed was lost")
            return False

        appender._store.put_if = landed_but_lost  # type: ignore[method-assign]
        result = appender.append("two\n", max_attempts=1)
    assert result.start_line == 1 and result.line_count == 1
    with contexts.open_context("volume", url) as ctx:
        assert ctx.text() == "one\ntwo\n"


def test_a_refused_append_leaves_no_objects_behind(tmp_path: Path) -> None:
    contexts.write_layout("x\n", str(tmp_path), layout="single")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(AppendNotSupportedError, match="single-object layout"):
        append_text("y\n", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_appending_to_a_single_layout_or_a_bad_manifest_is_refused(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout("x\n", url, "single", endpoint_url=s3.endpoint_url)
    with pytest.raises(ContextError, match="single-object layout"):
        append_text("y\n", url, endpoint_url=s3.endpoint_url)
    bad = s3.new_url()
    s3.put(bad, "manifest.json", json.dumps({"not": "a list"}))
    with pytest.raises(ManifestError):
        append_text("y\n", bad, endpoint_url=s3.endpoint_url)
