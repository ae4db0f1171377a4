"""The real target named on the command line: ``--target s3://bucket/prefix`` and how to reach it."""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contexts.errors import InvalidURLError
from contexts.location import S3Location, parse_location
from contexts.transport.options import S3Options

REAL_PROFILE = "real"
"""Profile label of cells measured on a real endpoint: no simulated network."""


@dataclass(frozen=True)
class RealTarget:
    """A real S3 (or S3-compatible) bucket and prefix, and how to reach it."""

    location: S3Location
    """The bucket and the prefix under which each run gets its own prefix."""
    endpoint_url: str | None = None
    """Custom endpoint (MinIO, R2, moto, ...); ``None`` for AWS."""
    region_name: str | None = None
    """Region; ``None`` uses the environment / profile."""
    profile_name: str | None = None
    """Named AWS profile; ``None`` uses the standard chain (``AWS_PROFILE`` included)."""
    keep: bool = False
    """Keep the uploaded corpora after the run."""
    run_id: str = ""
    """The run-specific prefix component (``ctxlab-run-<utc>-<random>``)."""

    @property
    def run_prefix(self) -> str:
        """Key prefix of this run's objects."""
        return f"{self.location.prefix}{self.run_id}/"

    @property
    def run_url(self) -> str:
        """``s3://bucket/prefix/ctxlab-run-.../``."""
        return f"s3://{self.location.bucket}/{self.run_prefix}"

    def options(self, **overrides: Any) -> S3Options:
        """Client options for this target."""
        return S3Options(
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            profile_name=self.profile_name,
            **overrides,
        )

    def layout_options(self) -> dict[str, Any]:
        """``write_layout`` / ``open_context`` keyword arguments for this endpoint."""
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region_name,
            "profile_name": self.profile_name,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ctxlab bench`` target options."""
    parser.add_argument(
        "--target",
        default="moto",
        help="'moto' (the embedded server, default) or s3://bucket/prefix (a real endpoint)",
    )
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint for --target s3://...")
    parser.add_argument("--region", help="region of the --target bucket")
    parser.add_argument(
        "--aws-profile", help="AWS profile for --target s3://... (default: standard chain)"
    )
    parser.add_argument("--yes", action="store_true", help="skip the confirmation of a real run")
    parser.add_argument(
        "--keep", action="store_true", help="keep the corpora uploaded to a real target"
    )


def parse_target(args: argparse.Namespace) -> RealTarget | None:
    """The real target named by ``--target``, or ``None`` for moto; bad combinations exit."""
    if args.target == "moto":
        extra = [
            flag
            for flag, value in (
                ("--endpoint-url", args.endpoint_url),
                ("--region", args.region),
                ("--aws-profile", args.aws_profile),
                ("--keep", args.keep),
            )
            if value
        ]
        if extra:
            raise SystemExit(f"ctxlab bench: {', '.join(extra)} only apply to --target s3://...")
        return None
    if not args.target.startswith("s3://"):
        raise SystemExit(
            f"ctxlab bench: --target must be 'moto' or s3://bucket/prefix, not {args.target!r}"
        )
    if args.profiles:
        raise SystemExit(
            "ctxlab bench: --profile selects a simulated network, which is off for real "
            "targets; drop it (use --aws-profile for an AWS profile)"
        )
    try:
        location = parse_location(args.target)
        if args.endpoint_url:
            S3Options(endpoint_url=args.endpoint_url)  # validates the URL's shape
    except InvalidURLError as exc:
        raise SystemExit(f"ctxlab bench: {exc}") from None
    assert isinstance(location, S3Location)
    run_id = f"ctxlab-run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
    return RealTarget(location, args.endpoint_url, args.region, args.aws_profile, args.keep, run_id)
