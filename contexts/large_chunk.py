"""``s3-large-chunk``: 50,000-line segments read with parallel GETs, a few lines by byte range.

The segments layout written with ``lines_per_segment=50_000`` and a line-index sidecar per
segment (``segment_index_stride=64``; :meth:`LargeChunkS3Context.write` does both). Whole
segments (~5 MB each for chat transcripts) are fetched concurrently on the threaded boto3
transport; a read that needs at most ``partial_max_fraction`` of a segment's lines GETs that
segment's sidecar once (lazily, cached, counted in ``ctx.stats``) and then only the byte ranges
of those lines — a 100-line peek moves ~10 KB, not 5 MB. Manifests without sidecars (the seed's
own, or written without ``segment_index_stride``) are read whole, as by ``s3-threaded``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Unpack

from contexts.layouts.segments import DEFAULT_PARTIAL_MAX_FRACTION, SegmentsReader
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES, check_sizes
from contexts.s3_context import S3ClientOptions
from contexts.threaded import ThreadedS3Context
from contexts.writer import WrittenLayout, write_layout

LINES_PER_SEGMENT = 50_000
"""Lines per segment of the large-chunk layout."""
SEGMENT_INDEX_STRIDE = 64
"""Lines between the checkpoints of each segment's line index (~7 KB of chat transcript; a
50,000-line segment's sidecar is a few KB)."""


class LargeChunkS3Context(ThreadedS3Context):
    """``ctx[0:50000]`` is one whole-segment GET; ``ctx[:100]`` is one small sidecar GET plus
    one range GET of ~100 lines (the sidecar is then cached for the context's life).

    ``layout`` may only be ``"segments"`` (the default).
    """

    name = "s3-large-chunk"
    chunk_lines = 50_000
    write_options: ClassVar[dict[str, Any]] = {
        "lines_per_segment": LINES_PER_SEGMENT,
        "segment_index_stride": SEGMENT_INDEX_STRIDE,
    }
    """What :func:`contexts.write_layout` needs to write the layout this context is tuned for."""

    def __init__(
        self,
        url: str,
        *,
        max_workers: int = 64,
        partial_reads: bool = True,
        partial_max_fraction: float = DEFAULT_PARTIAL_MAX_FRACTION,
        coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
        part_bytes: int | None = DEFAULT_PART_BYTES,
        layout: str = "segments",
        **options: Unpack[S3ClientOptions],
    ) -> None:
        if layout != "segments":
            raise ValueError(
                f"{self.name} reads the segments layout only, not {layout!r}; write it with "
                "LargeChunkS3Context.write(text, url) or use s3-byte-range for layout='single'"
            )
        check_sizes(coalesce_bytes, part_bytes)
        if not 0.0 <= partial_max_fraction <= 1.0:
            raise ValueError(
                f"partial_max_fraction must be between 0 and 1, not {partial_max_fraction!r}"
            )
        super().__init__(url, max_workers=max_workers, layout="segments", **options)
        reader = self.reader
        assert isinstance(reader, SegmentsReader)
        self.reader = reader.configured(
            partial_reads=partial_reads,
            partial_max_fraction=partial_max_fraction,
            coalesce_bytes=coalesce_bytes,
            part_bytes=part_bytes,
        )

    @classmethod
    def write(cls, text: str, url: str, **options: Any) -> WrittenLayout:
        """Store ``text`` at ``url`` in the large-chunk layout (``options`` go to
        :func:`contexts.write_layout`, e.g. ``endpoint_url``, and may override the defaults)."""
        return write_layout(text, url, "segments", **{**cls.write_options, **options})
