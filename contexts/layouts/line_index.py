"""The line-offset index sidecar of the single-object layout: a compact, checked binary format.

File format (version 1)::

    {"format": "rlm-line-index", "version": 1, "object": "context.txt", "line_count": N,
     "byte_count": B, "stride": S}\\n
    zlib( little-endian uint64 deltas of: byte offsets of lines 0, S, 2S, ... and finally B )

A header line of JSON, then a zlib stream. Checkpoint ``k`` is the byte offset where line
``k * S`` starts; the final checkpoint is the object size. With ``S = 16`` a 1M-line, 100 MB
context has a ~100 KB index, and any line range maps to one byte range that over-reads fewer
than ``S`` lines at each end.
"""

from __future__ import annotations

import json
import sys
import zlib
from array import array
from dataclasses import dataclass
from itertools import accumulate, pairwise

from contexts.errors import IndexFormatError, UnsafePathError
from contexts.location import check_relative_name

FORMAT = "rlm-line-index"
VERSION = 1
_FIX = "rewrite the context with contexts.write_layout(text, url, layout='single')"


@dataclass(frozen=True)
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
        header = {
            "format": FORMAT,
            "version": VERSION,
            "object": self.object_name,
            "line_count": self.line_count,
            "byte_count": self.byte_count,
            "stride": self.stride,
        }
        deltas = array(
            "Q", (b - a for a, b in zip([0, *self.checkpoints], self.checkpoints, strict=False))
        )
        if sys.byteorder != "little":
            deltas.byteswap()
        return json.dumps(header).encode("utf-8") + b"\n" + zlib.compress(deltas.tobytes(), 6)


def build_index(line_byte_starts: array[int], *, object_name: str, stride: int) -> LineIndex:
    """An index from the byte offset of every line plus the object size as a final entry."""
    if stride < 1:
        raise ValueError(f"index_stride must be at least 1, not {stride}")
    line_count = len(line_byte_starts) - 1
    checkpoints = array("q", line_byte_starts[0:line_count:stride])
    checkpoints.append(line_byte_starts[-1])
    return LineIndex(object_name, line_count, line_byte_starts[-1], stride, checkpoints)


def parse_index(data: bytes, *, url: str) -> LineIndex:
    """Parse and check an index sidecar read from ``url``; raise :class:`IndexFormatError`."""
    header_bytes, newline, payload = data.partition(b"\n")
    try:
        if not newline:
            raise ValueError("no header line")
        header = json.loads(header_bytes)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} file")
        if header.get("version") != VERSION:
            raise ValueError(f"version {header.get('version')!r}, this reader knows {VERSION}")
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
        raw = zlib.decompress(payload)
        if len(raw) % 8:
            raise ValueError("offset table is not a whole number of uint64 values")
        deltas = array("Q")
        deltas.frombytes(raw)
        if sys.byteorder != "little":
            deltas.byteswap()
        checkpoints = array("q", accumulate(deltas))
    except (ValueError, KeyError, TypeError, zlib.error, OverflowError, UnsafePathError) as exc:
        raise IndexFormatError(f"line index {url} is unreadable: {exc}; {_FIX}") from None
    expected = -(-line_count // stride) + 1
    if len(checkpoints) != expected:
        raise IndexFormatError(
            f"line index {url} has {len(checkpoints)} offsets but {line_count} lines at stride "
            f"{stride} need {expected}; {_FIX}"
        )
    if checkpoints[0] != 0 or checkpoints[-1] != byte_count:
        raise IndexFormatError(
            f"line index {url} offsets do not run from 0 to the object size {byte_count}; {_FIX}"
        )
    if any(b <= a for a, b in pairwise(checkpoints)):
        raise IndexFormatError(f"line index {url} offsets are not increasing; {_FIX}")
    return LineIndex(object_name, line_count, byte_count, stride, checkpoints)
