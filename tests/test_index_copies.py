"""The single layout's index carries copies of the text's first and last bytes: one GET of it
opens ``auto`` and answers a peek at either end. The format, its checks, what
``write_layout`` writes, and what ``auto`` reads from the copies alone."""

from __future__ import annotations

import json
import zlib
from array import array
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contexts
from contexts.auto import AutoContext
from contexts.errors import ContextError, IndexFormatError
from contexts.layouts.line_index import parse_index
from contexts.layouts.single import INLINE_BYTES, build_single
from tests.conftest import S3Env
from tests.reference import reference_lines, upload_segments, upload_single
from tests.strategies import nasty_texts

TEXT = "".join(f"{i:05d} naïve ✓ \u2028 copy line {'y' * (i % 53)}\r\n" for i in range(6000))
LINES = reference_lines(TEXT)


def stored(text: str, stride: int, copies: tuple[int, int]) -> dict[str, bytes]:
    """The objects the reference writer (not the code under test) stores."""
    objects: dict[str, bytes] = {}
    upload_single(objects.__setitem__, text, stride, char_offsets=True, copies=copies)
    return objects


@settings(max_examples=60, deadline=None)
@given(text=nasty_texts(max_lines=60), stride=st.integers(1, 9), data=st.data())
def test_copies_written_by_reference_parse_to_the_texts_ends(
    text: str, stride: int, data: st.DataObject
) -> None:
    size = len(text.encode("utf-8"))
    head = data.draw(st.integers(0, size))
    tail = data.draw(st.integers(0, size - head))
    objects = stored(text, stride, (head, tail))
    index = parse_index(objects["context.idx"], url="s3://b/p/context.idx")
    encoded = objects["context.txt"]
    assert index.head == encoded[:head]
    assert index.tail == (encoded[size - tail :] if tail else b"")
    assert index.byte_count == size


@settings(max_examples=60, deadline=None)
@given(text=nasty_texts(max_lines=60), inline=st.integers(0, 300))
def test_build_single_copies_the_ends_without_overlap_and_round_trips(
    text: str, inline: int
) -> None:
    single = build_single(text, stride=3, inline_bytes=inline)
    data = text.encode("utf-8")
    head, tail = single.index.head, single.index.tail
    assert head == data[:inline]
    assert len(head) + len(tail) <= len(data)
    assert tail == data[len(data) - len(tail) :] if tail else tail == b""
    assert len(tail) == min(inline, len(data) - len(head))
    assert parse_index(single.index.to_bytes(), url="idx") == single.index


def test_write_layout_carries_copies_by_default_and_not_when_told(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    index = parse_index(s3.get(url, "context.idx"), url=url)
    data = TEXT.encode("utf-8")
    assert index.head == data[:INLINE_BYTES] and index.tail == data[-INLINE_BYTES:]
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url, inline_bytes=0)
    bare = parse_index(s3.get(url, "context.idx"), url=url)
    assert (bare.head, bare.tail) == (b"", b"")
    assert bare.checkpoints == index.checkpoints
    with pytest.raises(ValueError, match="inline_bytes"):
        build_single(TEXT, inline_bytes=-1)


def _index_with(header_changes: dict[str, object], after: bytes) -> bytes:
    objects = stored("one\ntwo\nthree\n", 1, (0, 0))
    header_line, _, stream = objects["context.idx"].partition(b"\n")
    header = {**json.loads(header_line), **header_changes}
    return json.dumps(header).encode() + b"\n" + stream + after


@pytest.mark.parametrize(
    ("changes", "after", "says"),
    [
        ({"head": 4, "tail": 0}, b"one", "1 bytes follow|3 bytes follow"),
        ({}, b"junk", "4 bytes follow"),
        ({"head": 8, "tail": 8}, b"one\ntwo\nwo\nthree", "inline copies of 16 bytes"),
        ({"head": -1, "tail": 1}, b"", "non-negative"),
        ({"head": True, "tail": 0}, b"", "non-negative"),
    ],
)
def test_copies_that_disagree_with_their_header_are_a_named_error(
    changes: dict[str, object], after: bytes, says: str
) -> None:
    with pytest.raises(IndexFormatError, match=says):
        parse_index(_index_with(changes, after), url="s3://b/p/context.idx")


def test_a_cut_offset_table_is_a_named_error() -> None:
    data = stored(TEXT, 4, (100, 100))["context.idx"]
    header_line, _, rest = data.partition(b"\n")
    with pytest.raises(IndexFormatError, match=r"cut short|follow"):
        parse_index(header_line + b"\n" + rest[: len(rest) // 3], url="idx")


def test_auto_reads_the_ends_from_the_index_alone(s3: S3Env) -> None:
    """With the text object gone, the first and last lines still come from the index's copies
    (no request for them answers); a line between them is a named error."""
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    bucket, _, prefix = url[len("s3://") :].partition("/")
    s3.client.delete_object(Bucket=bucket, Key=prefix + "context.txt")
    with contexts.open(url, endpoint_url=s3.endpoint_url, metadata_cache=False) as ctx:
        assert isinstance(ctx, AutoContext)
        assert len(ctx) == len(LINES)
        assert ctx[:100] == "".join(LINES[:100])
        assert ctx[-100:] == "".join(LINES[-100:])
        assert not ctx.wait_loaded(60) and ctx.load_error is not None
        with pytest.raises(ContextError):
            ctx[3000:3010]


def test_auto_takes_the_index_where_a_manifest_is_found_too(s3: S3Env) -> None:
    """Where a URL holds both layouts' metadata (another writer switching layouts; the lab's
    writer removes the other first), ``auto`` reads the index's text; contexts that open by
    ``open_layout`` read the manifest's."""
    url = s3.new_url()
    indexed = TEXT.replace("copy line", "index line")
    upload_single(lambda name, body: s3.put(url, name, body), indexed, 16, char_offsets=True)
    upload_segments(lambda name, body: s3.put(url, name, body), TEXT, 1000)
    with contexts.open(url, endpoint_url=s3.endpoint_url, metadata_cache=False) as ctx:
        assert ctx[:] == indexed
    threaded = contexts.open_context("s3-threaded", url, endpoint_url=s3.endpoint_url)
    with threaded:
        assert threaded[:] == TEXT


def test_an_index_with_copies_still_reads_where_copies_are_ignored() -> None:
    """A reader of the format before the copies decompresses the offset table with
    ``zlib.decompress``, which stops at the end of its stream: the copies change nothing."""
    data = stored(TEXT, 16, (INLINE_BYTES, INLINE_BYTES))["context.idx"]
    bare = stored(TEXT, 16, (0, 0))["context.idx"]
    payload = data.partition(b"\n")[2]
    assert zlib.decompress(payload) == zlib.decompress(bare.partition(b"\n")[2])


def test_an_object_that_differs_from_its_index_copies_fails_the_load_by_name(s3: S3Env) -> None:
    """A same-size edit in the text's last bytes moves no line boundary, so only the copy shows
    it: the load fails with a named error and no read is answered from the copies any more."""
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)
    edited = TEXT[:-10] + TEXT[-10:].replace("y", "z")
    assert len(edited.encode()) == len(TEXT.encode()) and edited != TEXT
    s3.put(url, "context.txt", edited)
    with contexts.open(url, endpoint_url=s3.endpoint_url, metadata_cache=False) as ctx:
        assert isinstance(ctx, AutoContext)
        assert not ctx.wait_loaded(60)
        assert isinstance(ctx.load_error, contexts.IntegrityError)
        assert "differ from the copy" in str(ctx.load_error)
        assert ctx[-1] == reference_lines(edited)[-1]  # from storage now, as its checks allow


# -- the offset table decoded on first use (``defer_table``) ------------------------------------


def _ends(text: str, data: st.DataObject) -> tuple[int, int]:
    size = len(text.encode("utf-8"))
    head = data.draw(st.integers(0, size), label="head")
    return head, data.draw(st.integers(0, size - head), label="tail")


@settings(max_examples=80, deadline=None)
@given(text=nasty_texts(max_lines=60), stride=st.integers(1, 9), data=st.data())
def test_spans_from_the_copies_are_the_tables_spans(
    text: str, stride: int, data: st.DataObject
) -> None:
    """Every checkpoint the copies give is the table's, and a span that needs only those is
    answered without decoding the table; any other span decodes it and is the table's."""
    objects = stored(text, stride, _ends(text, data))
    eager = parse_index(objects["context.idx"], url="idx")
    deferred = parse_index(objects["context.idx"], url="idx", defer_table=True)
    assert deferred.table_decoded == (not eager.head and not eager.tail)  # no copies, no checksum
    known = deferred.copy_checkpoints
    assert {k: eager.checkpoints[k] for k in known} == known
    lines = eager.line_count
    start = data.draw(st.integers(0, lines), label="start")
    stop = data.draw(st.integers(start, lines), label="stop")
    needs = {start // stride, -(-stop // stride)}
    fresh = parse_index(objects["context.idx"], url="idx", defer_table=True)
    copies = bool(eager.head or eager.tail)
    assert fresh.span_known(start, stop) == (not copies or needs <= known.keys())
    assert fresh.span(start, stop) == eager.span(start, stop)
    assert fresh.table_decoded == (not copies or not needs <= known.keys())
    assert fresh == eager  # the whole index, once decoded


def test_a_peek_at_either_end_decodes_no_table() -> None:
    objects = stored(TEXT, 16, (INLINE_BYTES, INLINE_BYTES))
    index = parse_index(objects["context.idx"], url="idx", defer_table=True)
    lines = index.line_count
    assert index.span(0, 100)[2:] == (0, sum(len(line.encode()) for line in LINES[:112]))
    assert index.span(lines - 100, lines)[3] == index.byte_count
    assert not index.table_decoded
    index.span(3000, 3010)
    assert index.table_decoded


def test_an_index_without_the_checksum_is_decoded_at_once() -> None:
    """Copies written before ``copies_crc32`` existed are trusted only with the table."""
    objects: dict[str, bytes] = {}
    upload_single(objects.__setitem__, TEXT, 16, copies=(4096, 4096), copies_checksum=False)
    index = parse_index(objects["context.idx"], url="idx", defer_table=True)
    assert index.table_decoded and len(index.head) == 4096


def _parts(data: bytes, inline: int) -> tuple[dict[str, object], bytes, bytes]:
    header_line, _, payload = data.partition(b"\n")
    return (
        json.loads(header_line),
        payload[: len(payload) - inline],
        payload[len(payload) - inline :],
    )


def test_a_bad_table_behind_good_copies_is_a_named_error_when_used() -> None:
    """Cut short, or with offsets that disagree with the copies' line starts: the copies are
    read, the first use of the table raises ``IndexFormatError`` (each time), and an eager
    parse raises at once."""
    inline = 2048
    data = stored(TEXT, 16, (inline, inline))["context.idx"]
    header, stream, copies = _parts(data, inline * 2)
    deltas = array("Q", zlib.decompress(stream))
    deltas[1], deltas[2] = deltas[2], deltas[1]  # same sum and count: checkpoint 1 moves
    assert deltas[1] != deltas[2]
    swapped = zlib.compress(deltas.tobytes())
    for table, says in ((stream[: len(stream) // 2], r"cut short|follow"), (swapped, "disagree")):
        corrupt = json.dumps(header).encode() + b"\n" + table + copies
        index = parse_index(corrupt, url="s3://b/p/context.idx", defer_table=True)
        assert index.head == copies[:inline] and index.span(0, 10)[3] > 0
        for _ in range(2):
            with pytest.raises(IndexFormatError, match=says):
                index.span(3000, 3010)
        with pytest.raises(IndexFormatError, match=says):
            parse_index(corrupt, url="s3://b/p/context.idx")


@pytest.mark.parametrize(
    "change",
    [
        lambda h, c: ({**h, "line_count": h["line_count"] + 1}, c),  # the tail's numbering moves
        lambda h, c: (h, c[:-1] + bytes([c[-1] ^ 1])),
        lambda h, c: ({**h, "head": h["head"] + 1, "tail": h["tail"] - 1}, c),
    ],
)
@pytest.mark.parametrize("defer_table", [False, True])
def test_copies_that_fail_their_checksum_are_a_named_error(change: Any, defer_table: bool) -> None:
    inline = 2048
    data = stored(TEXT, 16, (inline, inline))["context.idx"]
    header, stream, copies = _parts(data, inline * 2)
    header, copies = change(header, copies)
    corrupt = json.dumps(header).encode() + b"\n" + stream + copies
    with pytest.raises(IndexFormatError, match=r"checksum|need"):
        parse_index(corrupt, url="s3://b/p/context.idx", defer_table=defer_table)


def test_auto_reads_the_ends_behind_a_bad_table_and_names_it_elsewhere(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, body: s3.put(url, name, body), TEXT, 16, copies=(8192, 8192))
    header, stream, copies = _parts(s3.get(url, "context.idx"), 2 * 8192)
    s3.put(url, "context.idx", json.dumps(header).encode() + b"\n" + stream[:-40] + copies)
    with contexts.open(url, endpoint_url=s3.endpoint_url, metadata_cache=False) as ctx:
        assert ctx[:20] == "".join(LINES[:20])
        assert ctx[-20:] == "".join(LINES[-20:])
        assert not ctx.wait_loaded(60)
        assert isinstance(ctx.load_error, IndexFormatError)
        with pytest.raises(IndexFormatError, match=r"cut short|follow"):
            ctx[3000:3010]
