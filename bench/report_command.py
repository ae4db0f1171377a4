"""Write the report of a bench run: PNG figures, report.md and a self-contained index.html.

RUN_DIR is a folder written by `ctxlab bench` (it holds results.json). The report states the
lower-bound model, the winner per scenario with its import line, and the headline: best lab
context vs best s3fs peer vs s3-sequential.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="a ctxlab bench output folder"
    )


def run(args: argparse.Namespace) -> int:
    from bench.report.build import build_report  # matplotlib: import only when reporting

    run_dir: Path = args.run_dir
    if not (run_dir / "results.json").is_file():
        print(f"ctxlab report: no results.json in {run_dir}; run `ctxlab bench --out {run_dir}`")
        return 2
    files = build_report(run_dir)
    print(f"report: {files.markdown} and {files.html} ({len(files.images)} figures)")
    return 0
