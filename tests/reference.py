"""An independent reference for the tests: lines by regex, and raw-boto3 writers of both layouts.

None of this imports the code under test, so a bug there cannot hide itself here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import zlib
from array import array
from collections.abc import Callable

_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


def reference_lines(text: str) -> list[str]:
    """Lines as the design defines them: up to and including each "\\n"; the last may lack it."""
    return _LINE.findall(text)


def reference_grep(
    lines: list[str], pattern: str, max_hits: int | None = None
) -> list[tuple[int, str]]:
    """``(number, line)`` of each line ``re.search(pattern, line)`` matches, at most
    ``max(1, max_hits)`` of them (as ``Context.grep`` counts)."""
    hits = [(number, line) for number, line in enumerate(lines) if re.search(pattern, line)]
    return hits if max_hits is None else hits[: max(1, max_hits)]


def checkpoint_offsets(lines: list[str], stride: int, *, encoded: bool = False) -> array[int]:
    """Where every ``stride``-th line starts (in characters, or in UTF-8 bytes when
    ``encoded``), then the text's end: an index's checkpoints, computed the slow, plain way."""
    size = (lambda text: len(text.encode())) if encoded else len
    offsets = array("q", [size("".join(lines[:k])) for k in range(0, len(lines), stride)])
    offsets.append(size("".join(lines)))
    return offsets


def seed_segments(
    text: str, lines_per_segment: int, *, joined: bool = False
) -> list[tuple[str, bytes, int]]:
    """``(name, body, line_count)`` per segment.

    ``joined=False``: each line keeps its "\\n" (this project's writer). ``joined=True``: the
    seed uploader's ``"\\n".join(lines)`` with the line ends stripped.
    """
    lines = reference_lines(text)
    out = []
    for number, first in enumerate(range(0, len(lines), lines_per_segment), start=1):
        chunk = lines[first : first + lines_per_segment]
        body = "\n".join(line.removesuffix("\n") for line in chunk) if joined else "".join(chunk)
        out.append((f"segment_{number:06d}.log", body.encode("utf-8"), len(chunk)))
    return out


def seed_joined_text(text: str) -> str:
    """What a seed-joined layout of ``text`` holds: the final line's newline is lost, unless the
    final line is blank (then the declared line count restores it)."""
    lines = reference_lines(text)
    if not lines or lines[-1] == "\n" or not text.endswith("\n"):
        return text
    return text[:-1]


def upload_segments(
    put: Callable[[str, bytes], None],
    text: str,
    lines_per_segment: int,
    *,
    joined: bool = False,
    name_prefix: str = "",
    char_counts: bool = False,
) -> None:
    """Write the seed format: segment objects, then ``manifest.json``; ``char_counts`` adds each
    segment's ``char_count`` (and ``"ends_with_newline": false`` where its text lacks one)."""
    manifest = []
    start = 0
    lines = reference_lines(text)
    stored = seed_joined_text(text) if joined else text
    for name, body, count in seed_segments(text, lines_per_segment, joined=joined):
        put(name, body)
        entry: dict[str, object] = {
            "segment": name_prefix + name,
            "start_line": start,
            "line_count": count,
        }
        if char_counts:  # every line with its "\n", as read while the segment is not last
            entry["char_count"] = sum(
                len(line.removesuffix("\n")) + 1 for line in lines[start : start + count]
            )
            if start + count == len(lines) and not stored.endswith("\n"):
                entry["ends_with_newline"] = False
        manifest.append(entry)
        start += count
    put("manifest.json", json.dumps(manifest).encode("utf-8"))


def upload_single(
    put: Callable[[str, bytes], None],
    text: str,
    stride: int,
    *,
    char_offsets: bool = False,
    copies: tuple[int, int] = (0, 0),
    copies_checksum: bool = True,
) -> None:
    """Write the single-object layout: ``context.txt`` and its ``context.idx`` (format v1, or v2
    with character offsets when ``char_offsets``), carrying ``copies = (head, tail)`` bytes of
    the text's ends after the offset table when they are not zero, with their CRC-32 (over
    ``"{line_count} {byte_count} {stride} {head} {tail}\\n"`` and the copies) unless not
    ``copies_checksum`` (as written before the checksum existed)."""
    data = text.encode("utf-8")
    offsets, chars = [0], [0]
    for line in reference_lines(text):
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
        chars.append(chars[-1] + len(line))
    line_count = len(offsets) - 1
    checkpoints = [*offsets[0:line_count:stride], len(data)]
    deltas = array("Q", [checkpoints[0]] + [b - a for a, b in itertools.pairwise(checkpoints)])
    header: dict[str, object] = {
        "format": "rlm-line-index",
        "version": 1,
        "object": "context.txt",
        "line_count": line_count,
        "byte_count": len(data),
        "stride": stride,
    }
    if char_offsets:
        char_points = [*chars[0:line_count:stride], len(text)]
        char_deltas = [char_points[0]] + [b - a for a, b in itertools.pairwise(char_points)]
        deltas.extend([b - c for b, c in zip(deltas, char_deltas, strict=True)])
        header["version"] = 2
        header["char_count"] = len(text)
    head, tail = copies
    inline = b""
    if head or tail:
        header["head"], header["tail"] = head, tail
        inline = data[:head] + (data[len(data) - tail :] if tail else b"")
        if copies_checksum:
            bound = f"{line_count} {len(data)} {stride} {head} {tail}\n".encode()
            header["copies_crc32"] = zlib.crc32(bound + inline)
    put("context.txt", data)
    put(
        "context.idx",
        json.dumps(header).encode() + b"\n" + zlib.compress(deltas.tobytes()) + inline,
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
