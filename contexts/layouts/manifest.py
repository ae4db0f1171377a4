"""The seed ``manifest.json``: parse it strictly, serialise it, and find the segment of a line.

The seed format is a JSON array of ``{"segment": "segment_000001.log", "start_line": 0,
"line_count": 1000}``. Segment names are relative to the context's prefix, or already carry it
(the seed uploader wrote both). This project's writer adds optional fields that readers use when
present and seed readers ignore: ``byte_count`` and ``sha256`` of the segment object (verified),
``line_index``, the name of a line-index sidecar of the segment (format:
:mod:`contexts.layouts.line_index`) that lets a reader fetch a few lines of a large segment by a
byte range instead of the whole object, and ``char_count`` (for the str view's character
offsets): the characters of the segment's lines as the context reads a segment that is not last,
every line ending with ``"\\n"``; with ``"ends_with_newline": false`` when its last line has no
``"\\n"`` (which the context shows only while the segment is last: an append after it ends it).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from contexts.errors import ManifestError, UnsafePathError
from contexts.lines import CharMap
from contexts.location import check_relative_name

MANIFEST_NAME = "manifest.json"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FIX = "rewrite the context with contexts.write_layout(...) or repair the manifest"


@dataclass(frozen=True)
class SegmentEntry:
    """One segment object and the lines it holds."""

    name: str
    """Object name relative to the context's prefix."""
    start_line: int
    """First line (0-based) of the whole context held by this segment."""
    line_count: int
    """Number of lines in the segment (at least 1)."""
    byte_count: int | None = None
    """Size of the segment object, when the writer recorded it."""
    sha256: str | None = None
    """Hex SHA-256 of the segment object, when the writer recorded it."""
    line_index: str | None = None
    """Name of the segment's line-index sidecar (relative to the prefix), when written."""
    char_count: int | None = None
    """Characters of the segment's lines, each ending with ``"\\n"``, when the writer recorded
    them (what the context reads while the segment is not last)."""
    ends_with_newline: bool = True
    """``False`` when the segment's last line has no ``"\\n"`` of its own (recorded beside
    ``char_count``; the context shows it only while the segment is last)."""

    def chars_read(self, *, is_last: bool) -> int | None:
        """Characters this segment contributes to the context; ``None`` without a recorded
        ``char_count``."""
        if self.char_count is None:
            return None
        return self.char_count - (1 if is_last and not self.ends_with_newline else 0)

    @property
    def stop_line(self) -> int:
        """One past the last line held by this segment."""
        return self.start_line + self.line_count

    def to_json(self) -> dict[str, Any]:
        """The manifest entry (seed fields first)."""
        entry: dict[str, Any] = {
            "segment": self.name,
            "start_line": self.start_line,
            "line_count": self.line_count,
        }
        if self.byte_count is not None:
            entry["byte_count"] = self.byte_count
        if self.sha256 is not None:
            entry["sha256"] = self.sha256
        if self.line_index is not None:
            entry["line_index"] = self.line_index
        if self.char_count is not None:
            entry["char_count"] = self.char_count
            if not self.ends_with_newline:
                entry["ends_with_newline"] = False
        return entry


@dataclass(frozen=True)
class Manifest:
    """A validated, gap-free, ordered list of segments."""

    segments: tuple[SegmentEntry, ...]
    """Segments in line order."""
    starts: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """``start_line`` of each segment, for bisection."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", tuple(s.start_line for s in self.segments))

    @property
    def line_count(self) -> int:
        """Lines in the whole context."""
        return self.segments[-1].stop_line if self.segments else 0

    def segment_index(self, line: int) -> int:
        """Index in :attr:`segments` of the segment holding ``line`` (0 <= line < line_count)."""
        return bisect_right(self.starts, line) - 1

    def char_map(self) -> CharMap | None:
        """``(lines, chars)``: the first line and character offset of every segment, then the
        line and character counts; ``None`` unless every entry records its ``char_count``."""
        lines, chars = [0], [0]
        last = len(self.segments) - 1
        for number, segment in enumerate(self.segments):
            count = segment.chars_read(is_last=number == last)
            if count is None:
                return None
            lines.append(segment.stop_line)
            chars.append(chars[-1] + count)
        return lines, chars

    def to_bytes(self) -> bytes:
        """The manifest as JSON (an array, like the seed's), one entry per line. Each entry is
        encoded on its own: ``json.dumps(..., indent=...)`` takes the pure-Python encoder, ten
        times slower, and an append re-encodes the whole manifest on every attempt."""
        if not self.segments:
            return b"[]"
        lines = ",\n".join(json.dumps(segment.to_json()) for segment in self.segments)
        return f"[\n{lines}\n]".encode()


def parse_manifest(data: bytes, *, url: str, prefix: str = "") -> Manifest:
    """Parse and validate manifest bytes read from ``url``; raise :class:`ManifestError` if bad.

    Names that already start with ``prefix`` are made relative to it (seed compatibility).
    """
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest {url} is not valid JSON ({exc}); {_FIX}") from None
    if not isinstance(raw, list):
        raise ManifestError(
            f"manifest {url} must be a JSON array of segment entries, not a "
            f"{type(raw).__name__}; {_FIX}"
        )
    segments = [
        _parse_entry(item, position=position, url=url, prefix=prefix)
        for position, item in enumerate(raw)
    ]
    for position in range(1, len(segments)):
        if segments[position].start_line < segments[position - 1].start_line:
            raise ManifestError(
                f"manifest {url} entry {position} ({segments[position].name!r}) starts at line "
                f"{segments[position].start_line}, before the entry above it: entries are "
                f"unsorted; sort them by start_line or {_FIX}"
            )
    seen: set[str] = set()
    expected_start = 0
    for position, entry in enumerate(segments):
        where = f"manifest {url} entry {position} ({entry.name!r})"
        if entry.name in seen:
            raise ManifestError(f"{where} names a segment listed twice; {_FIX}")
        seen.add(entry.name)
        if entry.start_line != expected_start:
            problem = "a gap" if entry.start_line > expected_start else "an overlap"
            raise ManifestError(
                f"{where} starts at line {entry.start_line} but the previous segments end at "
                f"line {expected_start}: {problem}; {_FIX}"
            )
        expected_start = entry.stop_line
    return Manifest(tuple(segments))


def _parse_entry(item: Any, *, position: int, url: str, prefix: str) -> SegmentEntry:
    where = f"manifest {url} entry {position}"
    if not isinstance(item, dict):
        raise ManifestError(f"{where} must be an object, not {type(item).__name__}; {_FIX}")
    missing = [key for key in ("segment", "start_line", "line_count") if key not in item]
    if missing:
        raise ManifestError(f"{where} lacks {', '.join(missing)}; {_FIX}")
    name = item["segment"]
    if not isinstance(name, str):
        raise ManifestError(f"{where}: 'segment' must be a string; {_FIX}")
    name = _relative_name(name, where=where, prefix=prefix)
    start_line = _integer(item, "start_line", where, minimum=0)
    line_count = _integer(item, "line_count", where, minimum=1)
    byte_count = _integer(item, "byte_count", where, minimum=0) if "byte_count" in item else None
    sha256 = item.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        raise ManifestError(f"{where}: 'sha256' must be 64 lowercase hex digits; {_FIX}")
    line_index = item.get("line_index")
    if line_index is not None:
        if not isinstance(line_index, str):
            raise ManifestError(f"{where}: 'line_index' must be a string; {_FIX}")
        line_index = _relative_name(line_index, where=f"{where} line_index", prefix=prefix)
        if line_index == name:
            raise ManifestError(f"{where}: 'line_index' names the segment itself; {_FIX}")
    char_count = (
        _integer(item, "char_count", where, minimum=line_count) if "char_count" in item else None
    )
    if (
        char_count is not None
        and byte_count is not None
        and not char_count - 1 <= byte_count <= 4 * char_count
    ):
        raise ManifestError(
            f"{where}: 'char_count' {char_count} cannot encode as {byte_count} bytes of UTF-8; {_FIX}"
        )
    ends_with_newline = item.get("ends_with_newline", True)
    if not isinstance(ends_with_newline, bool):
        raise ManifestError(f"{where}: 'ends_with_newline' must be true or false; {_FIX}")
    return SegmentEntry(
        name,
        start_line,
        line_count,
        byte_count,
        sha256,
        line_index,
        char_count,
        ends_with_newline,
    )


def _relative_name(name: str, *, where: str, prefix: str) -> str:
    """``name`` relative to the prefix, refused if it could leave it."""
    if prefix and name.startswith(prefix):
        name = name[len(prefix) :]
    try:
        check_relative_name(name, what=where)
    except UnsafePathError as exc:
        raise ManifestError(str(exc)) from None
    return name


def _integer(item: dict[str, Any], key: str, where: str, *, minimum: int) -> int:
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(f"{where}: {key!r} must be an integer, not {value!r}; {_FIX}")
    if value < minimum:
        raise ManifestError(f"{where}: {key!r} must be at least {minimum}, not {value}; {_FIX}")
    return value
