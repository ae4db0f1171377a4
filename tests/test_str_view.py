"""The str view: a context addressed by character, answering exactly like the text as a ``str``.

Every registered context is checked through the view in the conformance suite
(``test_str_view_matches_the_string``); here: streaming with one-character pieces, the character
offsets the layouts record (and what a view costs with them), old layouts, appends, corrupt
offsets and bad arguments.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import contexts
from contexts import (
    IndexFormatError,
    InMemoryContext,
    IntegrityError,
    ManifestError,
    StrView,
    append_text,
    write_layout,
)
from contexts.layouts.line_index import build_index, parse_index
from contexts.lines import line_starts
from tests.reference import upload_segments, upload_single
from tests.strategies import nasty_texts, slice_keys

TEXT = "héllo wörld\n\r\nsecond 中文 line\u2028still second\n\n" + "x" * 50 + "\nno newline €"


def bounds(size: int) -> st.SearchStrategy[int | None]:
    return st.none() | st.integers(min_value=-size - 2, max_value=size + 2)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_streamed_methods_match_str_with_one_character_pieces(data: st.DataObject) -> None:
    text = data.draw(nasty_texts(max_lines=12), "text")
    view = StrView(
        InMemoryContext(text),
        piece_chars=data.draw(st.integers(1, 4), "piece_chars"),
        pipeline_pieces=data.draw(st.integers(1, 3), "pipeline_pieces"),
    )
    assert len(view) == len(text)
    key = data.draw(slice_keys(len(text)), "slice")
    assert view[key] == text[key]
    start, end = data.draw(bounds(len(text)), "start"), data.draw(bounds(len(text)), "end")
    at = data.draw(st.integers(0, len(text)), "at")
    sub = data.draw(
        st.sampled_from(["", "\n", "\r\n", "a", "qz"])
        | st.just(text[at : at + data.draw(st.integers(0, 6), "width")]),
        "sub",
    )
    for method in ("find", "rfind", "count", "startswith", "endswith"):
        assert getattr(view, method)(sub, start, end) == getattr(text, method)(sub, start, end), (
            method,
            sub,
            start,
            end,
        )
    for method in ("index", "rindex"):
        try:
            expected = getattr(text, method)(sub, start, end)
        except ValueError:
            with pytest.raises(ValueError, match="substring not found"):
                getattr(view, method)(sub, start, end)
        else:
            assert getattr(view, method)(sub, start, end) == expected
    assert view.startswith((sub, "zz"), start) == text.startswith((sub, "zz"), start)
    assert (sub in view) == (sub in text)
    assert list(view) == list(text)


def test_whole_text_methods_regex_and_operators() -> None:
    view = InMemoryContext(TEXT).as_str()
    assert str(view) == TEXT and f"{view}" == TEXT and view == TEXT and view != TEXT + "!"
    assert view.split() == TEXT.split() and view.split("\n", 2) == TEXT.split("\n", 2)
    assert view.splitlines() == TEXT.splitlines()  # str semantics: \r and \u2028 split too
    assert view.lower() == TEXT.lower() and view[0:5].upper() == "HÉLLO"
    assert view.replace("l", "L") == TEXT.replace("l", "L")  # any other str method
    assert view.strip("h€ ") == TEXT.strip("h€ ")
    assert view + "!" == TEXT + "!" and "!" + view == "!" + TEXT
    assert view.re.findall(r"\w+ line") == ["中文 line"]
    match = view.re.search(r"second")
    assert match is not None and view[match.start() : match.end()] == "second"
    assert [m.start() for m in view.re.finditer("x{50}")] == [TEXT.index("x" * 50)]
    assert view.re.sub("[lx]+", "#", count=2) == re.sub("[lx]+", "#", TEXT, count=2)
    assert view.re.split(r"\s+", maxsplit=3) == re.split(r"\s+", TEXT, maxsplit=3)
    with pytest.raises(AttributeError, match="no attribute 'grep'"):
        view.grep  # noqa: B018 - the line view has grep; the str view does not pretend to
    assert view.lines.grep("wörld")[0].line_number == 0


def test_bad_arguments_raise_what_str_raises() -> None:
    view = InMemoryContext(TEXT).as_str()
    with pytest.raises(TypeError, match="string indices must be integers or slices"):
        view[1.5]  # type: ignore[index]
    with pytest.raises(IndexError, match="string index out of range"):
        view[len(TEXT)]
    assert view[-1] == TEXT[-1]
    with pytest.raises(TypeError, match="must be str"):
        view.find(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="requires string as left operand"):
        3 in view  # type: ignore[operator]  # noqa: B015
    with pytest.raises(TypeError, match="startswith first arg must be str or a tuple of str"):
        view.startswith(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a lab Context"):
        StrView(TEXT)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="piece_chars"):
        StrView(InMemoryContext(TEXT), piece_chars=0)
    with pytest.raises(TypeError, match="unhashable"):
        hash(view)


def test_repr_is_short() -> None:
    view = InMemoryContext("y" * 10_000).as_str()
    assert "yyy" not in repr(view)
    len(view)
    assert "10,000 characters" in repr(view)


@pytest.mark.parametrize("layout", ["segments", "single"])
def test_written_layouts_record_character_offsets(tmp_path: Path, layout: str) -> None:
    write_layout(TEXT, str(tmp_path), layout, lines_per_segment=2, index_stride=2)
    with contexts.open_context("volume", str(tmp_path)) as ctx:
        opened = ctx.stats.requests
        view = ctx.as_str()
        assert len(view) == len(TEXT)
        assert ctx.stats.requests == opened  # the offsets came with the layout's metadata
        assert view.char_offsets == "layout"
        at = TEXT.index("中文")
        assert view[at : at + 30] == TEXT[at : at + 30]
        assert ctx.stats.requests == opened + (1 if layout == "single" else 2)
        assert view.count("l") == TEXT.count("l") and view.rfind("x") == TEXT.rfind("x")
        assert view == TEXT


def test_a_character_slice_of_a_large_single_object_is_one_small_range_get(
    tmp_path: Path,
) -> None:
    lines = [f"{n:06d} {'ü' * (n % 7)} {'word ' * (n % 13)}\n" for n in range(20_000)]
    text = "".join(lines)
    write_layout(text, str(tmp_path), "single")
    with contexts.open_context("volume", str(tmp_path)) as ctx:
        before = ctx.stats
        view = ctx.as_str()
        at = len(text) // 2
        assert view[at : at + 2000] == text[at : at + 2000]
        after = ctx.stats
        assert after.requests - before.requests == 1
        assert after.bytes_fetched - before.bytes_fetched < 4 * 2000 + 16 * 300


@pytest.mark.parametrize("layout", ["seed-segments", "single-v1"])
def test_layouts_without_character_offsets_are_scanned_once(tmp_path: Path, layout: str) -> None:
    def put(name: str, data: bytes) -> None:
        (tmp_path / name).write_bytes(data)

    if layout == "single-v1":
        upload_single(put, TEXT, 2)
    else:
        upload_segments(put, TEXT, 2)
    with contexts.open_context("volume", str(tmp_path)) as ctx:
        view = ctx.as_str()
        assert view.char_offsets == ""
        assert len(view) == len(TEXT)
        assert view.char_offsets == "scan"
        scanned = ctx.stats.requests
        assert view[5:40] == TEXT[5:40] and view.find("€") == TEXT.find("€")
        assert ctx.stats.requests > scanned  # reads after the scan go by its offsets
        assert view == TEXT


def test_appending_after_a_line_without_newline_keeps_offsets_exact(tmp_path: Path) -> None:
    write_layout("first\nno end", str(tmp_path), "segments")
    append_text("appended ü\nlast", str(tmp_path))
    expected = "first\nno end\nappended ü\nlast"
    with contexts.open_context("volume", str(tmp_path)) as ctx:
        assert ctx.text() == expected
        view = ctx.as_str()
        assert len(view) == len(expected)
        assert view.char_offsets == "layout"
        assert [view[a:b] for a in range(len(expected)) for b in (a + 1, a + 9)] == [
            expected[a:b] for a in range(len(expected)) for b in (a + 1, a + 9)
        ]


def test_a_wrong_char_count_is_caught_on_read(tmp_path: Path) -> None:
    write_layout(TEXT, str(tmp_path), "segments", lines_per_segment=2)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest[0]["char_count"] += 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with (
        contexts.open_context("volume", str(tmp_path)) as ctx,
        pytest.raises(IntegrityError, match="character offsets say"),
    ):
        ctx.as_str()[0:3]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("char_count", "12", "must be an integer"),
        ("char_count", 0, "must be at least"),
        ("char_count", 10_000, "cannot encode as"),
        ("ends_with_newline", "no", "must be true or false"),
    ],
)
def test_bad_char_fields_in_a_manifest_are_named(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    write_layout(TEXT, str(tmp_path), "segments", lines_per_segment=2)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest[0][field] = value
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=message):
        contexts.open_context("volume", str(tmp_path))


def test_line_index_version_2_round_trips_and_refuses_impossible_offsets() -> None:
    text = "a\né\n中文\n\U0001f600\nlast"
    data = text.encode()
    index = build_index(
        line_starts(data), object_name="t.txt", stride=2, line_char_starts=line_starts(text)
    )
    parsed = parse_index(index.to_bytes(), url="mem://t.idx")
    assert parsed == index and parsed.char_count == len(text)
    char_map = parsed.char_map()
    assert char_map is not None
    assert [list(char_map[0]), list(char_map[1])] == [[0, 2, 4, 5], [0, 4, 9, len(text)]]
    plain = build_index(line_starts(data), object_name="t.txt", stride=2)
    assert (
        b'"version": 1' in plain.to_bytes()
        and parse_index(plain.to_bytes(), url="x").char_map() is None
    )
    header, payload = index.to_bytes().split(b"\n", 1)
    forged = json.loads(header)
    forged["char_count"] = len(text) + 1
    lazy = parse_index(json.dumps(forged).encode() + b"\n" + payload, url="mem://t.idx")
    with pytest.raises(IndexFormatError, match="character offsets do not run"):
        lazy.char_map()  # character offsets are checked on first use
    forged["version"] = 3
    with pytest.raises(IndexFormatError, match="knows versions 1 and 2"):
        parse_index(json.dumps(forged).encode() + b"\n" + payload, url="mem://t.idx")


@pytest.mark.parametrize(
    ("extra", "valid"), [(3, True), (4, True), (5, False), (6, False), (9, False)]
)
def test_line_index_refuses_a_block_with_more_bytes_than_utf8_needs(
    extra: int, valid: bool
) -> None:
    """A block whose bytes beyond one per character leave fewer characters than a quarter of
    its bytes (or none) is named; 4-byte characters exactly at the bound are fine."""
    text = "ab\ncd\nef\n\U0001f600\n"  # blocks of stride 2: 6 bytes, 3 bytes, 5 bytes
    data = text.encode()
    index = build_index(
        line_starts(data), object_name="t.txt", stride=2, line_char_starts=line_starts(text)
    )
    assert parse_index(index.to_bytes(), url="mem://t.idx") == index
    header, payload = index.to_bytes().split(b"\n", 1)
    table = array("Q")
    table.frombytes(zlib.decompress(payload))
    blocks = len(table) // 2
    table[blocks + 1] = extra  # the first block (6 bytes) with 6 - extra characters
    header_fields = json.loads(header)
    header_fields["char_count"] = len(text) - extra
    forged = json.dumps(header_fields).encode() + b"\n" + zlib.compress(table.tobytes())
    if valid:  # 6 - extra characters (2 or more) can take 6 bytes of UTF-8
        assert parse_index(forged, url="mem://t.idx").char_count == len(text) - extra
    else:
        with pytest.raises(IndexFormatError, match="UTF-8 cannot encode in 6 bytes"):
            parse_index(forged, url="mem://t.idx").char_checkpoints  # noqa: B018


def test_threads_share_one_view() -> None:
    text = "".join(f"line {n} ü\n" for n in range(3000))
    view = StrView(InMemoryContext(text), piece_chars=500)
    errors: list[str] = []

    def worker(seed: int) -> None:
        for k in range(50):
            a = (seed * 7919 + k * 104_729) % len(text)
            if view[a : a + 300] != text[a : a + 300] or view.count("ü", a) != text.count("ü", a):
                errors.append(f"{seed}:{a}")

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
