"""Line-offset indexes: the compact, checked sidecar format, and reading byte spans planned from it.

File format (version 1)::

    {"format": "rlm-line-index", "version": 1, "object": "context.txt", "line_count": N,
     "byte_count": B, "stride": S}\\n
    zlib( little-endian uint64 deltas of: byte offsets of lines 0, S, 2S, ... and finally B )

A header line of JSON, then a zlib stream. Checkpoint ``k`` is the byte offset where line
``k * S`` starts; the final checkpoint is the object size. With ``S = 16`` a 1M-line, 100 MB
context has a ~100 KB index, and any line range maps to one byte range that over-reads fewer
than ``S`` lines at each end.

An index that carries copies of its text's ends (``"head"``, ``"tail"``: their lengths in the
header; the bytes follow the zlib stream) also carries ``"copies_crc32"``, the CRC-32 of those
bytes. With it, a reader can trust the copies before it decodes the offset table
(``parse_index(..., defer_table=True)``): a peek at either end is answered from the copies, their
line starts counted in them (:attr:`LineIndex.copy_checkpoints`), while the table (~7 ms for 1M
lines: zlib, a running sum, its checks) is decoded and checked on first use. An index without
the checksum (written before it existed) is decoded at once, as before.

Version 2 adds character offsets at the same checkpoints (for the str view,
:mod:`contexts.char_view`): the header carries ``"char_count": C`` and the stream continues
with, per checkpoint delta, the bytes beyond one per character (``byte delta - char delta``,
all zeros for ASCII text, so it compresses to almost nothing). Readers accept both versions; a
version-1 index has no character offsets; a parsed index computes (and checks) its
character offsets when first asked for them. The same format indexes a large segment of the segments layout
(``"line_index"`` in its manifest entry), so a few lines of it cost one small range GET.

Reading by index (both layouts): :func:`plan_spans` turns the byte spans of a batch into
:class:`SpanGroup` s — nearby spans **coalesced** into one GET, long ones **split** into parts of
``part_bytes`` fetched in parallel, by the one planner of :mod:`contexts.ranges` — and
:func:`checked_group_bytes` joins a group's parts *before* decoding (a UTF-8 character cut at a
part boundary decodes whole) and checks every indexed line boundary it relies on
(:class:`IntegrityError` on any disagreement); :func:`read_group` decodes the whole group, and
the single-object reader decodes only the lines each range asked for.
"""

from __future__ import annotations

import json
import operator
import sys
import threading
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import accumulate, compress, count, repeat

from contexts.errors import IndexFormatError, IntegrityError, UnsafePathError
from contexts.lines import CharMap, line_starts
from contexts.location import check_relative_name
from contexts.ranges import coalesce, split

FORMAT = "rlm-line-index"
VERSION = 2
"""The version written when character offsets are indexed; without them, version 1."""
_VERSIONS = (1, 2)
_FIX = "rewrite the context with contexts.write_layout(text, url, layout='single')"

Span = tuple[int, int, int, int]
"""``(first_line, last_line, byte_start, byte_stop)``: whole lines of one object and their bytes."""


@dataclass(frozen=True, eq=False)
class LineIndex:
    """Byte offsets of every ``stride``-th line of one text object."""

    object_name: str
    """Name of the text object this index describes (relative to the context's prefix)."""
    line_count: int
    """Lines in the object."""
    byte_count: int
    """Size of the object in bytes."""
    stride: int
    """Lines between checkpoints."""
    offsets: array[int] | Callable[[], array[int]]
    """The byte offsets (:attr:`checkpoints`), or the function that decodes and checks them on
    first use (``parse_index(..., defer_table=True)``)."""
    chars: array[int] | Callable[[], array[int]] | None = None
    """The character offsets (:attr:`char_checkpoints`), or the function that computes and
    checks them on first use (:func:`parse_index`); ``None`` without character offsets."""
    head: bytes = b""
    """A copy of the object's first bytes, carried in the index (empty: none)."""
    tail: bytes = b""
    """A copy of the object's last bytes, carried in the index (empty: none)."""

    def __post_init__(self) -> None:
        if len(self.head) + len(self.tail) > self.byte_count:
            raise ValueError(
                f"inline copies of {len(self.head)} + {len(self.tail)} bytes overlap in an "
                f"object of {self.byte_count} bytes"
            )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LineIndex):
            return NotImplemented
        return self._compared() == other._compared()

    __hash__ = object.__hash__

    def _compared(self) -> tuple[object, ...]:
        return (
            self.object_name,
            self.line_count,
            self.byte_count,
            self.stride,
            self.checkpoints,
            self.char_checkpoints,
            self.head,
            self.tail,
        )

    @cached_property
    def checkpoints(self) -> array[int]:
        """Byte offset of line ``k * stride`` for each k, then ``byte_count`` (a deferred
        table is decoded and checked here, once: :class:`IndexFormatError` if it is bad)."""
        return self.offsets() if callable(self.offsets) else self.offsets

    @property
    def table_decoded(self) -> bool:
        """Whether :attr:`checkpoints` is known without decoding anything."""
        return not callable(self.offsets) or "checkpoints" in self.__dict__

    @cached_property
    def copy_checkpoints(self) -> dict[int, int]:
        """The checkpoints known from the copies of the text's ends alone
        (:func:`copy_checkpoints`)."""
        return copy_checkpoints(self.line_count, self.byte_count, self.stride, self.head, self.tail)

    def span_known(self, start: int, stop: int) -> bool:
        """Whether :meth:`span` of lines ``[start, stop)`` needs no decoding of the table."""
        if self.table_decoded:
            return True
        known = self.copy_checkpoints
        return start // self.stride in known and -(-stop // self.stride) in known

    def _offset(self, k: int) -> int:
        """Checkpoint ``k``'s byte offset, from the copies while the table is not decoded."""
        if not self.table_decoded:
            known = self.copy_checkpoints.get(k)
            if known is not None:
                return known
        return self.checkpoints[k]

    @cached_property
    def char_checkpoints(self) -> array[int] | None:
        """Character offset of line ``k * stride`` for each k, then the text's length in
        characters (version 2); ``None`` for an index without character offsets. A parsed
        index computes and checks them here, once (:class:`IndexFormatError` if they are
        impossible): ~15 ms for 2M lines that an open does not wait for."""
        return self.chars() if callable(self.chars) else self.chars

    def copies(self) -> list[tuple[int, bytes]]:
        """``(byte offset, bytes)`` of each non-empty copy of the object's ends it carries."""
        ends = ((0, self.head), (self.byte_count - len(self.tail), self.tail))
        return [(start, copy) for start, copy in ends if copy]

    @property
    def char_count(self) -> int | None:
        """Characters in the object's text, when the index records character offsets."""
        return None if self.char_checkpoints is None else self.char_checkpoints[-1]

    def char_map(self) -> CharMap | None:
        """``(lines, chars)``: the line number and character offset of every checkpoint (then
        ``line_count`` and the character count); ``None`` without character offsets."""
        if self.char_checkpoints is None:
            return None
        lines = array("q", range(0, self.line_count, self.stride))
        lines.append(self.line_count)
        return lines, self.char_checkpoints

    def span(self, start: int, stop: int) -> tuple[int, int, int, int]:
        """For lines ``[start, stop)``: ``(first_line, last_line, byte_start, byte_stop)``.

        The byte range covers whole lines ``[first_line, last_line)``, which contain the request.
        """
        low = start // self.stride
        high = -(-stop // self.stride)
        first_line = low * self.stride
        last_line = min(high * self.stride, self.line_count)
        return first_line, last_line, self._offset(low), self._offset(high)

    def to_bytes(self) -> bytes:
        """Serialise in the format above."""
        header: dict[str, object] = {
            "format": FORMAT,
            "version": 1 if self.char_checkpoints is None else VERSION,
            "object": self.object_name,
            "line_count": self.line_count,
            "byte_count": self.byte_count,
            "stride": self.stride,
        }
        deltas = array("Q", _deltas(self.checkpoints))
        if self.char_checkpoints is not None:
            header["char_count"] = self.char_checkpoints[-1]
            byte_deltas = deltas.tolist()
            char_deltas = _deltas(self.char_checkpoints)
            deltas.extend(b - c for b, c in zip(byte_deltas, char_deltas, strict=True))
        if self.head or self.tail:
            header["head"], header["tail"] = len(self.head), len(self.tail)
            header["copies_crc32"] = _copies_checksum(
                self.line_count, self.byte_count, self.stride, self.head, self.tail
            )
        if sys.byteorder != "little":
            deltas.byteswap()
        stream = zlib.compress(deltas.tobytes(), 6)
        return json.dumps(header).encode("utf-8") + b"\n" + stream + self.head + self.tail


def _starts_after_newlines(copy: bytes, at: int, byte_count: int) -> list[int]:
    """Byte offsets of the lines that start after a newline in ``copy`` (found at offset
    ``at`` of an object of ``byte_count`` bytes): a newline ending the object starts none."""
    starts = line_starts(copy)  # its final entry, len(copy), starts a line after a newline only
    after = starts[1:] if copy.endswith(b"\n") else starts[1:-1]
    placed = list(map(at.__add__, after))  # increasing: only the last can be the object's end
    if placed and placed[-1] >= byte_count:
        placed.pop()
    return placed


def _deltas(offsets: Sequence[int]) -> Iterable[int]:
    """Each offset minus the one before it (the first minus 0)."""
    return (b - a for a, b in zip([0, *offsets], offsets, strict=False))


def build_index(
    line_byte_starts: array[int],
    *,
    object_name: str,
    stride: int,
    line_char_starts: array[int] | None = None,
) -> LineIndex:
    """An index from the byte offset of every line plus the object size as a final entry; with
    ``line_char_starts`` (the same for character offsets) it indexes characters too (version 2)."""
    if stride < 1:
        raise ValueError(f"index_stride must be at least 1, not {stride}")
    line_count = len(line_byte_starts) - 1
    checkpoints = _sampled(line_byte_starts, stride)
    chars = None
    if line_char_starts is not None:
        if len(line_char_starts) != len(line_byte_starts):
            raise ValueError("line_char_starts and line_byte_starts must list the same lines")
        chars = _sampled(line_char_starts, stride)
    return LineIndex(object_name, line_count, line_byte_starts[-1], stride, checkpoints, chars)


def checkpoint_count(line_count: int, stride: int) -> int:
    """Checkpoints of an index of ``line_count`` lines at ``stride`` (one per ``stride`` lines,
    the last possibly shorter)."""
    return -(-line_count // stride)


def _sampled(starts: array[int], stride: int) -> array[int]:
    """Every ``stride``-th line start, then the final sentinel."""
    sampled = array("q", starts[0 : len(starts) - 1 : stride])
    sampled.append(starts[-1])
    return sampled


def parse_index(data: bytes, *, url: str, defer_table: bool = False) -> LineIndex:
    """Parse and check an index sidecar read from ``url``; raise :class:`IndexFormatError`.
    Character offsets are computed and checked on first use (``char_checkpoints``); with
    ``defer_table``, so is the offset table, where the index's copies carry their checksum
    (``copies_crc32``): the copies and the header are checked now, the table when first used."""
    header_bytes, newline, payload = data.partition(b"\n")
    try:
        if not newline:
            raise ValueError("no header line")
        header = json.loads(header_bytes)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} file")
        version = header.get("version")
        if version not in _VERSIONS:
            raise ValueError(f"version {version!r}, this reader knows versions 1 and 2")
        char_count = header.get("char_count") if version == 2 else None
        if version == 2 and (
            isinstance(char_count, bool) or not isinstance(char_count, int) or char_count < 0
        ):
            raise ValueError("a version-2 index needs a non-negative integer char_count")
        object_name = header["object"]
        line_count, byte_count, stride = (
            header["line_count"],
            header["byte_count"],
            header["stride"],
        )
        if not isinstance(object_name, str) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for v in (line_count, byte_count, stride)
        ):
            raise ValueError("object must be a string and counts non-negative integers")
        if stride < 1:
            raise ValueError("stride must be at least 1")
        check_relative_name(object_name, what="the index's object")
        inline = [header.get(key, 0) for key in ("head", "tail")]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in inline):
            raise ValueError("head and tail must be non-negative integers")
        checksum = header.get("copies_crc32")
        if checksum is not None and (isinstance(checksum, bool) or not isinstance(checksum, int)):
            raise ValueError("copies_crc32 must be an integer")
    except (ValueError, KeyError, TypeError, UnsafePathError) as exc:
        raise IndexFormatError(f"line index {url} is unreadable: {exc}; {_FIX}") from None
    inline_bytes = sum(inline)
    table = _OffsetTable(payload, inline_bytes, line_count, byte_count, stride, char_count, url)
    if defer_table and checksum is not None:
        copies = payload[len(payload) - inline_bytes :] if inline_bytes else b""
        if len(copies) != inline_bytes or inline_bytes > byte_count:
            table.decode()  # names what is wrong
    else:
        copies = table.decode().copies
    head, tail = copies[: inline[0]], copies[inline[0] :]
    if (
        checksum is not None
        and _copies_checksum(line_count, byte_count, stride, head, tail) != checksum
    ):
        raise IndexFormatError(
            f"line index {url}: the copies of the text's ends do not match their checksum "
            f"(copies_crc32); {_FIX}"
        )
    table.copies_known = partial(copy_checkpoints, line_count, byte_count, stride, head, tail)
    if not table.decoded:
        offsets: array[int] | Callable[[], array[int]] = table.checkpoints
    else:
        offsets = table.checkpoints()
        table.check_copies(offsets)
    chars = None if char_count is None else table.char_offsets  # checked on first use
    return LineIndex(object_name, line_count, byte_count, stride, offsets, chars, head, tail)


def _copies_checksum(
    line_count: int, byte_count: int, stride: int, head: bytes, tail: bytes
) -> int:
    """The CRC-32 that binds the copies of a text's ends to the counts their lines are
    numbered with (``copies_crc32``: over ``"{line_count} {byte_count} {stride} {head length}
    {tail length}\\n"``, then the copies)."""
    counts = f"{line_count} {byte_count} {stride} {len(head)} {len(tail)}\n"
    return zlib.crc32(counts.encode() + head + tail)


def copy_checkpoints(
    line_count: int, byte_count: int, stride: int, head: bytes, tail: bytes
) -> dict[int, int]:
    """``{k: byte offset of line k * stride}`` for each line start found in the copies of a
    text's ends (the head's counted from line 0, the tail's back from the last line), and the
    final checkpoint, ``byte_count``."""
    known = {checkpoint_count(line_count, stride): byte_count}
    if not line_count:
        return known
    head_starts = [0, *_starts_after_newlines(head, 0, byte_count)][:line_count]
    known.update(enumerate(head_starts[::stride]))
    tail_starts = _starts_after_newlines(tail, byte_count - len(tail), byte_count)
    first = line_count - len(tail_starts)  # the line the first of them starts
    skip = max(-first, (-first) % stride)  # to the first checkpoint line, never below line 0
    known.update(zip(count((first + skip) // stride), tail_starts[skip::stride]))
    return known


@dataclass(frozen=True)
class _Decoded:
    checkpoints: array[int]
    deltas: array[int]
    excess: array[int] | None
    copies: bytes


class _OffsetTable:
    """An index's zlib offset table, decoded and checked once (:meth:`decode`)."""

    def __init__(
        self,
        payload: bytes,
        inline: int,
        line_count: int,
        byte_count: int,
        stride: int,
        char_count: int | None,
        url: str,
    ) -> None:
        self.payload, self.inline, self.url = payload, inline, url
        self.line_count, self.byte_count, self.stride = line_count, byte_count, stride
        self.char_count = char_count
        self.copies_known: Callable[[], dict[int, int]] | None = None
        """The checkpoints the copies give, which the table must agree with."""
        self._decoded: _Decoded | None = None
        self._lock = threading.Lock()

    @property
    def decoded(self) -> bool:
        return self._decoded is not None

    def checkpoints(self) -> array[int]:
        return self.decode().checkpoints

    def char_offsets(self) -> array[int]:
        decoded = self.decode()
        assert decoded.excess is not None
        return _char_offsets(decoded.deltas, decoded.excess, self.char_count, url=self.url)

    def decode(self) -> _Decoded:
        """The table, checked (:class:`IndexFormatError` if it is bad; again on each call)."""
        with self._lock:
            if self._decoded is None:
                self._decoded = self._checked()
            return self._decoded

    def _checked(self) -> _Decoded:
        url, inline = self.url, self.inline
        try:
            stream = zlib.decompressobj()
            raw = stream.decompress(self.payload)
            if not stream.eof:
                raise ValueError("the offset table is cut short")
            copies = stream.unused_data
            if len(copies) != inline:
                raise ValueError(
                    f"{len(copies)} bytes follow the offset table, the header says {inline}"
                )
            if inline > self.byte_count:
                raise ValueError(
                    f"inline copies of {inline} bytes in a {self.byte_count}-byte object"
                )
            if len(raw) % 8:
                raise ValueError("offset table is not a whole number of uint64 values")
            deltas = array("Q")
            deltas.frombytes(raw)
            if sys.byteorder != "little":
                deltas.byteswap()
            excess = None
            if self.char_count is not None:
                if len(deltas) % 2:
                    raise ValueError("a version-2 offset table must hold byte and character deltas")
                half = len(deltas) // 2
                excess = deltas[half:]
                del deltas[half:]
            checkpoints = array("q", accumulate(deltas))
        except (ValueError, zlib.error, OverflowError) as exc:
            raise IndexFormatError(f"line index {url} is unreadable: {exc}; {_FIX}") from None
        expected = checkpoint_count(self.line_count, self.stride) + 1
        if len(checkpoints) != expected:
            raise IndexFormatError(
                f"line index {url} has {len(checkpoints)} offsets but {self.line_count} lines at "
                f"stride {self.stride} need {expected}; {_FIX}"
            )
        if checkpoints[0] != 0 or checkpoints[-1] != self.byte_count:
            raise IndexFormatError(
                f"line index {url} offsets do not run from 0 to the object size "
                f"{self.byte_count}; {_FIX}"
            )
        if deltas.count(0) > 1:  # unsigned deltas from 0: increasing unless another is zero
            raise IndexFormatError(f"line index {url} offsets are not increasing; {_FIX}")
        self.check_copies(checkpoints)
        return _Decoded(checkpoints, deltas, excess, copies)

    def check_copies(self, checkpoints: array[int]) -> None:
        """The table agrees with the line starts in the copies (once :attr:`copies_known`)."""
        known = {} if self.copies_known is None else self.copies_known()
        if any(checkpoints[k] != offset for k, offset in known.items()):
            raise IndexFormatError(
                f"line index {self.url}: its offsets disagree with the line starts in the "
                f"copies of the text's ends it carries; {_FIX}"
            )


def _char_offsets(
    deltas: array[int], excess: array[int], char_count: int | None, *, url: str
) -> array[int]:
    """The checkpoints' character offsets from their byte deltas and each block's bytes beyond
    one per character, checked: they run from 0 to ``char_count`` and each block of lines holds
    between a quarter of its bytes (4-byte characters) and all of them (ASCII) as characters.
    The loops run in C (``map`` over arrays): a 2M-line index parses in ~25 ms, not ~45."""
    if excess[0] != 0:
        raise IndexFormatError(f"line index {url} character offsets do not start at 0; {_FIX}")
    blocks, extra = deltas[1:], excess[1:]  # block k: checkpoint k to k + 1, bytes > 0
    # Its characters (blocks - extra) number at least a quarter of its bytes: 4 extra <= 3 blocks
    # (then blocks - extra > 0 too). The float ratio screens (a ratio over 3/4 never rounds
    # below it); the exact test runs only on a block that fails the screen.
    if extra and max(map(operator.truediv, extra, blocks)) >= 0.75:
        too_few = map(
            operator.gt, map(operator.mul, extra, repeat(4)), map(operator.mul, blocks, repeat(3))
        )
        bad = next(compress(count(), too_few), None)
        if bad is not None:
            nbytes, nchars = blocks[bad], blocks[bad] - extra[bad]
            raise IndexFormatError(
                f"line index {url} says the {nbytes} bytes after checkpoint {bad} hold {nchars} "
                f"characters, which UTF-8 cannot encode in {nbytes} bytes; {_FIX}"
            )
    chars = array("q", accumulate(map(operator.sub, deltas, excess)))
    if chars[-1] != char_count:
        raise IndexFormatError(
            f"line index {url} character offsets do not run from 0 to its char_count "
            f"{char_count}; {_FIX}"
        )
    return chars


# -- reading by index ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpanGroup:
    """Whole lines ``[first_line, last_line)`` of one object fetched together: one GET, or
    consecutive parts of at most ``part_bytes``.

    The GETs start one byte early (at ``fetch_start``) unless the group starts the object, so the
    ``"\\n"`` that must end the line before ``first_line`` is checked too: every checkpoint of the
    index that a read relies on is verified against the object.
    """

    first_line: int
    """First line of the group (a checkpoint of the index)."""
    last_line: int
    """One past its last line."""
    byte_start: int
    """Where ``first_line`` starts in the object."""
    byte_stop: int
    """Where ``last_line`` starts (or the object size)."""
    parts: tuple[tuple[int, int], ...]
    """The byte ranges of its GETs, in order; they tile ``[fetch_start, byte_stop)``."""
    spans: tuple[Span, ...]
    """The requested spans it covers (each line boundary they use is checked on read)."""

    @property
    def fetch_start(self) -> int:
        """Where its first GET starts: ``byte_start - 1``, or 0."""
        return max(0, self.byte_start - 1)


def plan_spans(
    spans: Iterable[Span], *, coalesce_bytes: int | None, part_bytes: int | None
) -> tuple[list[SpanGroup], dict[Span, int]]:
    """Group the byte spans of one object into GETs; return the groups and each span's group.

    ``coalesce_bytes=None`` gives every distinct span its own group (in first-seen order);
    otherwise spans are sorted and a span whose gap to the group before it is at most
    ``coalesce_bytes`` joins it (overlapping and adjacent spans always do). A group whose GET
    (from :attr:`SpanGroup.fetch_start`) is longer than ``part_bytes`` becomes parts of exactly
    ``part_bytes`` bytes, the last one shorter.
    """
    distinct = list(dict.fromkeys(spans))
    groups: list[SpanGroup] = []
    group_of: dict[Span, int] = {}
    for run in coalesce([(span[2], span[3]) for span in distinct], coalesce_bytes):
        members = tuple(distinct[position] for position in run.members)
        first_line = members[0][0]
        last_line = max(span[1] for span in members)
        parts = split(max(0, run.start - 1), run.stop, part_bytes)
        for span in members:
            group_of[span] = len(groups)
        groups.append(SpanGroup(first_line, last_line, run.start, run.stop, parts, members))
    return groups, group_of


def checked_group_bytes(
    group: SpanGroup,
    bodies: Sequence[bytes],
    *,
    url: str,
    object_lines: int,
    fix: str,
) -> bytes:
    """The bytes of ``group`` from ``fetch_start`` on (the bodies of its parts, same order,
    joined), with every line boundary the group relies on checked against the index.

    Checks: each body has exactly the length asked for; the group's start (from the byte
    before it) and each span's ends fall right after a ``"\\n"`` and at the line number the
    index gives; only the object's last line may lack its ``"\\n"``. Decoding is the caller's
    (:func:`decode_group_bytes`): of the whole group, or of only the lines it asked for.
    """
    for (start, stop), body in zip(group.parts, bodies, strict=True):
        if len(body) != stop - start:
            raise IntegrityError(
                f"{url} returned {len(body)} bytes for bytes {start}-{stop - 1} "
                f"({stop - start} expected): the object is shorter than its index says or the "
                f"transfer was cut; {fix}"
            )
    data = bodies[0] if len(bodies) == 1 else b"".join(bodies)
    lead = group.byte_start - group.fetch_start  # 1 if the byte before the group was fetched
    if lead and data[0] != 0x0A:
        raise IntegrityError(
            f"{url}: the index puts line {group.first_line} at byte {group.byte_start}, but no "
            f"line ends there: the object changed after indexing; {fix}"
        )
    # Every boundary (offset -> line) the cuts rely on, checked in one pass over the bytes.
    boundaries = {group.byte_stop: group.last_line}
    for first_line, last_line, byte_start, byte_stop in group.spans:
        boundaries[byte_start] = first_line
        boundaries[byte_stop] = last_line
    boundaries.pop(group.byte_start, None)  # checked above, from the byte before it
    position, lines = lead, 0
    size = len(data)
    for offset in sorted(boundaries):
        at = offset - group.fetch_start
        lines += data.count(b"\n", position, at)
        position = at
        expected = boundaries[offset] - group.first_line
        found = lines
        whole = data[at - 1] == 0x0A  # at > lead: the group's start was popped
        if not whole and at == size and boundaries[offset] == object_lines:
            found += 1  # the object's last line may lack its "\n"
            whole = True
        if not whole:
            raise IntegrityError(
                f"{url}: the index puts line {boundaries[offset]} at byte {offset}, but no line "
                f"ends there: the object changed after indexing; {fix}"
            )
        if found != expected:
            raise IntegrityError(
                f"{url} bytes {group.byte_start}-{offset - 1} hold {found} lines where the index "
                f"says {expected}: the object changed after indexing; {fix}"
            )
    return data


def decode_group_bytes(data: bytes, low: int, high: int, *, at: int, url: str, fix: str) -> str:
    """``data[low:high]`` decoded from UTF-8, where ``data[0]`` is byte ``at`` of the object
    (an error names the object's byte offset)."""
    try:
        return str(memoryview(data)[low:high], "utf-8")
    except UnicodeDecodeError as exc:
        raise IntegrityError(
            f"{url} is not valid UTF-8 at byte {at + low + exc.start} ({exc.reason}): the "
            f"object does not match its index; {fix}"
        ) from None


def line_offset(data: bytes, offset: int, lines: int) -> int:
    """Where the line ``lines`` lines after the one starting at ``offset`` of ``data`` starts
    (a few ``find`` calls: less than a stride of the index)."""
    for _ in range(lines):
        offset = data.index(b"\n", offset) + 1
    return offset


def line_offset_back(data: bytes, offset: int, lines: int) -> int:
    """Where the line ``lines`` lines before the one starting at ``offset`` of ``data`` starts
    (``offset`` may be the end of an object whose last line lacks its ``"\\n"``)."""
    for _ in range(lines):
        offset = data.rfind(b"\n", 0, offset - 1) + 1
    return offset


def read_group(
    group: SpanGroup,
    bodies: Sequence[bytes],
    *,
    url: str,
    object_lines: int,
    terminate: bool,
    fix: str,
) -> str:
    """The text of ``group`` from the bodies of its parts (same order), checked against the index
    (:func:`checked_group_bytes`) and decoded whole (errors name the absolute byte offset).
    ``terminate`` appends a missing final ``"\\n"`` when the group reaches the end of an object
    that is not the end of the context (a seed-style segment).
    """
    data = checked_group_bytes(group, bodies, url=url, object_lines=object_lines, fix=fix)
    lead = group.byte_start - group.fetch_start
    text = decode_group_bytes(data, lead, len(data), at=group.fetch_start, url=url, fix=fix)
    if terminate and group.last_line == object_lines and not text.endswith("\n"):
        text += "\n"
    return text
