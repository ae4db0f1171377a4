"""The segments layout: ``manifest.json`` plus one object per run of lines (seed format).

A segment whose manifest entry names a ``line_index`` sidecar can be read in part: when a batch
needs at most ``partial_max_fraction`` of its lines, the reader GETs the sidecar (once per
segment, lazily, cached) and then only the byte ranges holding those lines, coalesced and split
like the single-object layout's. Partial bodies cannot be checked against the entry's
``byte_count`` / ``sha256``; their lengths, UTF-8 and line boundaries are checked instead.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from contexts.errors import IntegrityError, ManifestNotFoundError, ObjectNotFoundError
from contexts.layouts.base import LineRange, ReadPlan
from contexts.layouts.line_index import (
    LineIndex,
    Span,
    SpanGroup,
    build_index,
    parse_index,
    plan_spans,
    read_group,
)
from contexts.layouts.manifest import MANIFEST_NAME, Manifest, SegmentEntry, parse_manifest
from contexts.lines import CharMap, IndexedText, count_lines, line_starts
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES, check_sizes
from contexts.transport.base import ByteRequest, Transport

_REWRITE = "rewrite the context with contexts.write_layout(...)"
DEFAULT_PARTIAL_MAX_FRACTION = 0.5
"""Read a segment in part only when a batch needs at most this share of its lines."""


def segment_name(number: int) -> str:
    """The seed's segment object name: ``segment_000001.log`` for the first segment."""
    return f"segment_{number:06d}.log"


def segment_index_name(number: int) -> str:
    """The line-index sidecar of segment ``number``: ``segment_000001.idx``."""
    return f"segment_{number:06d}.idx"


@dataclass(frozen=True)
class SegmentRead:
    """One unit of a segments plan: a whole segment object, or a group of its byte spans."""

    segment: int
    """Index of the segment in the manifest."""
    group: SpanGroup | None
    """The lines and byte ranges read, or ``None`` for the whole object (one GET)."""

    @property
    def first_line(self) -> int:
        """First line of the unit, relative to the segment."""
        return 0 if self.group is None else self.group.first_line

    @property
    def request_count(self) -> int:
        """GETs this unit issues."""
        return 1 if self.group is None else len(self.group.parts)


@dataclass(frozen=True)
class SegmentsPlan(ReadPlan):
    """A :class:`ReadPlan` that remembers which unit serves which part of each range."""

    reads: tuple[SegmentRead, ...]
    """Units in request order; their requests, concatenated, are :attr:`ReadPlan.requests`."""
    pieces: tuple[tuple[tuple[int, int, int], ...], ...]
    """For each range, ``(unit, start, stop)`` cuts (lines relative to the unit) to join."""


def check_partial_fraction(fraction: float) -> None:
    """Refuse a ``partial_max_fraction`` outside 0..1 (``ValueError``)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"partial_max_fraction must be between 0 and 1, not {fraction!r}")


class SegmentsReader:
    """Reads whole segment objects — or, for large segments with a line-index sidecar, only the
    byte ranges of the lines asked for — and cuts the requested lines out of them.

    Thread-safe: the only state is the cache of segment line indexes (each loaded once).
    """

    layout = "segments"

    def __init__(
        self,
        manifest: Manifest,
        transport: Transport,
        *,
        partial_reads: bool = True,
        partial_max_fraction: float = DEFAULT_PARTIAL_MAX_FRACTION,
        coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
        part_bytes: int | None = DEFAULT_PART_BYTES,
    ) -> None:
        check_sizes(coalesce_bytes, part_bytes)
        check_partial_fraction(partial_max_fraction)
        self.manifest = manifest
        self._byte_counts = {
            e.name: e.byte_count for e in manifest.segments if e.byte_count is not None
        }
        self.transport = transport
        self.partial_reads = partial_reads
        self.partial_max_fraction = partial_max_fraction
        self.coalesce_bytes = coalesce_bytes
        self.part_bytes = part_bytes
        self._indexed = partial_reads and any(s.line_index for s in manifest.segments)
        self._lock = threading.Lock()
        self._indexes: dict[int, LineIndex] = {}

    @classmethod
    def load(
        cls,
        transport: Transport,
        *,
        partial_reads: bool = True,
        partial_max_fraction: float = DEFAULT_PARTIAL_MAX_FRACTION,
        coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
        part_bytes: int | None = DEFAULT_PART_BYTES,
    ) -> SegmentsReader:
        """GET and validate ``manifest.json`` (one request)."""
        try:
            data = transport.get(MANIFEST_NAME)
        except ObjectNotFoundError:
            raise ManifestNotFoundError(
                f"no manifest at {transport.url(MANIFEST_NAME)}; write the context there with "
                "contexts.write_layout(text, url) or check the URL and prefix"
            ) from None
        prefix = transport.location.prefix
        manifest = parse_manifest(data, url=transport.url(MANIFEST_NAME), prefix=prefix)
        return cls(
            manifest,
            transport,
            partial_reads=partial_reads,
            partial_max_fraction=partial_max_fraction,
            coalesce_bytes=coalesce_bytes,
            part_bytes=part_bytes,
        )

    def configured(
        self,
        *,
        partial_reads: bool = True,
        partial_max_fraction: float = DEFAULT_PARTIAL_MAX_FRACTION,
        coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
        part_bytes: int | None = DEFAULT_PART_BYTES,
    ) -> SegmentsReader:
        """A reader of the same manifest (no request) with other partial-read settings."""
        return type(self)(
            self.manifest,
            self.transport,
            partial_reads=partial_reads,
            partial_max_fraction=partial_max_fraction,
            coalesce_bytes=coalesce_bytes,
            part_bytes=part_bytes,
        )

    @property
    def line_count(self) -> int:
        return self.manifest.line_count

    def object_size(self, name: str) -> int | None:
        return self._byte_counts.get(name)

    def char_map(self) -> CharMap | None:
        """Character offsets at segment starts, when the manifest records them."""
        return self.manifest.char_map()

    def segments_for(self, ranges: Sequence[LineRange]) -> list[int]:
        """Indices of the segments overlapping any range, ascending, each once."""
        wanted: set[int] = set()
        for start, stop in ranges:
            first = self.manifest.segment_index(start)
            last = self.manifest.segment_index(stop - 1)
            wanted.update(range(first, last + 1))
        return sorted(wanted)

    # -- planning ----------------------------------------------------------------------------

    def prerequisites(self, ranges: Sequence[LineRange]) -> tuple[ByteRequest, ...]:
        """The line indexes (sidecars) the plan of ``ranges`` needs and this reader has not
        learnt yet: those of segments it would read only in part."""
        if not self._indexed:
            return ()
        with self._lock:
            known = set(self._indexes)
        partial = self._partial_segments(self._pieces(ranges)[1])
        return tuple(ByteRequest(self._index_name(i)) for i in sorted(partial - known))

    def learn(self, requests: Sequence[ByteRequest], bodies: Sequence[bytes]) -> None:
        """Take the bodies of :meth:`prerequisites` (each index checked against its manifest
        entry: ``IntegrityError`` or ``IndexFormatError`` when it disagrees); later plans use
        them for the rest of the reader's life."""
        segment_of = {e.line_index: i for i, e in enumerate(self.manifest.segments) if e.line_index}
        checked = {
            segment_of[request.name]: self._check_index(segment_of[request.name], body)
            for request, body in zip(requests, bodies, strict=True)
        }
        with self._lock:
            self._indexes.update(checked)

    def _pieces(
        self, ranges: Sequence[LineRange]
    ) -> tuple[list[list[tuple[int, int, int]]], dict[int, list[tuple[int, int]]]]:
        """Each range's pieces as ``(segment, local start, local stop)``, and the local pieces
        each segment holds."""
        segments = self.manifest.segments
        cuts: list[list[tuple[int, int, int]]] = []
        local: dict[int, list[tuple[int, int]]] = {}
        for start, stop in ranges:
            pieces = []
            first, last = self.manifest.segment_index(start), self.manifest.segment_index(stop - 1)
            for index in range(first, last + 1):
                entry = segments[index]
                piece = (
                    max(start, entry.start_line) - entry.start_line,
                    min(stop, entry.stop_line) - entry.start_line,
                )
                pieces.append((index, *piece))
                local.setdefault(index, []).append(piece)
            cuts.append(pieces)
        return cuts, local

    def plan(self, ranges: Sequence[LineRange]) -> SegmentsPlan:
        """The requests for ``ranges`` (no I/O): a segment of which the batch needs at most
        ``partial_max_fraction`` is read by byte ranges when its index is learnt (see
        :meth:`prerequisites`), else whole."""
        segments = self.manifest.segments
        cuts, local = self._pieces(ranges)
        indexes: dict[int, LineIndex] = {}
        if self._indexed:
            with self._lock:
                indexes = dict(self._indexes)
        partial = self._partial_segments(local) & set(indexes) if indexes else set()

        reads: list[SegmentRead] = []
        whole_unit: dict[int, int] = {}
        span_unit: dict[tuple[int, Span], int] = {}
        for index in sorted(local):
            if index not in partial:
                whole_unit[index] = len(reads)
                reads.append(SegmentRead(index, None))
                continue
            line_index = indexes[index]
            spans = [line_index.span(a, b) for a, b in local[index]]
            groups, group_of = plan_spans(
                spans, coalesce_bytes=self.coalesce_bytes, part_bytes=self.part_bytes
            )
            for span in spans:
                span_unit[index, span] = len(reads) + group_of[span]
            reads.extend(SegmentRead(index, group) for group in groups)

        pieces_of_ranges = []
        for pieces in cuts:
            planned = []
            for index, a, b in pieces:
                if index in whole_unit:
                    planned.append((whole_unit[index], a, b))
                else:
                    unit = span_unit[index, indexes[index].span(a, b)]
                    offset = reads[unit].first_line
                    planned.append((unit, a - offset, b - offset))
            pieces_of_ranges.append(tuple(planned))

        requests = []
        for read in reads:
            entry = segments[read.segment]
            if read.group is None:
                requests.append(ByteRequest(entry.name))
            else:
                requests.extend(ByteRequest(entry.name, part) for part in read.group.parts)
        return SegmentsPlan(tuple(ranges), tuple(requests), tuple(reads), tuple(pieces_of_ranges))

    def _partial_segments(self, local: dict[int, list[tuple[int, int]]]) -> set[int]:
        """Segments with a line index of which the batch needs at most the allowed share."""
        partial = set()
        for index, pieces in local.items():
            entry = self.manifest.segments[index]
            if entry.line_index is None:
                continue
            covered, reach = 0, 0
            for a, b in sorted(pieces):
                if b > reach:
                    covered += b - max(a, reach)
                    reach = b
            if covered < entry.line_count and covered <= (
                self.partial_max_fraction * entry.line_count
            ):
                partial.add(index)
        return partial

    def _index_name(self, index: int) -> str:
        name = self.manifest.segments[index].line_index
        assert name is not None
        return name

    def _check_index(self, index: int, data: bytes) -> LineIndex:
        entry = self.manifest.segments[index]
        url = self.transport.url(self._index_name(index))
        line_index = parse_index(data, url=url)
        problems = []
        if line_index.object_name != entry.name:
            problems.append(f"it indexes {line_index.object_name!r}, not {entry.name!r}")
        if line_index.line_count != entry.line_count:
            problems.append(
                f"it counts {line_index.line_count} lines, the manifest {entry.line_count}"
            )
        if entry.byte_count is not None and line_index.byte_count != entry.byte_count:
            problems.append(
                f"it counts {line_index.byte_count} bytes, the manifest {entry.byte_count}"
            )
        if problems:
            raise IntegrityError(
                f"line index {url} disagrees with the manifest entry of segment "
                f"{self.transport.url(entry.name)}: {'; '.join(problems)}; {_REWRITE}"
            )
        return line_index

    # -- assembling --------------------------------------------------------------------------

    def assemble(self, plan: ReadPlan, bodies: Sequence[bytes]) -> list[str]:
        if not isinstance(plan, SegmentsPlan):  # a plain plan: whole segments, as planned here
            plan = self._whole_plan(plan.ranges)
        if len(bodies) != len(plan.requests):
            raise ValueError(f"{len(plan.requests)} bodies expected, not {len(bodies)}")
        last_segment = len(self.manifest.segments) - 1
        texts: list[IndexedText] = []
        at = 0
        for read in plan.reads:
            entry = self.manifest.segments[read.segment]
            if read.group is None:
                text = self._decode(read.segment, bodies[at])
                texts.append(IndexedText(text, entry.line_count))
            else:
                text = read_group(
                    read.group,
                    bodies[at : at + read.request_count],
                    url=self.transport.url(entry.name),
                    object_lines=entry.line_count,
                    terminate=read.segment != last_segment,
                    fix=_REWRITE,
                )
                texts.append(IndexedText(text, read.group.last_line - read.group.first_line))
            at += read.request_count
        return ["".join(texts[unit].cut(a, b) for unit, a, b in pieces) for pieces in plan.pieces]

    def _whole_plan(self, ranges: Sequence[LineRange]) -> SegmentsPlan:
        indices = self.segments_for(ranges)
        unit = {index: number for number, index in enumerate(indices)}
        segments = self.manifest.segments
        pieces = []
        for start, stop in ranges:
            first, last = self.manifest.segment_index(start), self.manifest.segment_index(stop - 1)
            pieces.append(
                tuple(
                    (
                        unit[i],
                        max(start, segments[i].start_line) - segments[i].start_line,
                        min(stop, segments[i].stop_line) - segments[i].start_line,
                    )
                    for i in range(first, last + 1)
                )
            )
        return SegmentsPlan(
            tuple(ranges),
            tuple(ByteRequest(segments[i].name) for i in indices),
            tuple(SegmentRead(i, None) for i in indices),
            tuple(pieces),
        )

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
    index: LineIndex | None = None
    """Its line-index sidecar (named by ``entry.line_index``), when requested."""


def build_segments(
    text: str, lines_per_segment: int, *, index_stride: int | None = None
) -> list[SegmentObject]:
    """Cut ``text`` into segment objects of ``lines_per_segment`` lines (the last may be short).

    With ``index_stride``, each segment also gets a line-index sidecar with the byte offset of
    every ``index_stride``-th line, named in its manifest entry.
    """
    if lines_per_segment < 1:
        raise ValueError(f"lines_per_segment must be at least 1, not {lines_per_segment}")
    if index_stride is not None and index_stride < 1:
        raise ValueError(f"segment_index_stride must be at least 1, not {index_stride}")
    starts = line_starts(text)
    total = len(starts) - 1
    segments = []
    for number, first in enumerate(range(0, total, lines_per_segment), start=1):
        last = min(total, first + lines_per_segment)
        data = text[starts[first] : starts[last]].encode("utf-8")
        ends_with_newline = text.endswith("\n", 0, starts[last])
        name = segment_name(number)
        index = None
        if index_stride is not None:
            index = build_index(line_starts(data), object_name=name, stride=index_stride)
        entry = SegmentEntry(
            name=name,
            start_line=first,
            line_count=last - first,
            byte_count=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            line_index=None if index is None else segment_index_name(number),
            char_count=starts[last] - starts[first] + (0 if ends_with_newline else 1),
            ends_with_newline=ends_with_newline,
        )
        segments.append(SegmentObject(entry, data, index))
    return segments
