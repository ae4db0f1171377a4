"""``s3-byte-range``: the single-object layout read by byte ranges on the threaded boto3 transport.

One text object (``context.txt``) and its line index (``context.idx``, one GET at open). A batch
of line ranges becomes byte spans of whole lines; the reader (:class:`SingleObjectReader`)
coalesces spans at most ``coalesce_bytes`` apart into one GET and splits any GET longer than
``part_bytes`` into parts of exactly ``part_bytes`` (the last shorter), which the thread pool
fetches at once. Parts are joined before decoding, so a UTF-8 character cut at a part boundary
decodes whole, and each range is cut out of its group's text.
"""

from __future__ import annotations

from typing import Unpack

from contexts.layouts.single import SingleObjectReader
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES, check_sizes
from contexts.s3_context import S3ClientOptions
from contexts.threaded import ThreadedS3Context


class ByteRangeS3Context(ThreadedS3Context):
    """``ctx[0:50000]`` costs one index GET (at open) plus ``ceil(bytes / part_bytes)`` range
    GETs in flight together; ``read_many`` of nearby ranges shares GETs.

    ``layout`` may only be ``"single"`` (the default); write the context with
    ``contexts.write_layout(text, url, layout="single")``.
    """

    name = "s3-byte-range"
    chunk_lines = 50_000

    def __init__(
        self,
        url: str,
        *,
        max_workers: int = 64,
        coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
        part_bytes: int | None = DEFAULT_PART_BYTES,
        layout: str = "single",
        **options: Unpack[S3ClientOptions],
    ) -> None:
        if layout != "single":
            raise ValueError(
                f"{self.name} reads the single-object layout only, not {layout!r}; write it with "
                "contexts.write_layout(text, url, layout='single') or use s3-threaded"
            )
        check_sizes(coalesce_bytes, part_bytes)
        self.coalesce_bytes = coalesce_bytes
        self.part_bytes = part_bytes
        super().__init__(url, max_workers=max_workers, layout="single", **options)
        reader = self.reader
        assert isinstance(reader, SingleObjectReader)
        self.reader = reader.configured(coalesce_bytes=coalesce_bytes, part_bytes=part_bytes)
