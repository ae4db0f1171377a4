"""Store a text file as a context: on S3, in a directory, or in a Modal Volume.

``ctxlab upload FILE --to s3://bucket/prefix/`` or ``--to /some/dir`` is ``write_layout``;
``--to modal-volume NAME`` writes the layout to a temporary directory and uploads it with
``Volume.batch_upload`` (committed at once, so readers see all files or none) under ``--path``,
where a container that mounts the Volume at ``/data`` opens it as
``open_context("volume", "/data/PATH")``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from contexts.errors import ContextError, MissingDependencyError
from contexts.writer import WrittenLayout, write_layout

MODAL_VOLUME = "modal-volume"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ctxlab upload`` options."""
    parser.add_argument("file", type=Path, help="a UTF-8 text file")
    parser.add_argument(
        "--to",
        nargs="+",
        required=True,
        metavar="DEST",
        help="s3://bucket/prefix/, a directory, or 'modal-volume NAME'",
    )
    parser.add_argument("--path", default="ctx", help="folder inside the Modal Volume (ctx)")
    parser.add_argument("--layout", choices=("segments", "single"), default="segments")
    parser.add_argument("--lines-per-segment", type=int, default=1000)
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (MinIO, R2, moto, ...)")
    parser.add_argument("--region", help="region of the bucket")
    parser.add_argument("--aws-profile", help="AWS profile (default: standard chain)")


def upload_to_modal_volume(
    text: str, volume_name: str, path: str = "ctx", **layout_options: Any
) -> WrittenLayout:
    """Write ``text`` as a layout into the Modal Volume ``volume_name`` under ``path``."""
    try:
        import modal
    except ImportError:
        raise MissingDependencyError(
            "uploading to a Modal Volume needs Modal: pip install 'rlm-context-lab[modal]'"
        ) from None
    folder = PurePosixPath("/") / path.strip("/")
    with tempfile.TemporaryDirectory(prefix="ctxlab-upload-") as temp:
        written = write_layout(text, temp, **layout_options)
        volume = modal.Volume.from_name(volume_name, create_if_missing=True)
        with volume.batch_upload(force=True) as batch:
            for name in written.objects:  # data first, metadata last; committed together
                batch.put_file(Path(temp) / name, str(folder / name))
    return replace(written, url=f"modal-volume://{volume_name}{folder}/")


def run(args: argparse.Namespace) -> int:
    """Upload the file; prints what was written."""
    try:
        with open(args.file, encoding="utf-8", newline="") as handle:  # keep "\r\n" as is
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ctxlab upload: cannot read {args.file} as UTF-8 text: {exc}", file=sys.stderr)
        return 1
    options: dict[str, Any] = {"layout": args.layout, "lines_per_segment": args.lines_per_segment}
    try:
        if args.to[0] == MODAL_VOLUME:
            if len(args.to) != 2:
                raise SystemExit("ctxlab upload: write --to modal-volume NAME")
            written = upload_to_modal_volume(text, args.to[1], args.path, **options)
        elif len(args.to) == 1:
            s3 = {
                "endpoint_url": args.endpoint_url,
                "region_name": args.region,
                "profile_name": args.aws_profile,
            }
            written = write_layout(text, args.to[0], **options, **s3)
        else:
            raise SystemExit("ctxlab upload: --to takes one URL or directory, or modal-volume NAME")
    except ContextError as exc:
        print(f"ctxlab upload: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {written.line_count:,} lines ({written.byte_count:,} bytes, {written.layout} "
        f"layout, {len(written.objects)} objects) to {written.url}"
    )
    return 0
