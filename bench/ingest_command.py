"""Append coding-agent session logs (JSON Lines, e.g. ``~/.claude/projects/*/*.jsonl``) to a
segments-layout context on S3 or in a directory, one transcript per session file.

Each session is converted by ``contexts.transcripts`` (malformed lines are skipped and counted)
and appended with ``contexts.append.append_text``: new uniquely named segments, then a
conditional manifest write retried on conflicts, so several developers can ingest into one
shared context at the same time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contexts.append import append_text
from contexts.errors import ContextError
from contexts.transcripts import read_transcript


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ctxlab ingest`` options."""
    parser.add_argument(
        "paths", nargs="+", type=Path, help="session .jsonl files, or folders searched for them"
    )
    parser.add_argument(
        "--to", required=True, help="the context: s3://bucket/prefix/ or a directory"
    )
    parser.add_argument("--endpoint-url", help="S3-compatible endpoint (MinIO, R2, moto, ...)")
    parser.add_argument("--region", help="region of the bucket")
    parser.add_argument("--aws-profile", help="AWS profile (default: standard chain)")
    parser.add_argument(
        "--lines-per-segment", type=int, default=1000, help="lines per new segment (default 1000)"
    )
    parser.add_argument("--writer", default="", help="a label for this writer's segment names")


def session_files(paths: list[Path]) -> list[Path]:
    """The ``.jsonl`` files named or found (recursively) in folders, in a stable order."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
    return found


def run(args: argparse.Namespace) -> int:
    """Ingest every session; non-zero if a file could not be read or appended."""
    files = session_files(args.paths)
    if not files:
        print("ctxlab ingest: no .jsonl session files found", file=sys.stderr)
        return 1
    failures = appended = skipped = 0
    for path in files:
        try:
            transcript = read_transcript(path)
        except OSError as exc:
            print(f"ctxlab ingest: cannot read {path}: {exc.strerror}", file=sys.stderr)
            failures += 1
            continue
        skipped += transcript.skipped
        note = f"{transcript.skipped} malformed line(s) skipped"
        if transcript.messages == 0:
            print(f"{path}: no user/assistant messages ({note}); nothing appended")
            continue
        try:
            result = append_text(
                transcript.text,
                args.to,
                lines_per_segment=args.lines_per_segment,
                writer=args.writer,
                endpoint_url=args.endpoint_url,
                region_name=args.region,
                profile_name=args.aws_profile,
            )
        except ContextError as exc:
            print(f"ctxlab ingest: {path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        appended += 1
        print(
            f"{path}: session {transcript.session_id}: {result.line_count} lines "
            f"({transcript.messages} messages, {note}) at line {result.start_line:,}, "
            f"{result.retries} manifest retries"
        )
    print(f"ingested {appended} session(s) into {args.to}; {skipped} malformed line(s) skipped")
    return 1 if failures else 0
