"""The segments layout: ``manifest.json`` plus one object per run of lines (seed format)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from contexts.errors import IntegrityError, ManifestNotFoundError, ObjectNotFoundError
from contexts.layouts.base import LineRange, ReadPlan
from contexts.layouts.manifest import MANIFEST_NAME, Manifest, SegmentEntry, parse_manifest
from contexts.lines import IndexedText, count_lines, line_starts
from contexts.location import S3Location
from contexts.transport.base import ByteRequest, Transport

_REWRITE = "rewrite the context with contexts.write_layout(...)"


def segment_name(number: int) -> str:
    """The seed's segment object name: ``segment_000001.log`` for the first segment."""
    return f"segment_{number:06d}.log"


class SegmentsReader:
    """Reads whole segment objects and cuts the requested lines out of them."""

    layout = "segments"

    def __init__(self, manifest: Manifest, transport: Transport) -> None:
        self.manifest = manifest
        self.transport = transport

    @classmethod
    def load(cls, transport: Transport) -> SegmentsReader:
        """GET and validate ``manifest.json`` (one request)."""
        try:
            data = transport.get(MANIFEST_NAME)
        except ObjectNotFoundError:
            raise ManifestNotFoundError(
                f"no manifest at {transport.url(MANIFEST_NAME)}; write the context there with "
                "contexts.write_layout(text, url) or check the URL and prefix"
            ) from None
        prefix = transport.location.prefix if isinstance(transport.location, S3Location) else ""
        manifest = parse_manifest(data, url=transport.url(MANIFEST_NAME), prefix=prefix)
        return cls(manifest, transport)

    @property
    def line_count(self) -> int:
        return self.manifest.line_count

    def segments_for(self, ranges: Sequence[LineRange]) -> list[int]:
        """Indices of the segments overlapping any range, ascending, each once."""
        wanted: set[int] = set()
        for start, stop in ranges:
            first = self.manifest.segment_index(start)
            last = self.manifest.segment_index(stop - 1)
            wanted.update(range(first, last + 1))
        return sorted(wanted)

    def plan(self, ranges: Sequence[LineRange]) -> ReadPlan:
        segments = self.manifest.segments
        requests = tuple(ByteRequest(segments[i].name) for i in self.segments_for(ranges))
        return ReadPlan(tuple(ranges), requests)

    def assemble(self, plan: ReadPlan, bodies: Sequence[bytes]) -> list[str]:
        indices = self.segments_for(plan.ranges)
        decoded = {
            index: IndexedText(self._decode(index, body), self.manifest.segments[index].line_count)
            for index, body in zip(indices, bodies, strict=True)
        }
        return [self._cut(start, stop, decoded) for start, stop in plan.ranges]

    def _cut(self, start: int, stop: int, decoded: dict[int, IndexedText]) -> str:
        segments = self.manifest.segments
        pieces = []
        first, last = self.manifest.segment_index(start), self.manifest.segment_index(stop - 1)
        for index in range(first, last + 1):
            entry = segments[index]
            local_start = max(start, entry.start_line) - entry.start_line
            local_stop = min(stop, entry.stop_line) - entry.start_line
            pieces.append(decoded[index].cut(local_start, local_stop))
        return "".join(pieces)

    def _decode(self, index: int, body: bytes) -> str:
        """Segment text with every line terminated except the context's last; checked."""
        entry = self.manifest.segments[index]
        url = self.transport.url(entry.name)
        if entry.byte_count is not None and len(body) != entry.byte_count:
            raise IntegrityError(
                f"segment {url} has {len(body)} bytes but the manifest says {entry.byte_count}; "
                f"the object is truncated or was replaced: {_REWRITE}"
            )
        if entry.sha256 is not None and hashlib.sha256(body).hexdigest() != entry.sha256:
            raise IntegrityError(
                f"segment {url} does not match the manifest's sha256; the object is corrupt or "
                f"was replaced: {_REWRITE}"
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IntegrityError(
                f"segment {url} is not valid UTF-8 at byte {exc.start} ({exc.reason}); "
                f"{_REWRITE} from correctly encoded text"
            ) from None
        is_last = index == len(self.manifest.segments) - 1
        return normalise_segment(text, entry.line_count, is_last=is_last, url=url)


def normalise_segment(text: str, line_count: int, *, is_last: bool, url: str) -> str:
    """Check a segment holds ``line_count`` lines and end it with ``"\\n"`` unless it is last.

    Two writers exist. This project's writer stores each line with its ``"\\n"``. The seed's
    uploader stored ``"\\n".join(lines)``, so the boundary after a segment is a line break that is
    not in the object. The declared line count tells the two apart, with one blind spot: a
    segment that ends in ``"\n"`` and holds one line fewer than declared is also a valid seed
    segment whose last line is blank. Manifests from :func:`contexts.write_layout` carry
    ``byte_count`` and ``sha256``, which are checked first and close that gap.
    """
    if count_lines(text) == line_count and (is_last or text.endswith("\n")):
        return text
    if count_lines(text + "\n") == line_count:
        return text + "\n"
    raise IntegrityError(
        f"segment {url} holds {count_lines(text)} lines but the manifest says {line_count}; "
        f"the object is truncated or the manifest is stale: {_REWRITE}"
    )


@dataclass(frozen=True)
class SegmentObject:
    """One segment ready to upload."""

    entry: SegmentEntry
    """Its manifest entry."""
    data: bytes
    """The UTF-8 bytes of its lines, each with its ``"\\n"``."""


def build_segments(text: str, lines_per_segment: int) -> list[SegmentObject]:
    """Cut ``text`` into segment objects of ``lines_per_segment`` lines (the last may be short)."""
    if lines_per_segment < 1:
        raise ValueError(f"lines_per_segment must be at least 1, not {lines_per_segment}")
    starts = line_starts(text)
    total = len(starts) - 1
    segments = []
    for number, first in enumerate(range(0, total, lines_per_segment), start=1):
        last = min(total, first + lines_per_segment)
        data = text[starts[first] : starts[last]].encode("utf-8")
        entry = SegmentEntry(
            name=segment_name(number),
            start_line=first,
            line_count=last - first,
            byte_count=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        segments.append(SegmentObject(entry, data))
    return segments
