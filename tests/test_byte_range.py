"""``s3-byte-range`` and the single-object reader's planning: nearby byte spans coalesced into one
GET, long ones split into ``part_bytes`` parts, parts joined before decoding, every line boundary
checked; plus the shared conformance suite (also with tiny parts that cut every character).
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contexts
from contexts import ByteRangeS3Context, IntegrityError
from contexts.layouts.single import SingleObjectReader, build_single
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES
from tests.conformance import Builder, ContextTests
from tests.conftest import S3Env
from tests.reference import reference_lines, upload_single
from tests.servers import DictTransport
from tests.strategies import nasty_texts


class TestByteRangeTinyParts(ContextTests):
    """Parts of 11 bytes (a prime: their boundaries fall at every offset into 2-, 3- and 4-byte
    characters) and a 3-byte coalescing gap: part boundaries fall inside multibyte characters
    and lines everywhere, and most batches merge."""

    name = "s3-byte-range"
    open_options = {"part_bytes": 11, "coalesce_bytes": 3}  # noqa: RUF012 - read-only

    def test_iteration_fetches_in_chunks(self, build: Builder) -> None:
        pytest.skip("11-byte parts multiply the GETs per chunk by design")

    def test_megabyte_line(self, build: Builder) -> None:
        pytest.skip(
            "2.4 MB in 11-byte parts is ~220k GETs; TestByteRange (test_conformance.py) covers it"
        )

    def test_threads_share_one_context(self, build: Builder) -> None:
        pytest.skip(
            "~500 11-byte GETs per read; TestByteRange (test_conformance.py) covers threads"
        )


# -- the plan, against an in-memory object ---------------------------------------------------------


TEN = "".join(f"{i:09d}\n" for i in range(100))  # 100 lines of exactly 10 bytes


def reader_for(
    text: str,
    *,
    stride: int = 1,
    coalesce_bytes: int | None = None,
    part_bytes: int | None = None,
) -> SingleObjectReader:
    single = build_single(text, stride=stride)
    transport = DictTransport({"context.txt": single.data})
    return SingleObjectReader(
        single.index, transport, coalesce_bytes=coalesce_bytes, part_bytes=part_bytes
    )


def byte_ranges(reader: SingleObjectReader, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    for request in reader.plan(ranges).requests:
        assert request.byte_range is not None and request.name == "context.txt"
        out.append(request.byte_range)
    return out


def read(reader: SingleObjectReader, ranges: list[tuple[int, int]]) -> list[str]:
    plan = reader.plan(ranges)
    return reader.assemble(plan, reader.transport.get_many(plan.requests))


def test_near_ranges_share_a_get_far_ones_do_not() -> None:
    reader = reader_for(TEN, coalesce_bytes=10)
    assert byte_ranges(reader, [(0, 2), (3, 5)]) == [(0, 50)]  # a 10-byte gap: one GET
    # A 20-byte gap: two GETs; each starts one byte early, at the "\n" that ends the line before.
    assert byte_ranges(reader, [(0, 2), (4, 6)]) == [(0, 20), (39, 60)]
    assert byte_ranges(reader, [(50, 52), (0, 2)]) == [(0, 20), (499, 520)]  # sorted by offset
    assert byte_ranges(reader, [(0, 5), (2, 3), (0, 5)]) == [(0, 50)]  # overlaps merge
    lines = reference_lines(TEN)
    want = ["".join(lines[a:b]) for a, b in [(0, 2), (3, 5), (50, 52), (2, 3)]]
    assert read(reader, [(0, 2), (3, 5), (50, 52), (2, 3)]) == want


def test_a_long_range_is_split_into_parts_of_exactly_part_bytes() -> None:
    reader = reader_for(TEN, part_bytes=300)
    assert byte_ranges(reader, [(0, 100)]) == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    assert byte_ranges(reader, [(10, 39)]) == [(99, 390)]
    assert byte_ranges(reader, [(10, 40)]) == [(99, 399), (399, 400)]  # 301 bytes with the lead
    assert read(reader, [(0, 100), (17, 83)]) == [TEN, "".join(reference_lines(TEN)[17:83])]


def test_coalesced_groups_are_split_too() -> None:
    reader = reader_for(TEN, coalesce_bytes=100, part_bytes=256)
    # Spans 0-200 and 300-700 (gap 100) merge into 0-700, then split at 256.
    assert byte_ranges(reader, [(0, 20), (30, 70)]) == [(0, 256), (256, 512), (512, 700)]


def test_without_coalescing_or_parts_the_plan_is_one_get_per_distinct_span() -> None:
    reader = reader_for(TEN, stride=4)
    # Stride 4 widens each range to checkpoints; equal spans share a GET, overlapping ones do not.
    assert byte_ranges(reader, [(5, 6), (1, 3), (4, 8), (0, 1), (6, 9)]) == [
        (39, 80),
        (0, 40),
        (39, 120),
    ]


def test_defaults() -> None:
    assert DEFAULT_COALESCE_BYTES == 1024 * 1024 and DEFAULT_PART_BYTES == 8 * 1024 * 1024
    reader = reader_for(TEN)
    assert reader.coalesce_bytes is None and reader.part_bytes is None  # other contexts
    with pytest.raises(ValueError, match="part_bytes"):
        reader_for(TEN, part_bytes=0)
    with pytest.raises(ValueError, match="coalesce_bytes"):
        reader_for(TEN, coalesce_bytes=-1)


def test_an_emoji_cut_by_a_part_boundary_decodes() -> None:
    text = "ab\U0001f600cd\n" + "\U0001f600" * 3 + "\n€\n"
    data = text.encode()
    assert data[2:6] == "\U0001f600".encode()
    for part_bytes in range(1, 8):  # 3 cuts the emoji after its first byte, 4 after the second
        reader = reader_for(text, part_bytes=part_bytes, coalesce_bytes=0)
        assert read(reader, [(0, 1), (1, 3), (0, 3)]) == [
            "ab\U0001f600cd\n",
            "\U0001f600" * 3 + "\n€\n",
            text,
        ]
        sizes = [b - a for a, b in byte_ranges(reader, [(0, 3)])]
        assert sizes[:-1] == [part_bytes] * (len(sizes) - 1) and sum(sizes) == len(data)


@settings(max_examples=150, deadline=None)
@given(
    text=nasty_texts(),
    stride=st.integers(1, 4),
    coalesce=st.none() | st.integers(0, 30),
    part=st.none() | st.integers(1, 9),
    data=st.data(),
)
def test_any_plan_reads_the_reference(
    text: str, stride: int, coalesce: int | None, part: int | None, data: st.DataObject
) -> None:
    lines = reference_lines(text)
    if not lines:
        return
    bound = st.integers(0, len(lines))
    pairs = data.draw(st.lists(st.tuples(bound, bound), min_size=1, max_size=6))
    ranges = [(min(a, b), max(a, b)) for a, b in pairs if a != b]
    reader = reader_for(text, stride=stride, coalesce_bytes=coalesce, part_bytes=part)
    assert read(reader, ranges) == ["".join(lines[a:b]) for a, b in ranges]


def test_a_body_that_disagrees_with_the_index_is_an_integrity_error() -> None:
    text = "alpha\nbeta\ngamma\n"
    single = build_single(text, stride=1)
    transport = DictTransport({"context.txt": b"alpha\nbeta\n"})  # truncated after indexing
    reader = SingleObjectReader(single.index, transport, coalesce_bytes=0, part_bytes=4)
    assert read(reader, [(0, 1)]) == ["alpha\n"]
    with pytest.raises(
        IntegrityError, match=r"returned 1 bytes for bytes 10-13|shorter than its index"
    ):
        read(reader, [(2, 3)])
    transport.objects["context.txt"] = b"alpha\nbe\nta\ngamma"  # same size, a boundary moved
    merged = SingleObjectReader(single.index, transport, coalesce_bytes=10)
    assert byte_ranges(merged, [(0, 1), (2, 3)]) == [(0, 17)]  # one group, skipping line 1
    with pytest.raises(IntegrityError, match="puts line 2 at byte 11, but no line ends there"):
        read(merged, [(0, 1), (2, 3)])  # the boundary at line 2 is checked
    transport.objects["context.txt"] = b"alpha\nbet\n\ngamma!"  # one line more before line 2
    with pytest.raises(IntegrityError, match="bytes 0-10 hold 3 lines where the index says 2"):
        read(merged, [(0, 1), (2, 3)])
    transport.objects["context.txt"] = b"alpha\nbe\xffa\ngamma\n"
    with pytest.raises(IntegrityError, match="not valid UTF-8 at byte 8"):
        read(reader, [(0, 3)])
    with pytest.raises(IntegrityError, match="not valid UTF-8 at byte 8"):
        read(reader, [(1, 3)])  # offsets stay absolute when the GET starts one byte early


def test_a_stale_checkpoint_is_caught_from_the_byte_before_it() -> None:
    """The index says line 2 starts one byte later than it does: without the byte before the
    span, the read would silently drop the line's first character."""
    text = "alpha\nbeta\ngamma\ndelta\n"
    stale = build_single("alpha\nbeta!\namma\ndelta\n", stride=1).index
    transport = DictTransport({"context.txt": text.encode()})
    reader = SingleObjectReader(stale, transport)
    assert read(reader, [(0, 1)]) == ["alpha\n"]
    with pytest.raises(IntegrityError, match="puts line 2 at byte 12, but no line ends there"):
        read(reader, [(2, 3)])


# -- over S3 (moto) ------------------------------------------------------------------------------


def open_byte_range(url: str, s3: S3Env, **options: object) -> contexts.Context:
    return contexts.open_context("s3-byte-range", url, endpoint_url=s3.endpoint_url, **options)


LINES_60K = "".join(f"{i:05d} é\n" for i in range(60_000))  # 9 bytes a line


def test_cold_head_50k_is_one_index_get_plus_its_parts(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), LINES_60K, 16)
    part_bytes = 64 * 1024
    span = 50_000 * 9  # 50,000 is a multiple of the stride: no over-read
    with open_byte_range(url, s3, part_bytes=part_bytes) as ctx:
        opened = ctx.stats
        assert opened.requests == 1  # the index
        assert ctx[0:50000] == "".join(reference_lines(LINES_60K)[0:50000])
        read_stats = ctx.stats
    assert read_stats.requests == 1 + math.ceil(span / part_bytes) == 8
    assert read_stats.bytes_fetched - opened.bytes_fetched == span


def test_nearby_ranges_are_one_get_on_s3(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), LINES_60K, 16)
    lines = reference_lines(LINES_60K)
    ranges = [(i, i + 3) for i in range(0, 60_000, 600)]  # 100 ranges ~5 KB apart
    # GETs sent, not HTTP attempts: botocore's retry of a GET that a busy machine let time out
    # (stats.retries) is the same GET (a make test run once saw 19 of them here)
    with open_byte_range(url, s3) as ctx:
        before = ctx.stats
        assert ctx.read_many(ranges) == ["".join(lines[a:b]) for a, b in ranges]
        after = ctx.stats
        assert (after.requests - after.retries) - (before.requests - before.retries) == 1
    with open_byte_range(url, s3, coalesce_bytes=None) as ctx:
        before = ctx.stats
        assert ctx.read_many(ranges) == ["".join(lines[a:b]) for a, b in ranges]
        after = ctx.stats
        assert (after.requests - after.retries) - (before.requests - before.retries) == 100


def test_truncated_object_is_an_integrity_error(s3: S3Env) -> None:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), LINES_60K, 16)
    s3.put(url, "context.txt", LINES_60K.encode()[:300_000])  # cut after indexing
    with open_byte_range(url, s3, part_bytes=100_000) as ctx:
        assert ctx[0:10] == "".join(reference_lines(LINES_60K)[0:10])
        with pytest.raises(IntegrityError, match=r"shorter than its index|InvalidRange"):
            ctx[0:40_000]  # the fourth part comes back short
        with pytest.raises(IntegrityError, match=r"shorter than its index|InvalidRange"):
            ctx[-1]  # entirely past the end


def test_only_the_single_layout(s3: S3Env) -> None:
    with pytest.raises(ValueError, match="single-object layout only"):
        ByteRangeS3Context(s3.new_url(), layout="segments", endpoint_url=s3.endpoint_url)
    with pytest.raises(ValueError, match="part_bytes"):
        ByteRangeS3Context(s3.new_url(), part_bytes=0, endpoint_url=s3.endpoint_url)
    url = s3.new_url()
    contexts.write_layout("a\n", url, endpoint_url=s3.endpoint_url)  # segments only
    with pytest.raises(contexts.LayoutNotFoundError, match=r"context\.idx"):
        open_byte_range(url, s3)
