"""Line-offset indexes: the compact, checked sidecar format, and reading byte spans planned from it.

File format (version 1)::

    {"format": "rlm-line-index", "version": 1, "object": "context.txt", "line_count": N,
     "byte_count": B, "stride": S}\\n
    zlib( little-endian uint64 deltas of: byte offsets of lines 0, S, 2S, ... and finally B )

A header line of JSON, then a zlib stream. Checkpoint ``k`` is the byte offset where line
``k * S`` starts; the final checkpoint is the object size. With ``S = 16`` a 1M-line, 100 MB
context has a ~100 KB index, and any line range maps to one byte range that over-reads fewer
than ``S`` lines at each end.

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
:func:`read_group` joins a group's parts *before* decoding (a UTF-8 character cut at a part
boundary decodes whole) and checks every indexed line boundary it relies on
(:class:`IntegrityError` on any disagreement).
"""

from __future__ import annotations

import json
import operator
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from itertools import accumulate, compress, count, repeat

from contexts.errors import IndexFormatError, IntegrityError, UnsafePathError
from contexts.lines import CharMap
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
    checkpoints: array[int]
    """Byte offset of line ``k * stride`` for each k, then ``byte_count``."""
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
        return first_line, last_line, self.checkpoints[low], self.checkpoints[high]

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
        if sys.byteorder != "little":
            deltas.byteswap()
        stream = zlib.compress(deltas.tobytes(), 6)
        return json.dumps(header).encode("utf-8") + b"\n" + stream + self.head + self.tail


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


def parse_index(data: bytes, *, url: str) -> LineIndex:
    """Parse and check an index sidecar read from ``url``; raise :class:`IndexFormatError`.
    Character offsets are computed and checked on first use (``char_checkpoints``)."""
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
        stream = zlib.decompressobj()
        raw = stream.decompress(payload)
        if not stream.eof:
            raise ValueError("the offset table is cut short")
        copies = stream.unused_data
        if len(copies) != sum(inline):
            raise ValueError(
                f"{len(copies)} bytes follow the offset table, the header says {sum(inline)}"
            )
        if sum(inline) > byte_count:
            raise ValueError(f"inline copies of {sum(inline)} bytes in a {byte_count}-byte object")
        head, tail = copies[: inline[0]], copies[inline[0] :]
        if len(raw) % 8:
            raise ValueError("offset table is not a whole number of uint64 values")
        deltas = array("Q")
        deltas.frombytes(raw)
        if sys.byteorder != "little":
            deltas.byteswap()
        excess = None
        if char_count is not None:
            if len(deltas) % 2:
                raise ValueError("a version-2 offset table must hold byte and character deltas")
            half = len(deltas) // 2
            excess = deltas[half:]
            del deltas[half:]
        checkpoints = array("q", accumulate(deltas))
    except (ValueError, KeyError, TypeError, zlib.error, OverflowError, UnsafePathError) as exc:
        raise IndexFormatError(f"line index {url} is unreadable: {exc}; {_FIX}") from None
    expected = checkpoint_count(line_count, stride) + 1
    if len(checkpoints) != expected:
        raise IndexFormatError(
            f"line index {url} has {len(checkpoints)} offsets but {line_count} lines at stride "
            f"{stride} need {expected}; {_FIX}"
        )
    if checkpoints[0] != 0 or checkpoints[-1] != byte_count:
        raise IndexFormatError(
            f"line index {url} offsets do not run from 0 to the object size {byte_count}; {_FIX}"
        )
    if deltas.count(0) > 1:  # unsigned deltas from 0: increasing unless another is zero
        raise IndexFormatError(f"line index {url} offsets are not increasing; {_FIX}")
    chars = None
    if excess is not None:  # computed and checked on first use
        chars = partial(_char_offsets, deltas, excess, char_count, url=url)
    return LineIndex(object_name, line_count, byte_count, stride, checkpoints, chars, head, tail)


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


def read_group(
    group: SpanGroup,
    bodies: Sequence[bytes],
    *,
    url: str,
    object_lines: int,
    terminate: bool,
    fix: str,
) -> str:
    """The text of ``group`` from the bodies of its parts (same order), checked against the index.

    Checks: each body has exactly the length asked for; the joined bytes are UTF-8 (errors name
    the absolute byte offset); every line boundary the group relies on — its start (from the
    byte before it) and each span's ends — falls right after a ``"\\n"`` and at the line number
    the index gives; only the object's last line may lack its ``"\\n"``. ``terminate`` appends a
    missing final ``"\\n"`` when the group reaches the end of an object that is not the end of
    the context (a seed-style segment).
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
    try:
        text = str(memoryview(data)[lead:], "utf-8") if lead else data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntegrityError(
            f"{url} is not valid UTF-8 at byte {group.byte_start + exc.start} ({exc.reason}): the "
            f"object does not match its index; {fix}"
        ) from None
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
    if terminate and group.last_line == object_lines and not text.endswith("\n"):
        text += "\n"
    return text
