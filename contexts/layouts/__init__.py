"""How lines map to objects: the seed *segments* layout and the *single object* + line index layout."""

from __future__ import annotations

from contexts.errors import AccessDeniedError, LayoutNotFoundError, ManifestNotFoundError
from contexts.layouts.base import LayoutReader, ReadPlan
from contexts.layouts.manifest import MANIFEST_NAME
from contexts.layouts.segments import SegmentsReader
from contexts.layouts.single import INDEX_NAME, SingleObjectReader
from contexts.transport.base import Transport

LAYOUTS = ("segments", "single")

__all__ = ["LAYOUTS", "LayoutReader", "ReadPlan", "open_layout"]


def open_layout(
    transport: Transport, layout: str = "auto", *, defer_table: bool = False
) -> LayoutReader:
    """Load the layout's metadata (one GET; ``auto`` tries the manifest, then the line index);
    ``defer_table``: a line index's offset table is checked when first used, not now."""
    if layout == "segments":
        return SegmentsReader.load(transport)
    if layout == "single":
        return SingleObjectReader.load(transport, defer_table=defer_table)
    if layout != "auto":
        raise ValueError(f"layout must be 'auto', 'segments' or 'single', not {layout!r}")
    denied: AccessDeniedError | None = None
    try:
        return SegmentsReader.load(transport)
    except ManifestNotFoundError:
        pass
    except AccessDeniedError as exc:
        # Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key: the context
        # may still be a single-object layout.
        denied = exc
    try:
        return SingleObjectReader.load(transport, defer_table=defer_table)
    except (LayoutNotFoundError, AccessDeniedError) as exc:
        if denied is not None:
            raise AccessDeniedError(
                f"reading {transport.url(MANIFEST_NAME)} and {transport.url(INDEX_NAME)} was "
                "denied; S3 also answers 403 for missing objects when the credentials lack "
                "s3:ListBucket, so check the URL, grant s3:GetObject (and s3:ListBucket), or "
                "pass layout='segments' / 'single'"
            ) from exc
        if isinstance(exc, AccessDeniedError):
            raise
    raise ManifestNotFoundError(
        f"no context at {transport.url()}: neither {transport.url(MANIFEST_NAME)} nor "
        f"{transport.url(INDEX_NAME)} exists; write one with contexts.write_layout(text, url) "
        "or check the URL and prefix"
    )
