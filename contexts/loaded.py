"""``CheckpointedText``: a whole text in memory as blocks of lines, located by the offsets of a line index;
``loaded_context``: a fetched text object as such a context, checked against its index.

A version-2 line index records the byte and character offset of every ``stride``-th line. With
them a loaded text needs no per-line offsets (computing them splits the whole text: about a
second for 1,000,000 lines): a line's offset is its checkpoint plus at most ``stride - 1``
``str.find`` calls. The text is kept as blocks of ``block_checkpoints`` checkpoints, each its
own ``str``: a block of ASCII stays one byte per character (and decodes at memory speed) even
when another block holds an emoji, which would make one whole ``str`` four bytes per character.

Every offset the blocks rely on is checked when they are built: each checkpoint starts right
after a ``"\\n"``, each holds ``stride`` lines (bytes and characters), each block's length in
characters matches, and the bytes are UTF-8.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Sequence

from contexts.base import Context, GrepHit, LineRange
from contexts.errors import IntegrityError
from contexts.layouts.line_index import LineIndex, plan_spans, read_group
from contexts.layouts.single import REWRITE_SINGLE
from contexts.lines import NEWLINE, CharMap, plain_literal
from contexts.memory import InMemoryContext

BLOCK_CHECKPOINTS = 256
"""Checkpoints per block: 4,096 lines at the index's default stride of 16."""


def _expected_lines(checkpoint: int, stride: int, line_count: int) -> int:
    return min(stride, line_count - checkpoint * stride)


class CheckpointedText(Context):
    """Lines in ``blocks`` (block ``k`` holds checkpoints ``k * block_checkpoints`` onwards),
    located by ``chars``: the character offset of line ``j * stride`` for each ``j``, then the
    text's length. Build it with :meth:`from_bytes` or :meth:`from_text`, which check it."""

    name = "memory"
    chunk_lines = 50_000

    def __init__(
        self,
        blocks: Sequence[str],
        line_count: int,
        stride: int,
        chars: Sequence[int],
        block_checkpoints: int,
    ) -> None:
        super().__init__()
        self._blocks = list(blocks)
        self._count = line_count
        self._stride = stride
        self._chars = chars
        self._per_block = block_checkpoints
        self._block_lines = stride * block_checkpoints

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        line_count: int,
        stride: int,
        byte_offsets: Sequence[int],
        chars: Sequence[int],
        url: str,
        block_checkpoints: int = BLOCK_CHECKPOINTS,
    ) -> CheckpointedText:
        """Decode and check ``data`` block by block against the index's byte and character
        offsets (``IntegrityError`` naming where they disagree)."""
        checkpoints = -(-line_count // stride)
        if len(byte_offsets) != checkpoints + 1 or byte_offsets[-1] != len(data):
            raise IntegrityError(
                f"{url} holds {len(data):,} bytes where its index says {byte_offsets[-1]:,}; "
                f"{REWRITE_SINGLE}"
            )
        for j in range(checkpoints):
            start, stop = byte_offsets[j], byte_offsets[j + 1]
            found = data.count(b"\n", start, stop)
            if j == checkpoints - 1 and not data.endswith(b"\n"):
                found += 1
            if found != _expected_lines(j, stride, line_count) or (start and data[start - 1] != 10):
                raise IntegrityError(
                    f"{url}: bytes {start}-{stop - 1} do not hold lines {j * stride}-"
                    f"{j * stride + _expected_lines(j, stride, line_count) - 1} as its index "
                    f"says; {REWRITE_SINGLE}"
                )
        blocks = []
        for first in range(0, checkpoints, block_checkpoints):
            last = min(checkpoints, first + block_checkpoints)
            start, stop = byte_offsets[first], byte_offsets[last]
            try:
                blocks.append(str(memoryview(data)[start:stop], "utf-8"))
            except UnicodeDecodeError as exc:
                raise IntegrityError(
                    f"{url} is not valid UTF-8 at byte {start + exc.start} ({exc.reason}); "
                    f"{REWRITE_SINGLE}"
                ) from None
        return cls._checked(blocks or [""], line_count, stride, chars, block_checkpoints, url)

    @classmethod
    def from_text(
        cls,
        text: str,
        line_count: int,
        stride: int,
        chars: Sequence[int],
        block_checkpoints: int = BLOCK_CHECKPOINTS,
    ) -> CheckpointedText:
        """Cut ``text`` into blocks at its character checkpoints, checked."""
        checkpoints = -(-line_count // stride)
        if len(chars) != checkpoints + 1 or chars[-1] != len(text):
            raise IntegrityError(
                f"the text ({len(text):,} characters) does not match its index's character "
                f"offsets; {REWRITE_SINGLE}"
            )
        blocks = [
            text[chars[first] : chars[min(checkpoints, first + block_checkpoints)]]
            for first in range(0, checkpoints, block_checkpoints)
        ]
        return cls._checked(blocks or [""], line_count, stride, chars, block_checkpoints, "text")

    @classmethod
    def _checked(
        cls,
        blocks: list[str],
        line_count: int,
        stride: int,
        chars: Sequence[int],
        block_checkpoints: int,
        url: str,
    ) -> CheckpointedText:
        """Check every character checkpoint against the blocks."""
        checkpoints = -(-line_count // stride)
        if len(chars) != checkpoints + 1:
            raise IntegrityError(f"{url}: its index's character offsets are cut; {REWRITE_SINGLE}")
        for number, block in enumerate(blocks):
            first = number * block_checkpoints
            last = min(checkpoints, first + block_checkpoints)
            base = chars[first]
            if len(block) != chars[last] - base:
                raise IntegrityError(
                    f"{url}: lines {first * stride}- hold {len(block):,} characters where its "
                    f"index says {chars[last] - base:,}; {REWRITE_SINGLE}"
                )
            for j in range(first, last):
                start, stop = chars[j] - base, chars[j + 1] - base
                found = block.count(NEWLINE, start, stop)
                if j == checkpoints - 1 and not block.endswith(NEWLINE):
                    found += 1
                if found != _expected_lines(j, stride, line_count) or (
                    start and block[start - 1] != NEWLINE
                ):
                    raise IntegrityError(
                        f"{url}: line {j * stride} is not where its index's character offsets "
                        f"put it; {REWRITE_SINGLE}"
                    )
        return cls(blocks, line_count, stride, chars, block_checkpoints)

    # -- reads -----------------------------------------------------------------------------------

    def _line_count(self) -> int:
        return self._count

    def _locate(self, line: int) -> tuple[int, int]:
        """``(block, offset in it)`` where line ``line`` starts (``line_count``: the end)."""
        if line >= self._count:
            return len(self._blocks) - 1, len(self._blocks[-1])
        block = line // self._block_lines
        checkpoint, rest = divmod(line, self._stride)
        text = self._blocks[block]
        at = self._chars[checkpoint] - self._chars[block * self._per_block]
        for _ in range(rest):
            at = text.index(NEWLINE, at) + 1
        return block, at

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        blocks, results = self._blocks, []
        for start, stop in ranges:
            first, at = self._locate(start)
            last, end = self._locate(stop)
            if first == last:
                results.append(blocks[first][at:end])
            else:
                pieces = [blocks[first][at:], *blocks[first + 1 : last], blocks[last][:end]]
                results.append("".join(pieces))
        return results

    def text(self) -> str:
        self._check_open()
        return "".join(self._blocks)

    def char_map(self) -> CharMap:
        lines = array("q", range(0, self._count, self._stride))
        lines.append(self._count)
        return lines, self._chars

    def grep(
        self, pattern: str | re.Pattern[str], flags: int = 0, *, max_hits: int | None = None
    ) -> list[GrepHit]:
        """As :meth:`Context.grep`; a plain string is found with ``str.find`` block by block."""
        literal = plain_literal(pattern, flags)
        if literal is None:
            return super().grep(pattern, flags, max_hits=max_hits)
        self._check_open()
        limit = None if max_hits is None else max(1, max_hits)  # as Context.grep counts
        hits: list[GrepHit] = []
        for number, text in enumerate(self._blocks):
            first = number * self._per_block
            base = self._chars[first]
            at = text.find(literal)
            while at != -1:
                if limit is not None and len(hits) >= limit:
                    return hits
                checkpoint = bisect_right(self._chars, base + at) - 1
                start = text.rfind(NEWLINE, 0, at) + 1
                line = checkpoint * self._stride
                line += text.count(NEWLINE, self._chars[checkpoint] - base, start)
                stop = text.find(NEWLINE, at) + 1 or len(text)
                hits.append(GrepHit(line, text[start:stop]))
                at = text.find(literal, stop) if stop < len(text) else -1
        return hits

    def _describe(self) -> str:
        return f"{self._count} lines in {len(self._blocks)} blocks"


def loaded_context(data: bytes, index: LineIndex, url: str) -> Context:
    """The text object ``data`` as an in-memory context, checked against its index: blocks
    located by the index's character offsets (version 2; no per-line offsets to compute, ~1 s
    for 1,000,000 lines), else the offset of every line."""
    if index.char_checkpoints is not None:
        return CheckpointedText.from_bytes(
            data,
            line_count=index.line_count,
            stride=index.stride,
            byte_offsets=index.checkpoints,
            chars=index.char_checkpoints,
            url=url,
        )
    count, stride = index.line_count, index.stride
    spans = [index.span(first, min(count, first + stride)) for first in range(0, count, stride)]
    (group,), _ = plan_spans(spans, coalesce_bytes=0, part_bytes=None)
    return InMemoryContext(
        read_group(group, [data], url=url, object_lines=count, terminate=False, fix=REWRITE_SINGLE)
    )
