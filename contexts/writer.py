"""``write_layout``: store a text as a context in either layout, on S3 or in a directory."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from contexts.layouts.manifest import MANIFEST_NAME, Manifest
from contexts.layouts.segments import build_segments
from contexts.layouts.single import (
    DEFAULT_STRIDE,
    INDEX_NAME,
    INLINE_BYTES,
    TEXT_NAME,
    build_single,
)
from contexts.location import check_relative_name
from contexts.transport.options import S3Options
from contexts.transport.s3 import WRITE_READ_TIMEOUT_S
from contexts.transport.storage import Writer, open_writer


@dataclass(frozen=True)
class WrittenLayout:
    """What :func:`write_layout` stored."""

    url: str
    """The context URL (open it with ``contexts.open_context(name, url)``)."""
    layout: str
    """``segments`` or ``single``."""
    line_count: int
    """Lines in the text."""
    byte_count: int
    """UTF-8 bytes of the text (excluding manifest / index)."""
    objects: tuple[str, ...]
    """Names written, relative to the URL, in write order (the manifest or index last)."""


def write_layout(
    text: str,
    url: str,
    layout: str = "segments",
    *,
    lines_per_segment: int = 1000,
    segment_index_stride: int | None = None,
    index_stride: int = DEFAULT_STRIDE,
    inline_bytes: int = INLINE_BYTES,
    object_name: str = TEXT_NAME,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    profile_name: str | None = None,
    max_workers: int = 16,
) -> WrittenLayout:
    """Write ``text`` to ``url`` (``s3://bucket/prefix/`` or a directory) in ``layout``.

    Data objects are written first (concurrently, ``max_workers`` at a time) and the manifest or
    index last, so a reader never sees metadata that points at missing objects.

    ``segments``: ``lines_per_segment`` lines per object (1000 = the seed; 50,000 = "large
    chunk"). ``segment_index_stride`` (default ``None``: none) also writes a line-index sidecar
    per segment (``segment_000001.idx``, the byte offset of every ``segment_index_stride``-th
    line) and names it in the manifest entry, so readers can fetch a few lines of a large segment
    by a byte range; seed readers ignore the extra field. ``single``: ``index_stride`` lines
    between the line index's checkpoints; the index carries copies of the text's first and last
    ``inline_bytes`` (each, 0: none), so one GET opens the context and answers a first peek.
    """
    if not isinstance(text, str):
        raise TypeError(f"write_layout needs a str, not {type(text).__name__}; decode bytes first")
    _check_encodable(text)
    writer: Writer = open_writer(
        url,
        S3Options(
            endpoint_url=endpoint_url,
            region_name=region_name,
            profile_name=profile_name,
            max_pool_connections=max_workers,
            read_timeout_s=WRITE_READ_TIMEOUT_S,
        ),
    )
    try:
        if layout == "segments":
            stale = INDEX_NAME
            segments = build_segments(text, lines_per_segment, index_stride=segment_index_stride)
            blobs = [(segment.entry.name, segment.data) for segment in segments]
            blobs += [
                (segment.entry.line_index, segment.index.to_bytes())
                for segment in segments
                if segment.entry.line_index is not None and segment.index is not None
            ]
            metadata = (MANIFEST_NAME, Manifest(tuple(s.entry for s in segments)).to_bytes())
            line_count = segments[-1].entry.stop_line if segments else 0
            byte_count = sum(len(segment.data) for segment in segments)
        elif layout == "single":
            if segment_index_stride is not None:
                raise ValueError(
                    "segment_index_stride applies to the segments layout; the single layout's "
                    "index stride is index_stride"
                )
            stale = MANIFEST_NAME
            check_relative_name(object_name, what="object_name")
            if object_name in (INDEX_NAME, MANIFEST_NAME):
                raise ValueError(
                    f"object_name {object_name!r} is reserved for layout metadata; "
                    f"choose another name such as {TEXT_NAME!r}"
                )
            single = build_single(
                text, object_name=object_name, stride=index_stride, inline_bytes=inline_bytes
            )
            blobs = [(object_name, single.data)]
            metadata = (INDEX_NAME, single.index.to_bytes())
            line_count, byte_count = single.index.line_count, single.index.byte_count
        else:
            raise ValueError(f"layout must be 'segments' or 'single', not {layout!r}")
        # Another layout's metadata at this URL would shadow the new one (``auto`` tries the
        # manifest first): remove it before any data is replaced.
        writer.delete(stale)
        _put_all(writer.put, blobs, max_workers)
        writer.put(*metadata)
    finally:
        writer.close()
    return WrittenLayout(
        url=url,
        layout=layout,
        line_count=line_count,
        byte_count=byte_count,
        objects=(*(name for name, _ in blobs), metadata[0]),
    )


def _put_all(
    put: Callable[[str, bytes], None], blobs: list[tuple[str, bytes]], max_workers: int
) -> None:
    if len(blobs) <= 1 or max_workers <= 1:
        for name, data in blobs:
            put(name, data)
        return
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="write-layout") as pool:
        for future in [pool.submit(put, name, data) for name, data in blobs]:
            future.result()


def _check_encodable(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"text cannot be stored as UTF-8: {exc.reason} at character {exc.start} "
            f"({text[exc.start]!r}); remove or replace lone surrogates first"
        ) from None
