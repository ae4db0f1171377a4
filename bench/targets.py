"""Real bench targets: any S3 endpoint (AWS S3, S3 Express, MinIO, R2, ...) instead of moto.

``ctxlab bench --target s3://bucket/prefix`` runs the same matrix as the moto target with three
differences: requests go to a real endpoint (standard credential chain), the simulated network is
off (cells are labelled ``real``), and the run is guarded: a preflight turns missing credentials,
a missing bucket, denied access and a wrong region into one-line errors before any work; an
estimate of requests and bytes is confirmed first (``--yes`` skips the question); corpora go under
a run-specific prefix that is deleted afterwards, also on failure or Ctrl-C (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import tempfile
import uuid
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import botocore.exceptions as bce

from bench.lower_bound import op_line_ranges
from bench.network import NetworkProfile
from bench.runner import BenchConfig, BenchTarget, Corpus, TargetKind, cells_of
from contexts import registry
from contexts.auto import (
    HEAD_BYTES,
    LOAD_PART_BYTES,
    LOAD_WORKERS,
    PART_BYTES,
    head_parts,
    load_parts,
)
from contexts.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ContextError,
    CredentialsError,
    InvalidURLError,
    StorageError,
)
from contexts.layouts.line_index import LineIndex, build_index, plan_spans
from contexts.layouts.single import DEFAULT_STRIDE, TEXT_NAME
from contexts.location import S3Location, parse_location
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES
from contexts.transport.options import S3Options
from contexts.transport.s3 import make_s3_client, make_session, translate_error
from scenarios import get_scenario
from scenarios.corpus import generate_corpus

REAL_PROFILE = "real"
"""Profile label of cells measured on a real endpoint: no simulated network."""
_PROBE = ".ctxlab-preflight"
_SAMPLE_LINES = 20_000


class WrongRegionError(StorageError):
    """The bucket lives in another region than the client was configured for."""


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


# -- preflight ---------------------------------------------------------------------------------


def preflight(target: RealTarget) -> None:
    """Check credentials, the bucket, its region and write/delete access before any work.

    Raises a :class:`ContextError` whose one-line message says what to fix (never a secret).
    """
    options = target.options(connect_timeout_s=5.0, read_timeout_s=15.0, max_attempts=2)
    endpoint = options.describe_endpoint()
    bucket = target.location.bucket
    if make_session(options).get_credentials() is None:
        raise CredentialsError(
            f"no AWS credentials found for {endpoint}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --aws-profile, or run with an IAM role"
        )
    client = make_s3_client(options)
    try:
        try:
            response = client.head_bucket(Bucket=bucket)
        except Exception as exc:
            raise _bucket_error(exc, bucket, endpoint, client.meta.region_name, options) from None
        _check_region(response, bucket, client.meta.region_name)
        probe = target.run_prefix + _PROBE
        try:
            client.put_object(Bucket=bucket, Key=probe, Body=b"ctxlab preflight\n")
            client.delete_object(Bucket=bucket, Key=probe)
        except Exception as exc:
            raise _bucket_error(
                exc, bucket, endpoint, client.meta.region_name, options, writing=True
            ) from None
    finally:
        client.close()


def _bucket_error(
    exc: Exception,
    bucket: str,
    endpoint: str,
    region: str | None,
    options: S3Options,
    *,
    writing: bool = False,
) -> ContextError:
    """A one-line, fix-naming error for a failed preflight request."""
    if not isinstance(exc, bce.ClientError):
        return translate_error(exc, url=f"s3://{bucket}/", options=options)
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("404", "NoSuchBucket", "NotFound"):
        return BucketNotFoundError(
            f"bucket {bucket!r} does not exist on {endpoint}: create it "
            f"(aws s3 mb s3://{bucket}) or fix the bucket name / --endpoint-url"
        )
    if code in ("301", "PermanentRedirect", "AuthorizationHeaderMalformed"):
        _check_region(exc.response, bucket, region)
        return WrongRegionError(
            f"bucket {bucket!r} is not in region {region or '(default)'} ({code}): pass the "
            "bucket's region with --region"
        )
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return CredentialsError(
            f"{endpoint} rejected the AWS credentials in use ({code}): check AWS_PROFILE / "
            "--aws-profile or the access key, or refresh them (e.g. aws sso login)"
        )
    if code in ("403", "AccessDenied", "Forbidden", "AllAccessDisabled"):
        needed = "s3:PutObject and s3:DeleteObject" if writing else "s3:ListBucket"
        return AccessDeniedError(
            f"access to bucket {bucket!r} on {endpoint} was denied ({code}): the bench needs "
            f"{needed} (and s3:GetObject) there; check --aws-profile / AWS_PROFILE and the "
            "bucket policy"
        )
    return translate_error(exc, url=f"s3://{bucket}/", options=options)


def _check_region(response: dict[str, Any], bucket: str, region: str | None) -> None:
    """Raise :class:`WrongRegionError` if the bucket says it lives in another region."""
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    actual = headers.get("x-amz-bucket-region")
    if actual and region and region not in (actual, "auto"):
        raise WrongRegionError(
            f"bucket {bucket!r} is in region {actual}, not {region}: pass --region {actual}"
        )


# -- estimate and confirmation -----------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """What a real run will cost, roughly (an upper bound for caching contexts)."""

    requests: int
    """Uploads, downloads, preflight and cleanup requests."""
    bytes_up: int
    """Bytes uploaded (corpora and layout metadata)."""
    bytes_down: int
    """Bytes downloaded by the cells."""
    objects: int
    """Objects stored under the run prefix."""

    def describe(self) -> str:
        """One line for the confirmation question."""
        return (
            f"~{self.requests:,} requests, ~{_mb(self.bytes_up)} uploaded "
            f"({self.objects:,} objects), ~{_mb(self.bytes_down)} downloaded"
        )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def estimate(config: BenchConfig) -> Estimate:
    """Estimate a real run from the corpus sizes, layouts and scenario traces.

    Bytes per line come from a sample of the corpus; every read is charged whole segments (the
    segments layout) or the GETs the single layout's planner makes of each op's ranges, on an
    index of lines of that size, without caching, so caching and partial-read contexts cost
    less than estimated.
    """
    sample = generate_corpus(min(_SAMPLE_LINES, max(config.lines)), seed=config.seed)
    per_line = len(sample.encode("utf-8")) / max(1, sample.count("\n"))
    requests = 2  # preflight probe: put + delete
    objects = bytes_up = bytes_down = 0
    stored: set[tuple[int, str, int, bool]] = set()
    for name, scenario, _profile, lines in cells_of(config):
        spec = registry.spec(name)
        if spec.storage != "s3":
            continue
        layout = spec.layouts[0]
        write_options = dict(spec.write_options)
        per_segment = int(write_options.get("lines_per_segment", config.segment_lines))
        sidecars = "segment_index_stride" in write_options
        segments = math.ceil(lines / per_segment)
        if (lines, layout, per_segment, sidecars) not in stored:
            stored.add((lines, layout, per_segment, sidecars))
            count = segments * (2 if sidecars else 1) + 1 if layout == "segments" else 2
            objects += count
            requests += count
            bytes_up += int(lines * per_line) + 150 * segments
        trace = get_scenario(scenario).sessions(lines, seed=config.seed, count=config.sessions)
        requests += 1  # manifest or index at open
        if name == "s3-ram":  # preloads everything at open
            requests += segments
            bytes_down += int(lines * per_line)
        elif name == "auto":  # the other metadata, segment 1, tail and head parts at open,
            size = int(lines * per_line)  # then the rest of the text in load ranges
            requests += 3 + len(head_parts(HEAD_BYTES, PART_BYTES))
            loads = load_parts(size, LOAD_PART_BYTES, LOAD_WORKERS)
            requests += sum(1 for _start, stop in loads if stop > HEAD_BYTES)
            bytes_down += size
        if layout == "segments":
            for op in trace.ops:
                for first, stop in op_line_ranges(op, lines):
                    touched = (stop - 1) // per_segment - first // per_segment + 1
                    requests += touched
                    bytes_down += int(touched * per_segment * per_line)
        else:  # the layout's own planner, on an index of lines of the sample's mean size
            index = uniform_index(lines, per_line)
            for op in trace.ops:
                spans = [index.span(first, stop) for first, stop in op_line_ranges(op, lines)]
                groups, _ = plan_spans(
                    spans, coalesce_bytes=DEFAULT_COALESCE_BYTES, part_bytes=DEFAULT_PART_BYTES
                )
                requests += sum(len(group.parts) for group in groups)
                bytes_down += sum(group.byte_stop - group.fetch_start for group in groups)
    requests += 2 * math.ceil(objects / 1000)  # cleanup: list + delete_objects per 1000
    return Estimate(requests, bytes_up, bytes_down, objects)


@functools.lru_cache(maxsize=8)
def uniform_index(lines: int, per_line: float) -> LineIndex:
    """A line index of ``lines`` lines of ``per_line`` bytes each (for planning, not reading)."""
    starts = array("q", (round(number * per_line) for number in range(lines + 1)))
    return build_index(starts, object_name=TEXT_NAME, stride=DEFAULT_STRIDE)


def confirm(question: str, *, yes: bool, stdin: TextIO | None = None) -> None:
    """Ask ``question`` on a terminal; exit unless answered yes. Never waits on a pipe."""
    if yes:
        return
    stdin = stdin if stdin is not None else sys.stdin
    if stdin is None or not stdin.isatty():
        raise SystemExit(
            "ctxlab bench: refusing a real-bucket run without confirmation: stdin is not a "
            "terminal; pass --yes to confirm non-interactively"
        )
    print(f"{question} [y/N] ", end="", flush=True)
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise SystemExit("ctxlab bench: cancelled; nothing was uploaded")


# -- the target during a run ---------------------------------------------------------------------


class DirectTarget(BenchTarget):
    """Corpora on storage reached directly, with no simulated network: S3 layouts under
    ``s3_root`` (setup and measured traffic go to the same endpoint), directory layouts under
    ``workdir``. Used for real buckets and inside Modal containers."""

    def __init__(
        self, s3_root: str, layout_options: dict[str, Any], seed: int, workdir: Path
    ) -> None:
        self.s3_root = s3_root
        self.layout_options = layout_options
        self.seed = seed
        self.workdir = workdir
        self.corpora: dict[int, Corpus] = {}

    def write_options(self) -> dict[str, Any]:
        return dict(self.layout_options)

    def read_options(self) -> dict[str, Any]:
        return dict(self.layout_options)

    def set_profile(self, profile: str, seed: int) -> bool:
        """There is no simulated network to configure (and no fault is injected)."""
        return False

    def fault_counts(self) -> dict[str, int] | None:
        """Nothing is injected on a real network."""
        return None

    def network_model(self, label: str) -> NetworkProfile | None:
        """A real network has no model (its cells get no lower bound)."""
        return None


def delete_prefix(target: RealTarget) -> int:
    """Delete every object under the run prefix; the number deleted."""
    options = target.options()
    client = make_s3_client(options)
    deleted = 0
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=target.location.bucket, Prefix=target.run_prefix
        )
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not keys:
                continue
            response = client.delete_objects(
                Bucket=target.location.bucket, Delete={"Objects": keys, "Quiet": True}
            )
            if response.get("Errors"):
                raise StorageError(
                    f"{len(response['Errors'])} object(s) under {target.run_url} could not be "
                    f"deleted ({response['Errors'][0].get('Code')}); delete them with "
                    f"aws s3 rm --recursive {target.run_url}"
                )
            deleted += len(keys)
    except bce.BotoCoreError as exc:
        raise translate_error(exc, url=target.run_url, options=options) from exc
    except bce.ClientError as exc:
        raise translate_error(exc, url=target.run_url, options=options) from exc
    finally:
        client.close()
    return deleted


def real_target_kind(target: RealTarget, report: Callable[[str], None]) -> TargetKind:
    """The :class:`TargetKind` for ``run_bench``: uploads under the run prefix, cleans up."""

    @contextmanager
    def open_target(config: BenchConfig) -> Iterator[BenchTarget]:
        try:
            with tempfile.TemporaryDirectory(prefix="ctxlab-bench-") as workdir:
                yield DirectTarget(
                    target.run_url, target.layout_options(), config.seed, Path(workdir)
                )
        finally:
            if target.keep:
                report(f"kept the corpora under {target.run_url} (--keep)")
            else:
                report(f"deleted {delete_prefix(target):,} objects under {target.run_url}")

    meta = {
        "target": f"s3://{target.location.bucket}/{target.location.prefix}",
        "network": "real (no simulated network: profiles are off, cells are labelled 'real')",
        "endpoint": target.endpoint_url or "AWS S3",
        "region": target.region_name,
        "run_prefix": target.run_url,
        "kept": target.keep,
    }
    return TargetKind(meta, open_target, simulated=False)


def resolve(
    args: argparse.Namespace, config: BenchConfig, report: Callable[[str], None]
) -> tuple[BenchConfig, TargetKind | None]:
    """For ``--target s3://...``: preflight, estimate, confirmation; ``None`` for moto."""
    target = parse_target(args)
    if target is None:
        return config, None
    config = replace(config, profiles=(REAL_PROFILE,))
    try:
        preflight(target)
    except ContextError as exc:
        raise SystemExit(f"ctxlab bench: {exc}") from None
    cost = estimate(config)
    report(
        f"real target {target.run_url} ({target.endpoint_url or 'AWS S3'}): {cost.describe()}; "
        + ("kept afterwards (--keep)" if target.keep else "deleted afterwards")
    )
    confirm(f"Run {config.cell_count} cells against {target.run_url}?", yes=args.yes)
    return config, real_target_kind(target, report)
