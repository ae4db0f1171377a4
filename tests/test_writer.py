"""``write_layout`` stores the seed format (and the single-object layout) that raw readers expect."""

from __future__ import annotations

import hashlib
import json
import zlib
from array import array
from itertools import accumulate
from pathlib import Path

import pytest

import contexts
from tests.conftest import S3Env
from tests.reference import reference_lines

TEXT = "".join(f"{i}: é€中\U0001d11e\r\u2028\n" for i in range(25)) + "no newline at end"


def test_segments_on_s3_are_the_seed_format(s3: S3Env) -> None:
    url = s3.new_url()
    written = contexts.write_layout(TEXT, url, lines_per_segment=10, endpoint_url=s3.endpoint_url)
    assert written.layout == "segments" and written.line_count == 26
    assert written.byte_count == len(TEXT.encode())
    assert written.objects == (
        "segment_000001.log",
        "segment_000002.log",
        "segment_000003.log",
        "manifest.json",
    )
    manifest = json.loads(s3.get(url, "manifest.json"))
    assert [(e["segment"], e["start_line"], e["line_count"]) for e in manifest] == [
        ("segment_000001.log", 0, 10),
        ("segment_000002.log", 10, 10),
        ("segment_000003.log", 20, 6),
    ]
    bodies = [s3.get(url, e["segment"]) for e in manifest]
    assert b"".join(bodies) == TEXT.encode()
    for entry, body in zip(manifest, bodies, strict=True):
        assert entry["byte_count"] == len(body)
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        assert len(reference_lines(body.decode())) == entry["line_count"]


def test_single_object_on_s3_has_a_matching_index(s3: S3Env) -> None:
    url = s3.new_url()
    written = contexts.write_layout(
        TEXT, url, layout="single", index_stride=4, endpoint_url=s3.endpoint_url
    )
    assert written.objects == ("context.txt", "context.idx")
    assert s3.get(url, "context.txt") == TEXT.encode()
    header, _, payload = s3.get(url, "context.idx").partition(b"\n")
    meta = json.loads(header)
    assert meta["line_count"] == 26 and meta["stride"] == 4 and meta["object"] == "context.txt"
    assert meta["version"] == 2 and meta["char_count"] == len(TEXT)
    deltas = array("Q")
    deltas.frombytes(zlib.decompress(payload))
    byte_deltas, excess = deltas[: len(deltas) // 2], deltas[len(deltas) // 2 :]
    offsets = list(accumulate(len(line.encode()) for line in reference_lines(TEXT)))
    assert list(accumulate(byte_deltas)) == [0, *offsets[3:25:4], len(TEXT.encode())]
    # Then, per checkpoint, the bytes beyond one per character: character offsets.
    chars = list(accumulate(len(line) for line in reference_lines(TEXT)))
    char_deltas = [b - x for b, x in zip(byte_deltas, excess, strict=True)]
    assert list(accumulate(char_deltas)) == [0, *chars[3:25:4], len(TEXT)]


@pytest.mark.parametrize("layout", ["segments", "single"])
def test_round_trip_through_s3_sequential(s3: S3Env, layout: str) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, layout, lines_per_segment=7, endpoint_url=s3.endpoint_url)
    with contexts.open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.text() == TEXT
        assert ctx[5:17] == "".join(reference_lines(TEXT)[5:17])


@pytest.mark.parametrize("layout", ["segments", "single"])
def test_directory_layout_matches_s3_layout(s3: S3Env, tmp_path: Path, layout: str) -> None:
    url = s3.new_url()
    on_s3 = contexts.write_layout(
        TEXT, url, layout, lines_per_segment=7, endpoint_url=s3.endpoint_url
    )
    on_disk = contexts.write_layout(TEXT, str(tmp_path / "ctx"), layout, lines_per_segment=7)
    assert on_disk.objects == on_s3.objects
    for name in on_s3.objects:
        assert (tmp_path / "ctx" / name).read_bytes() == s3.get(url, name), name
    assert not list((tmp_path / "ctx").glob(".*.tmp")), "temporary files left behind"
    with contexts.open_context("s3-sequential", str(tmp_path / "ctx")) as ctx:
        assert ctx.text() == TEXT
        assert ctx[-3:] == "".join(reference_lines(TEXT)[-3:])


def test_empty_text(s3: S3Env) -> None:
    url = s3.new_url()
    written = contexts.write_layout("", url, endpoint_url=s3.endpoint_url)
    assert written.objects == ("manifest.json",) and written.line_count == 0
    assert json.loads(s3.get(url, "manifest.json")) == []
    with contexts.open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert len(ctx) == 0 and ctx[:] == ""


def test_memory_context_loads_a_stored_layout(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, endpoint_url=s3.endpoint_url)
    with contexts.open_context("memory", url, endpoint_url=s3.endpoint_url) as ctx:
        assert isinstance(ctx, contexts.InMemoryContext)
        assert ctx.text() == TEXT


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"layout": "columnar"}, ValueError, "layout must be"),
        ({"lines_per_segment": 0}, ValueError, "at least 1"),
        ({"layout": "single", "index_stride": 0}, ValueError, "at least 1"),
        ({"layout": "single", "object_name": "../x"}, contexts.UnsafePathError, "'..'"),
    ],
)
def test_bad_writer_arguments(
    tmp_path: Path, kwargs: dict[str, object], error: type, fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        contexts.write_layout("a\n", str(tmp_path), **kwargs)  # type: ignore[arg-type]


def test_text_that_cannot_be_utf8(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lone surrogates"):
        contexts.write_layout("ok\n\ud800\n", str(tmp_path))
    with pytest.raises(TypeError, match="decode"):
        contexts.write_layout(b"bytes", str(tmp_path))  # type: ignore[arg-type]


@pytest.mark.parametrize(("first", "second"), [("segments", "single"), ("single", "segments")])
def test_rewriting_in_another_layout_replaces_the_old_one(
    s3: S3Env, tmp_path: Path, first: str, second: str
) -> None:
    for url, options in ((s3.new_url(), {"endpoint_url": s3.endpoint_url}), (str(tmp_path), {})):
        contexts.write_layout("old\n", url, first, **options)  # type: ignore[arg-type]
        contexts.write_layout("new\n", url, second, **options)  # type: ignore[arg-type]
        with contexts.open_context("s3-sequential", url, **options) as ctx:  # type: ignore[arg-type]
            assert ctx.text() == "new\n"


@pytest.mark.parametrize("name", ["context.idx", "manifest.json"])
def test_object_name_cannot_overwrite_layout_metadata(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        contexts.write_layout("hello\n", str(tmp_path), "single", object_name=name)
