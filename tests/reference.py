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
) -> None:
    """Write the seed format: segment objects, then ``manifest.json``."""
    manifest = []
    start = 0
    for name, body, count in seed_segments(text, lines_per_segment, joined=joined):
        put(name, body)
        manifest.append({"segment": name_prefix + name, "start_line": start, "line_count": count})
        start += count
    put("manifest.json", json.dumps(manifest).encode("utf-8"))


def upload_single(put: Callable[[str, bytes], None], text: str, stride: int) -> None:
    """Write the single-object layout: ``context.txt`` and its ``context.idx`` (format v1)."""
    data = text.encode("utf-8")
    offsets = [0]
    for line in reference_lines(text):
        offsets.append(offsets[-1] + len(line.encode("utf-8")))
    line_count = len(offsets) - 1
    checkpoints = [*offsets[0:line_count:stride], len(data)]
    deltas = array("Q", [checkpoints[0]] + [b - a for a, b in itertools.pairwise(checkpoints)])
    header = {
        "format": "rlm-line-index",
        "version": 1,
        "object": "context.txt",
        "line_count": line_count,
        "byte_count": len(data),
        "stride": stride,
    }
    put("context.txt", data)
    put("context.idx", json.dumps(header).encode() + b"\n" + zlib.compress(deltas.tobytes()))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
