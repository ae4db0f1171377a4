"""``s3-large-chunk``: 50,000-line segments with per-segment line-index sidecars, so a peek moves a
few KB instead of a whole segment; whole segments stay one GET; manifests without sidecars still
read whole; a sidecar or segment that disagrees is an IntegrityError. Plus the shared suite.
"""

from __future__ import annotations

import itertools
import json
import zlib
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contexts
from contexts import IndexFormatError, IntegrityError, LargeChunkS3Context, ObjectNotFoundError
from contexts.layouts.line_index import build_index
from contexts.layouts.manifest import Manifest, SegmentEntry
from contexts.layouts.segments import SegmentsReader, build_segments
from contexts.lines import line_starts
from contexts.stored import StoredContext
from tests.conftest import S3Env
from tests.reference import reference_lines, seed_joined_text, seed_segments
from tests.servers import DictTransport
from tests.strategies import nasty_texts
from tests.threads import run_in_threads

# A 120,001-line text (no final newline): segments of 50,000, 50,000 and 20,001 lines.
TEXT = (
    "".join(f"{i:06d} é chat line {'x' * (i % 23)}\n" for i in range(120_000))
    + "the end, no newline"
)
LINES = reference_lines(TEXT)


@pytest.fixture
def large_url(s3: S3Env) -> str:
    """TEXT in the large-chunk layout (moto is reset before each test)."""
    url = s3.new_url()
    LargeChunkS3Context.write(TEXT, url, endpoint_url=s3.endpoint_url)
    return url


def segment_size(number: int) -> int:
    first = (number - 1) * 50_000
    return len("".join(LINES[first : first + 50_000]).encode())


def open_large(url: str, endpoint: str, **options: object) -> contexts.Context:
    return contexts.open_context("s3-large-chunk", url, endpoint_url=endpoint, **options)


def test_the_writer_adds_sidecars_seed_readers_can_ignore(large_url: str, s3: S3Env) -> None:
    def get(name: str) -> bytes:
        return s3.get(large_url, name)

    manifest = json.loads(get("manifest.json"))
    assert [(e["segment"], e["start_line"], e["line_count"]) for e in manifest] == [
        ("segment_000001.log", 0, 50_000),
        ("segment_000002.log", 50_000, 50_000),
        ("segment_000003.log", 100_000, 20_001),
    ]
    assert [e["line_index"] for e in manifest] == [f"segment_00000{n}.idx" for n in (1, 2, 3)]
    assert b"".join(get(e["segment"]) for e in manifest) == TEXT.encode()
    for entry in manifest:  # the sidecar, decoded independently: every 64th line's offset
        body = get(entry["segment"])
        header, _, payload = get(entry["line_index"]).partition(b"\n")
        meta = json.loads(header)
        assert meta["object"] == entry["segment"] and meta["stride"] == 64
        assert meta["line_count"] == entry["line_count"] and meta["byte_count"] == len(body)
        deltas = array("Q")
        deltas.frombytes(zlib.decompress(payload))
        offsets = list(
            itertools.accumulate(
                (len(line.encode()) for line in reference_lines(body.decode())), initial=0
            )
        )
        assert list(itertools.accumulate(deltas)) == [*offsets[:-1:64], len(body)]
        assert len(get(entry["line_index"])) < 4_000


def test_a_peek_reads_about_100_lines(large_url: str, s3: S3Env) -> None:
    with open_large(large_url, s3.endpoint_url) as ctx:
        opened = ctx.stats
        assert opened.requests == 1 and len(ctx) == 120_001
        assert ctx[:100] == "".join(LINES[:100])
        peek = ctx.stats
        assert peek.requests - opened.requests == 2  # the sidecar, then one range GET
        assert peek.bytes_fetched - opened.bytes_fetched < 10_000 < segment_size(1) // 100
        assert ctx[100:200] == "".join(LINES[100:200])  # the sidecar is cached
        assert ctx.stats.requests - peek.requests == 1
        before = ctx.stats
        assert ctx[-100:] == "".join(LINES[-100:])  # the context's unterminated last line
        assert ctx[-1] == "the end, no newline"
        assert ctx.stats.requests - before.requests == 3
        assert ctx.stats.bytes_fetched - before.bytes_fetched < 10_000
        before = ctx.stats
        assert ctx[49_950:50_050] == "".join(LINES[49_950:50_050])  # across two segments
        assert ctx.stats.requests - before.requests == 3  # sidecar 2, a range of each


def test_a_whole_segment_is_still_one_get(large_url: str, s3: S3Env) -> None:
    with open_large(large_url, s3.endpoint_url) as ctx:
        for number, (start, stop) in enumerate([(0, 50_000), (50_000, 100_000)], start=1):
            before = ctx.stats
            assert ctx[start:stop] == "".join(LINES[start:stop])
            assert ctx.stats.requests - before.requests == 1
            assert ctx.stats.bytes_fetched - before.bytes_fetched == segment_size(number)
        before = ctx.stats
        assert ctx[10:40_000] == "".join(LINES[10:40_000])  # most of a segment: read whole
        assert ctx.stats.requests - before.requests == 1
        assert ctx.text() == TEXT


def test_a_manifest_without_sidecars_reads_whole_segments(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=50_000, endpoint_url=s3.endpoint_url)
    assert "line_index" not in s3.get(url, "manifest.json").decode()
    with open_large(url, s3.endpoint_url) as ctx:
        opened = ctx.stats
        assert ctx[:100] == "".join(LINES[:100])
        assert ctx.stats.requests - opened.requests == 1
        assert ctx.stats.bytes_fetched - opened.bytes_fetched == segment_size(1)


def test_other_contexts_read_the_sidecars_too(large_url: str, s3: S3Env) -> None:
    with contexts.open_context("s3-sequential", large_url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx[70_000:70_100] == "".join(LINES[70_000:70_100])
        assert ctx.stats.bytes_fetched < 20_000


def test_partial_reads_can_be_switched_off(large_url: str, s3: S3Env) -> None:
    with open_large(large_url, s3.endpoint_url, partial_reads=False) as ctx:
        opened = ctx.stats
        assert ctx[:100] == "".join(LINES[:100])
        assert ctx.stats.bytes_fetched - opened.bytes_fetched == segment_size(1)


def test_only_the_segments_layout(s3: S3Env) -> None:
    with pytest.raises(ValueError, match="segments layout only"):
        LargeChunkS3Context(s3.new_url(), layout="single", endpoint_url=s3.endpoint_url)
    with pytest.raises(ValueError, match="partial_max_fraction"):
        LargeChunkS3Context(s3.new_url(), partial_max_fraction=2, endpoint_url=s3.endpoint_url)


# -- disagreements -------------------------------------------------------------------------------

SMALL = "".join(f"{i} é line\n" for i in range(1000))
SMALL_LINES = reference_lines(SMALL)


def small_layout(s3: S3Env) -> str:
    url = s3.new_url()
    contexts.write_layout(
        SMALL, url, lines_per_segment=500, segment_index_stride=8, endpoint_url=s3.endpoint_url
    )
    return url


def first_segment_with_a_moved_boundary() -> bytes:
    """Segment 1 with the same size and line count, but line 15 one byte longer and line 16
    one shorter: the index's checkpoint at line 16 (stride 8) is off by one byte."""
    lines = SMALL_LINES[:500]
    lines[15] = lines[15][:-1] + "x\n"
    lines[16] = lines[16][1:]
    return "".join(lines).encode()


def test_a_segment_that_disagrees_with_its_index(s3: S3Env) -> None:
    url = small_layout(s3)
    s3.put(url, "segment_000001.log", first_segment_with_a_moved_boundary())
    with open_large(url, s3.endpoint_url) as ctx:
        assert ctx[600:610] == "".join(SMALL_LINES[600:610])  # other segments still read
        with pytest.raises(IntegrityError, match="changed after indexing") as caught:
            ctx[16:20]
        assert f"{url}segment_000001.log" in str(caught.value)
        with pytest.raises(IntegrityError, match="changed after indexing"):
            ctx.read_many([(0, 2), (16, 20)])  # one GET; the boundary at line 16 is checked
        assert ctx[0:8] == "".join(SMALL_LINES[0:8])  # lines before the damage still match
        with pytest.raises(IntegrityError, match="sha256"):
            ctx[0:500]  # the whole object is checked against the manifest


def test_a_truncated_segment(s3: S3Env) -> None:
    url = small_layout(s3)
    s3.put(url, "segment_000001.log", "".join(SMALL_LINES[:100]).encode())
    with open_large(url, s3.endpoint_url) as ctx:
        assert ctx[10:20] == "".join(SMALL_LINES[10:20])
        with pytest.raises(IntegrityError, match=r"shorter than its index|InvalidRange"):
            ctx[200:210]


def test_an_index_of_other_bytes(s3: S3Env) -> None:
    url = small_layout(s3)
    moved = first_segment_with_a_moved_boundary()
    stale = build_index(line_starts(moved), object_name="segment_000001.log", stride=8)
    s3.put(url, "segment_000001.idx", stale.to_bytes())
    with open_large(url, s3.endpoint_url) as ctx, pytest.raises(IntegrityError, match="changed"):
        ctx[16:20]


@pytest.mark.parametrize(
    ("index_bytes", "error", "fragment"),
    [
        (  # another segment's index
            lambda: build_index(
                line_starts("".join(SMALL_LINES[:500]).encode()), object_name="other.log", stride=8
            ).to_bytes(),
            IntegrityError,
            "indexes 'other.log'",
        ),
        (  # fewer lines than the manifest says
            lambda: build_index(
                line_starts("".join(SMALL_LINES[:499]).encode()),
                object_name="segment_000001.log",
                stride=8,
            ).to_bytes(),
            IntegrityError,
            "counts 499 lines, the manifest 500",
        ),
        (lambda: b"garbage", IndexFormatError, "unreadable"),
    ],
)
def test_an_index_that_disagrees_with_the_manifest(
    s3: S3Env, index_bytes: object, error: type[Exception], fragment: str
) -> None:
    url = small_layout(s3)
    s3.put(url, "segment_000001.idx", index_bytes())  # type: ignore[operator]
    with open_large(url, s3.endpoint_url) as ctx:
        with pytest.raises(error, match=fragment) as caught:
            ctx[10:20]
        assert "segment_000001.idx" in str(caught.value)
        assert ctx[0:500] == "".join(SMALL_LINES[:500])  # whole reads need no index


def test_a_missing_index(s3: S3Env) -> None:
    url = small_layout(s3)
    s3.client.delete_object(Bucket=s3.bucket, Key=url.split("/", 3)[3] + "segment_000002.idx")
    with open_large(url, s3.endpoint_url) as ctx:
        assert ctx[10:20] == "".join(SMALL_LINES[10:20])
        with pytest.raises(ObjectNotFoundError, match=r"segment_000002\.idx"):
            ctx[510:520]


def test_bad_writer_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="segment_index_stride must be at least 1"):
        contexts.write_layout("a\n", str(tmp_path), segment_index_stride=0)
    with pytest.raises(ValueError, match="applies to the segments layout"):
        contexts.write_layout("a\n", str(tmp_path), "single", segment_index_stride=4)
    written = contexts.write_layout(
        "a\nb\nc\n", str(tmp_path), lines_per_segment=2, segment_index_stride=1
    )
    assert written.objects == (
        "segment_000001.log",
        "segment_000002.log",
        "segment_000001.idx",
        "segment_000002.idx",
        "manifest.json",
    )
    with contexts.open_context("volume", str(tmp_path)) as ctx:
        assert ctx[1] == "b\n" and ctx.text() == "a\nb\nc\n"


# -- the reader against an in-memory store ---------------------------------------------------------


def indexed_objects(
    text: str, lines_per_segment: int, stride: int, *, joined: bool = False
) -> dict[str, bytes]:
    """A segments layout with sidecars; ``joined`` stores seed-style ``"\\n".join`` segments."""
    objects: dict[str, bytes] = {}
    entries = []
    start = 0
    for number, (name, body, count) in enumerate(
        seed_segments(text, lines_per_segment, joined=joined), start=1
    ):
        objects[name] = body
        index = build_index(line_starts(body), object_name=name, stride=stride)
        index_name: str | None = None
        if index.line_count == count:  # a joined segment ending in a blank line cannot be indexed
            index_name = f"segment_{number:06d}.idx"
            objects[index_name] = index.to_bytes()
        entries.append(SegmentEntry(name, start, count, line_index=index_name))
        start += count
    objects["manifest.json"] = Manifest(tuple(entries)).to_bytes()
    return objects


def read(reader: SegmentsReader, ranges: list[tuple[int, int]]) -> list[str]:
    """What a stored context does: learn the plan's prerequisites, then fetch the plan."""
    if needs := reader.prerequisites(ranges):
        reader.learn(needs, reader.transport.get_many(needs))
    plan = reader.plan(ranges)
    return reader.assemble(plan, reader.transport.get_many(plan.requests))


@settings(max_examples=150, deadline=None)
@given(
    text=nasty_texts(),
    lines_per_segment=st.integers(1, 12),
    stride=st.integers(1, 4),
    joined=st.booleans(),
    coalesce=st.none() | st.integers(0, 30),
    part=st.none() | st.integers(1, 9),
    data=st.data(),
)
def test_partial_reads_match_the_reference(
    text: str,
    lines_per_segment: int,
    stride: int,
    joined: bool,
    coalesce: int | None,
    part: int | None,
    data: st.DataObject,
) -> None:
    expected = seed_joined_text(text) if joined else text
    lines = reference_lines(expected)
    if not lines:
        return
    transport = DictTransport(indexed_objects(text, lines_per_segment, stride, joined=joined))
    reader = SegmentsReader.load(
        transport, partial_max_fraction=1.0, coalesce_bytes=coalesce, part_bytes=part
    )
    bound = st.integers(0, len(lines))
    for _ in range(3):
        pairs = data.draw(st.lists(st.tuples(bound, bound), min_size=1, max_size=6))
        ranges = [(min(a, b), max(a, b)) for a, b in pairs if a != b]
        assert read(reader, ranges) == ["".join(lines[a:b]) for a, b in ranges]


def test_each_index_is_loaded_once_by_concurrent_readers() -> None:
    text = "".join(f"{i} ü\n" for i in range(3000))
    lines = reference_lines(text)
    transport = DictTransport(indexed_objects(text, 1000, 16), index_delay_s=0.05)
    ctx = StoredContext(
        "s3://bucket/ctx/", make_transport=lambda location, stats: transport, layout="segments"
    )
    failures: list[tuple[int, int]] = []

    def worker(seed: int) -> None:
        for step in range(20):
            start = (seed * 397 + step * 131) % 2990
            if ctx[start : start + 10] != "".join(lines[start : start + 10]):
                failures.append((start, start + 10))

    run_in_threads(worker, 8)
    assert failures == []
    assert {name: n for name, n in transport.gets.items() if name.endswith(".idx")} == {
        f"segment_00000{n}.idx": 1 for n in (1, 2, 3)
    }


def test_build_segments_names_its_sidecars() -> None:
    segments = build_segments("a\nb\nc", 2, index_stride=1)
    assert [s.entry.line_index for s in segments] == ["segment_000001.idx", "segment_000002.idx"]
    assert segments[1].index is not None and segments[1].index.byte_count == 1
    assert [s.entry.line_index for s in build_segments("a\n", 2)] == [None]


def test_planning_makes_no_request_and_uses_what_the_reader_learnt() -> None:
    text = "".join(f"{i} ü\n" for i in range(3000))
    transport = DictTransport(indexed_objects(text, 1000, 16))
    reader = SegmentsReader.load(transport)
    opened = dict(transport.gets)
    first = reader.manifest.segments[0]
    (needed,) = reader.prerequisites([(5, 10)])
    assert needed.name == first.line_index
    unlearnt = reader.plan([(5, 10)])
    assert [r.byte_range for r in unlearnt.requests] == [None]  # the whole segment, still right
    assert dict(transport.gets) == opened  # prerequisites and plan asked storage nothing
    reader.learn([needed], transport.get_many([needed]))
    assert reader.prerequisites([(5, 10)]) == ()
    learnt = reader.plan([(5, 10)])
    assert [r.name for r in learnt.requests] == [first.name]
    assert learnt.requests[0].byte_range is not None  # a few lines by byte range
    expected = "".join(reference_lines(text)[5:10])
    assert reader.assemble(learnt, transport.get_many(learnt.requests)) == [expected]
    assert reader.assemble(unlearnt, transport.get_many(unlearnt.requests)) == [expected]
