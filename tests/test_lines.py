"""The line helpers agree with the independent regex reference on nasty texts."""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
import time
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contexts.lines import count_lines, cut_lines, line_starts, plain_literal, split_lines
from contexts.loaded import CheckpointedText, TextAssembler
from tests.reference import checkpoint_offsets, reference_grep, reference_lines
from tests.strategies import nasty_texts


@given(nasty_texts())
def test_split_count_and_offsets(text: str) -> None:
    lines = reference_lines(text)
    assert split_lines(text) == lines
    assert count_lines(text) == len(lines)
    starts = line_starts(text)
    assert [text[a:b] for a, b in itertools.pairwise(starts)] == lines
    data = text.encode()
    byte_starts = line_starts(data)
    assert [data[a:b] for a, b in itertools.pairwise(byte_starts)] == [
        line.encode() for line in lines
    ]


@given(nasty_texts(), st.data())
def test_cut_lines(text: str, data: st.DataObject) -> None:
    lines = reference_lines(text)
    start = data.draw(st.integers(0, len(lines)))
    stop = data.draw(st.integers(start, len(lines)))
    assert cut_lines(text, start, stop, len(lines)) == "".join(lines[start:stop])


def test_splitlines_separators_are_not_line_ends() -> None:
    text = "a\rb\x0bc\x0cd\x1ce\x1df\x1eg\x85h\u2028i\u2029j\r\n"
    assert count_lines(text) == 1
    assert len(text.splitlines()) > 1  # the trap the seed code fell into


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="ab-.\n\u2028é", max_size=60),
    literal=st.text(alphabet="ab-.\u2028é", min_size=1, max_size=3),
    max_hits=st.none() | st.integers(min_value=0, max_value=4),
    stride=st.integers(min_value=1, max_value=4),
)
def test_a_plain_string_grep_is_the_per_line_search(
    text: str, literal: str, max_hits: int | None, stride: int
) -> None:
    """In-memory texts find plain strings (and re.escape'd ones) with one str.find pass: the
    same hits as the reference's search of every line."""
    from contexts import InMemoryContext

    lines = reference_lines(text)
    pattern = re.escape(literal)
    expected = reference_grep(lines, pattern, max_hits)
    chars = checkpoint_offsets(lines, stride)
    checkpointed = CheckpointedText.from_text(text, len(lines), stride, chars, block_checkpoints=2)
    offsets = checkpoint_offsets(lines, stride, encoded=True)
    decoded = assemble([text.encode()], len(lines), stride, 2, offsets, chars)
    for a in range(len(lines) + 1):
        for b in range(a, len(lines) + 1):
            assert checkpointed[a:b] == decoded[a:b] == "".join(lines[a:b])
    for ctx in (InMemoryContext(text), checkpointed, decoded):
        assert ctx.grep(pattern, max_hits=max_hits) == expected
        assert ctx.grep(pattern + "|zz", max_hits=max_hits) == expected  # a regex: per line
    assert checkpointed[:] == text and list(checkpointed) == lines
    assert plain_literal(pattern, 0) == literal
    for regex in ("a.b", r"\d", "a\\", "(?i)a", "a\nb"):
        assert plain_literal(regex, 0) is None
    assert plain_literal("ab", re.IGNORECASE) is None


def test_checkpoints_that_do_not_match_the_text_are_an_integrity_error() -> None:
    from contexts.errors import IntegrityError
    from contexts.loaded import CheckpointedText

    text = "a\nbb\nc\n"
    assert CheckpointedText.from_text(text, 3, 2, array("q", [0, 5, 7]))[1:3] == "bb\nc\n"
    for chars in ([0, 4, 7], [0, 5, 8], [0, 7]):
        with pytest.raises(IntegrityError):
            CheckpointedText.from_text(text, 3, 2, array("q", chars))


def assemble(
    pieces: list[bytes],
    line_count: int,
    stride: int,
    per_block: int,
    offsets: array[int],
    chars: array[int],
) -> CheckpointedText:
    """The text of ``pieces`` through a :class:`TextAssembler`."""
    assembler = TextAssembler(
        line_count=line_count,
        stride=stride,
        byte_offsets=offsets,
        chars=chars,
        url="test",
        block_checkpoints=per_block,
    )
    for piece in pieces:
        assembler.feed(piece)
    return assembler.finish()


def _checkpoints(lines: list[str], stride: int, *, encode: bool) -> array[int]:
    sizes = [len(line.encode()) if encode else len(line) for line in lines]
    offsets = array("q", [sum(sizes[:k]) for k in range(0, len(lines), stride)])
    offsets.append(sum(sizes))
    return offsets


@settings(max_examples=200, deadline=None)
@given(nasty_texts(), st.integers(1, 4), st.integers(1, 3), st.data())
def test_a_text_assembled_from_pieces_in_any_cuts_reads_like_the_text(
    text: str, stride: int, per_block: int, data: st.DataObject
) -> None:
    """Bytes fed in any pieces (cuts inside multibyte characters and lines included) give the
    text, checked block by block; a shifted character checkpoint or a missing byte is an
    IntegrityError (a whole read, which is the bytes decoded whole and uses no character
    checkpoint, may still answer the text), and a shifted byte checkpoint is one or changes no
    answer."""
    from contexts.errors import IntegrityError

    lines = reference_lines(text)
    raw = text.encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    pieces = [raw[a:b] for a, b in itertools.pairwise([0, *cuts, len(raw)])]
    offsets = _checkpoints(lines, stride, encode=True)
    chars = _checkpoints(lines, stride, encode=False)

    def finished(feed: list[bytes], offsets: array[int], chars: array[int]) -> CheckpointedText:
        return assemble(feed, len(lines), stride, per_block, offsets, chars)

    def assembled(feed: list[bytes], offsets: array[int], chars: array[int]) -> str:
        return finished(feed, offsets, chars)[:]

    assert assembled(pieces, offsets, chars) == text
    loaded = finished([raw], offsets, chars)
    blocks = loaded.undecoded_blocks
    if lines:  # a read decodes the blocks it needs, no more
        assert loaded[0:1] == lines[0] and loaded.undecoded_blocks == blocks - 1
    loaded.decode_all()
    assert loaded.undecoded_blocks == 0 and loaded[:] == text
    if raw:
        with pytest.raises(IntegrityError):
            assembled([raw[:-1]], offsets, chars)
        with pytest.raises(IntegrityError):
            assembled([raw, b"\n"], offsets, chars)
    inner = list(range(1, len(offsets) - 1))
    if inner:
        j = data.draw(st.sampled_from(inner))
        for shifted, which in ((offsets, "bytes"), (chars, "chars")):
            moved = array("q", shifted)
            moved[j] += data.draw(st.sampled_from([-1, 1]))
            if moved[j] <= moved[j - 1] or moved[j] >= moved[j + 1]:
                continue  # the index parser refuses offsets out of order
            if which == "chars":  # refused by the blocks' checks; a whole read does not use
                with pytest.raises(IntegrityError):  # them: its answer is the text, or refused
                    finished(pieces, offsets, moved).decode_all()
                with contextlib.suppress(IntegrityError):
                    assert assembled(pieces, offsets, moved) == text
                continue
            # A byte checkpoint is only where the load cuts: one moved to a byte that does not
            # follow a newline is refused; one that does (an empty line beside it) cuts blocks
            # whose decoded text the character checks refuse, or cuts nowhere that matters.
            try:
                got = assembled(pieces, moved, chars)
            except IntegrityError:
                continue
            assert got == text and raw[moved[j] - 1 : moved[j]] == b"\n"


@pytest.mark.timeout(60)
def test_a_reader_waits_only_for_the_block_it_needs() -> None:
    """A reader needing block 0 does not wait while another thread decodes another block (a
    single lock, which ``decode_all`` takes again block after block, kept readers out for up to
    0.47 s at 1M lines): here the last block's decode never ends until the read has its
    answer, so a reader that waited for it could not answer at all."""
    lines = [f"line {n} \u00e9\U0001f600\n" for n in range(64)]
    stride, per_block = 4, 2
    loaded = assemble(
        ["".join(lines).encode()],
        len(lines),
        stride,
        per_block,
        _checkpoints(lines, stride, encode=True),
        _checkpoints(lines, stride, encode=False),
    )
    last = len(loaded._decoding) - 1
    assert last > 0 and loaded.undecoded_blocks == last + 1
    answers: list[str] = []
    with loaded._decoding[last]:  # the last block's decode, under way
        reader = threading.Thread(target=lambda: answers.append(loaded[1:3]))
        reader.start()
        reader.join(30)
        assert answers == ["".join(lines[1:3])]
    assert loaded[-1] == lines[-1]


def test_readers_and_decode_all_decode_each_block_once() -> None:
    """Threads reading nearly the whole text while ``decode_all`` runs share each block's decode: a
    block is decoded once (a reader waits for the one under way instead of decoding it again)."""
    lines = [f"line {n} \u00e9\u2603\U0001f600\n" for n in range(4000)]
    text = "".join(lines)
    stride, per_block = 4, 8
    loaded = assemble(
        [text.encode()],
        len(lines),
        stride,
        per_block,
        _checkpoints(lines, stride, encode=True),
        _checkpoints(lines, stride, encode=False),
    )
    blocks = loaded.undecoded_blocks
    assert blocks > 100
    decoded: list[int] = []
    original = loaded._decode_now

    def counted(number: int) -> str:
        if loaded._blocks[number] is None:
            decoded.append(number)
            time.sleep(0.0005)  # a decode under way: another thread asking now must wait for it
        return original(number)

    loaded._decode_now = counted  # type: ignore[method-assign]
    answers: list[str] = []
    # all but the first and last lines: the blocks one by one (a whole read decodes the bytes)
    readers = [threading.Thread(target=lambda: answers.append(loaded[1:-1])) for _ in range(4)]
    decoder = threading.Thread(target=loaded.decode_all)
    for thread in (*readers, decoder):
        thread.start()
    for thread in (*readers, decoder):
        thread.join(30)
    assert answers == ["".join(lines[1:-1])] * 4
    assert sorted(decoded) == list(range(blocks))


def _wide_and_mixed() -> tuple[list[str], list[str]]:
    """Lines with an emoji in every block, and ASCII lines with one emoji in the last."""
    wide = [f"line {n} \u00e9\U0001f600\n" for n in range(400)]
    mixed = [f"line {n}\n" for n in range(399)] + ["last \U0001f600"]
    return wide, mixed


def test_a_whole_read_decodes_the_bytes_at_once_and_checks_them_as_blocks() -> None:
    """``text()`` and ``[:]`` of a text still in bytes decode them in one go (no block is
    decoded, so the bytes are not decoded twice); a line more than the index says is still an
    IntegrityError, and bytes that are not UTF-8 name their block."""
    from contexts.errors import IntegrityError

    for lines in _wide_and_mixed():
        text = "".join(lines)
        offsets = _checkpoints(lines, 4, encode=True)
        chars = _checkpoints(lines, 4, encode=False)
        loaded = assemble([text.encode()], len(lines), 4, 8, offsets, chars)
        blocks = loaded.undecoded_blocks
        assert blocks > 10 and loaded.text() == text and loaded[:] == text
        assert loaded.undecoded_blocks == blocks  # nothing kept from the whole read
        loaded.decode_all()  # then the bytes go, and a whole read joins the blocks
        assert loaded.undecoded_blocks == 0 and loaded._raw == [None] * blocks
        assert loaded.text() == text
        extra = text.encode().replace(b"line 7", b"lin\n 7", 1)  # a line more, same size
        with pytest.raises(IntegrityError, match="index"):
            assemble([extra], len(lines), 4, 8, offsets, chars).text()
    broken = text.encode().replace("\U0001f600".encode(), b"\xff\xfe\xfd\xfc")
    with pytest.raises(IntegrityError, match="not valid UTF-8"):
        assemble([broken], len(lines), 4, 8, offsets, chars).text()


def test_a_whole_read_is_kept_as_the_text_only_where_it_costs_no_more_memory() -> None:
    """A text whose every block is as wide as its whole read offers it as its one block (a
    whole read of that is the same object, every line reads the same, its character offsets
    checked on first use); one with narrower blocks (ASCII lines beside one emoji: 4 bytes a
    character instead of 1) does not."""
    from contexts.errors import IntegrityError

    wide, mixed = _wide_and_mixed()
    for lines, kept in ((wide, True), (mixed, False), ([f"{n}\n" for n in range(400)], True)):
        text = "".join(lines)
        offsets = _checkpoints(lines, 4, encode=True)
        chars = _checkpoints(lines, 4, encode=False)
        for decoded in (False, True):
            loaded = assemble([text.encode()], len(lines), 4, 8, offsets, chars)
            if decoded:
                loaded.decode_all()
            whole, one = loaded.whole()
            assert whole == text and (one is not None) is kept
            if one is not None:
                assert one.undecoded_blocks == (0 if decoded else 1)  # offsets still to check
                assert one[:] is whole and one.text() is whole and one.undecoded_blocks == 0
                assert [one[a:b] for a, b in ((0, 1), (5, 99), (398, 400))] == [
                    "".join(lines[a:b]) for a, b in ((0, 1), (5, 99), (398, 400))
                ]
                assert one.grep("12[0-9]") == [(n, lines[n]) for n in range(120, 130)]
        moved = array("q", chars)
        moved[len(moved) // 2] += 1  # the bytes read whole, the offsets wrong
        whole, one = assemble([text.encode()], len(lines), 4, 8, offsets, moved).whole()
        assert whole == text
        if one is not None:
            with pytest.raises(IntegrityError, match="index"):
                one.decode_all()
            with pytest.raises(IntegrityError, match="index"):
                one[3:5]


def test_retire_stops_decode_all() -> None:
    wide, _mixed = _wide_and_mixed()
    text = "".join(wide)
    loaded = assemble(
        [text.encode()],
        len(wide),
        4,
        8,
        _checkpoints(wide, 4, encode=True),
        _checkpoints(wide, 4, encode=False),
    )
    blocks = loaded.undecoded_blocks
    loaded.retire()
    loaded.decode_all()
    assert loaded.undecoded_blocks == blocks and loaded[7:9] == "".join(wide[7:9])
