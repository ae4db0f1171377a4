"""The single-object layout: one text object read by byte ranges, located by a line index sidecar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contexts.errors import IntegrityError, LayoutNotFoundError, ObjectNotFoundError
from contexts.layouts.base import LineRange, ReadPlan
from contexts.layouts.line_index import LineIndex, build_index, parse_index
from contexts.lines import IndexedText, count_lines, line_starts
from contexts.transport.base import ByteRequest, Transport

TEXT_NAME = "context.txt"
INDEX_NAME = "context.idx"
DEFAULT_STRIDE = 16
_REWRITE = "rewrite the context with contexts.write_layout(text, url, layout='single')"


class SingleObjectReader:
    """One byte-range GET per distinct line range; over-reads at most a stride at each end."""

    layout = "single"

    def __init__(self, index: LineIndex, transport: Transport) -> None:
        self.index = index
        self.transport = transport

    @classmethod
    def load(cls, transport: Transport, index_name: str = INDEX_NAME) -> SingleObjectReader:
        """GET and check the index sidecar (one request)."""
        try:
            data = transport.get(index_name)
        except ObjectNotFoundError:
            raise LayoutNotFoundError(
                f"no line index at {transport.url(index_name)}; write the context with "
                "contexts.write_layout(text, url, layout='single') or check the URL"
            ) from None
        return cls(parse_index(data, url=transport.url(index_name)), transport)

    @property
    def line_count(self) -> int:
        return self.index.line_count

    def plan(self, ranges: Sequence[LineRange]) -> ReadPlan:
        name = self.index.object_name
        spans = dict.fromkeys(self.index.span(start, stop)[2:] for start, stop in ranges)
        return ReadPlan(tuple(ranges), tuple(ByteRequest(name, span) for span in spans))

    def assemble(self, plan: ReadPlan, bodies: Sequence[bytes]) -> list[str]:
        fetched = {
            request.byte_range: body for request, body in zip(plan.requests, bodies, strict=True)
        }
        decoded: dict[tuple[int, int], IndexedText] = {}
        results = []
        for start, stop in plan.ranges:
            first_line, last_line, byte_start, byte_stop = self.index.span(start, stop)
            key = (byte_start, byte_stop)
            if key not in decoded:
                text = self._decode(fetched[key], first_line, last_line, key)
                decoded[key] = IndexedText(text, last_line - first_line)
            results.append(decoded[key].cut(start - first_line, stop - first_line))
        return results

    def _decode(self, body: bytes, first_line: int, last_line: int, span: tuple[int, int]) -> str:
        url = self.transport.url(self.index.object_name)
        byte_start, byte_stop = span
        if len(body) != byte_stop - byte_start:
            raise IntegrityError(
                f"{url} returned {len(body)} bytes for bytes {byte_start}-{byte_stop - 1} "
                f"({byte_stop - byte_start} expected): the object is shorter than its index says "
                f"or the transfer was cut; {_REWRITE}"
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IntegrityError(
                f"{url} is not valid UTF-8 at byte {byte_start + exc.start} ({exc.reason}): the "
                f"object does not match its index; {_REWRITE}"
            ) from None
        expected = last_line - first_line
        is_end = last_line == self.index.line_count
        if count_lines(text) != expected or not (is_end or text.endswith("\n")):
            raise IntegrityError(
                f"{url} bytes {byte_start}-{byte_stop - 1} hold {count_lines(text)} lines where "
                f"the index says {expected}: the object changed after indexing; {_REWRITE}"
            )
        return text


@dataclass(frozen=True)
class SingleObject:
    """The text object and its index, ready to upload."""

    data: bytes
    """The whole text, UTF-8."""
    index: LineIndex
    """Its line index."""


def build_single(
    text: str, *, object_name: str = TEXT_NAME, stride: int = DEFAULT_STRIDE
) -> SingleObject:
    """Encode ``text`` and index the byte offset of every ``stride``-th line."""
    data = text.encode("utf-8")
    index = build_index(line_starts(data), object_name=object_name, stride=stride)
    return SingleObject(data, index)
