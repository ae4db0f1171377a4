"""The single-object layout: one text object read by byte ranges, located by a line index sidecar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from contexts.errors import LayoutNotFoundError, ObjectNotFoundError
from contexts.layouts.base import LineRange, ReadPlan
from contexts.layouts.line_index import (
    LineIndex,
    Span,
    SpanGroup,
    build_index,
    checked_group_bytes,
    decode_group_bytes,
    line_offset,
    line_offset_back,
    parse_index,
    plan_spans,
)
from contexts.lines import CharMap, line_starts
from contexts.ranges import check_sizes
from contexts.transport.base import ByteRequest, Transport

TEXT_NAME = "context.txt"
INDEX_NAME = "context.idx"
DEFAULT_STRIDE = 16
INLINE_BYTES = 64 * 1024
"""The index carries copies of the text's first and last this many bytes (each): one GET of it
opens the context and answers a peek at either end (``context[:100]``, ``context[-100:]``)."""
REWRITE_SINGLE = "rewrite the context with contexts.write_layout(text, url, layout='single')"
"""What to do about a text object that disagrees with its index (ends every such error)."""


@dataclass(frozen=True)
class SinglePlan(ReadPlan):
    """A :class:`ReadPlan` that remembers how its requests group into spans."""

    groups: tuple[SpanGroup, ...]
    """The groups of byte spans; their parts, in order, are :attr:`ReadPlan.requests`."""
    group_of: tuple[int, ...]
    """For each range, the group that holds it."""
    spans: tuple[Span, ...]
    """For each range, its span: the checkpoints around it (``LineIndex.span``)."""


class SingleObjectReader:
    """Reads line ranges of one text object by byte ranges, located by its line index.

    Each range maps to whole lines between index checkpoints (over-reading less than a stride at
    each end). With ``coalesce_bytes`` set, the spans of a batch at most that many bytes apart
    share one GET; with ``part_bytes`` set, a GET longer than that is split into parts that a
    concurrent transport fetches in parallel. Parts are joined before decoding, and each range
    decodes only its own lines' bytes (found from the checkpoint before it, a few ``find``
    calls). ``None`` for both (the default) is one GET per distinct span.
    """

    layout = "single"

    def __init__(
        self,
        index: LineIndex,
        transport: Transport,
        *,
        coalesce_bytes: int | None = None,
        part_bytes: int | None = None,
    ) -> None:
        check_sizes(coalesce_bytes, part_bytes)
        self.index = index
        self.transport = transport
        self.coalesce_bytes = coalesce_bytes
        self.part_bytes = part_bytes

    @classmethod
    def load(
        cls,
        transport: Transport,
        index_name: str = INDEX_NAME,
        *,
        coalesce_bytes: int | None = None,
        part_bytes: int | None = None,
        defer_table: bool = False,
    ) -> SingleObjectReader:
        """GET and check the index sidecar (one request); ``defer_table``: its offset table
        when first used (:func:`~contexts.layouts.line_index.parse_index`)."""
        check_sizes(coalesce_bytes, part_bytes)
        try:
            data = transport.get(index_name)
        except ObjectNotFoundError:
            raise LayoutNotFoundError(
                f"no line index at {transport.url(index_name)}; write the context with "
                "contexts.write_layout(text, url, layout='single') or check the URL"
            ) from None
        index = parse_index(data, url=transport.url(index_name), defer_table=defer_table)
        return cls(index, transport, coalesce_bytes=coalesce_bytes, part_bytes=part_bytes)

    def configured(
        self,
        *,
        coalesce_bytes: int | None = None,
        part_bytes: int | None = None,
    ) -> SingleObjectReader:
        """This reader (same index, no request) with other coalescing and part sizes."""
        return type(self)(
            self.index, self.transport, coalesce_bytes=coalesce_bytes, part_bytes=part_bytes
        )

    @property
    def line_count(self) -> int:
        return self.index.line_count

    def prerequisites(self, ranges: Sequence[LineRange]) -> tuple[ByteRequest, ...]:
        """Nothing: the index read at open is all the plans use."""
        return ()

    def learn(self, requests: Sequence[ByteRequest], bodies: Sequence[bytes]) -> None:
        """Nothing to learn (no prerequisites)."""

    def plan(self, ranges: Sequence[LineRange]) -> SinglePlan:
        spans: list[Span] = [self.index.span(start, stop) for start, stop in ranges]
        groups, group_of = plan_spans(
            spans, coalesce_bytes=self.coalesce_bytes, part_bytes=self.part_bytes
        )
        name = self.index.object_name
        requests = tuple(ByteRequest(name, part) for group in groups for part in group.parts)
        return SinglePlan(
            tuple(ranges),
            requests,
            tuple(groups),
            tuple(group_of[span] for span in spans),
            tuple(spans),
        )

    def object_size(self, name: str) -> int | None:
        return None  # every request is a byte range

    def char_map(self) -> CharMap | None:
        """Character offsets at the index's checkpoints (version-2 indexes)."""
        return self.index.char_map()

    def assemble(self, plan: ReadPlan, bodies: Sequence[bytes]) -> list[str]:
        if not isinstance(plan, SinglePlan):  # a plain plan of the same ranges: plan them again
            plan = self.plan(plan.ranges)
        if len(bodies) != len(plan.requests):
            raise ValueError(f"{len(plan.requests)} bodies expected, not {len(bodies)}")
        url = self.transport.url(self.index.object_name)
        groups: list[bytes] = []
        at = 0
        for group in plan.groups:
            count = len(group.parts)
            groups.append(
                checked_group_bytes(
                    group,
                    bodies[at : at + count],
                    url=url,
                    object_lines=self.index.line_count,
                    fix=REWRITE_SINGLE,
                )
            )
            at += count
        # Each range is decoded from its own bytes: no text of the whole group is made and
        # then cut (over a budget, that copy was as large as a read-ahead batch).
        results = []
        for (start, stop), number, span in zip(plan.ranges, plan.group_of, plan.spans, strict=True):
            group, data = plan.groups[number], groups[number]
            first_line, last_line, byte_start, byte_stop = span
            low = line_offset(data, byte_start - group.fetch_start, start - first_line)
            high = line_offset_back(data, byte_stop - group.fetch_start, last_line - stop)
            results.append(
                decode_group_bytes(
                    data, low, high, at=group.fetch_start, url=url, fix=REWRITE_SINGLE
                )
            )
        return results


@dataclass(frozen=True)
class SingleObject:
    """The text object and its index, ready to upload."""

    data: bytes
    """The whole text, UTF-8."""
    index: LineIndex
    """Its line index."""


def build_single(
    text: str,
    *,
    object_name: str = TEXT_NAME,
    stride: int = DEFAULT_STRIDE,
    inline_bytes: int = INLINE_BYTES,
) -> SingleObject:
    """Encode ``text`` and index the byte offset of every ``stride``-th line; the index carries
    copies of the first and last ``inline_bytes`` (each; 0: none) of the text."""
    if isinstance(inline_bytes, bool) or not isinstance(inline_bytes, int) or inline_bytes < 0:
        raise ValueError(f"inline_bytes must be a non-negative integer, not {inline_bytes!r}")
    data = text.encode("utf-8")
    index = build_index(
        line_starts(data),
        object_name=object_name,
        stride=stride,
        line_char_starts=line_starts(text),
    )
    head = data[:inline_bytes]
    tail = data[len(head) :][-inline_bytes:] if inline_bytes else b""
    return SingleObject(data, replace(index, head=head, tail=tail))
