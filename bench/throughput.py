"""Small-GET throughput per context: 1,000 one-line segments fetched as one batch
(``ctx.read_many``), on a network profile (``none`` measures pure client + server overhead).

Every context reads the same objects through its public API, so the table says which transport
has the least overhead on this machine, and how much a batch overlaps.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import boto3
from rich.console import Console
from rich.table import Table

import contexts
from bench.network import S3Server
from bench.network.aws_env import use_local_aws_env
from bench.network.buckets import ensure_bucket
from contexts import registry

BUCKET = "ctxlab-throughput"


@dataclass(frozen=True)
class ThroughputRow:
    """One context's small-GET rate."""

    context: str
    requests: int
    """GETs per repeat (the batch; the manifest is not counted)."""
    seconds: float
    """Median wall time of one batch."""
    correct: bool
    """Every repeat returned exactly the stored lines."""

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("inf")


def measure(
    server: S3Server, names: list[str], *, requests: int = 1000, repeats: int = 3
) -> list[ThroughputRow]:
    """Upload ``requests`` one-line segments once, then time each context's batch read."""
    lines = [f"line {i:06d} small object\n" for i in range(requests)]
    client = boto3.client("s3", endpoint_url=server.raw_endpoint)
    ensure_bucket(client, BUCKET)
    client.close()
    url = f"s3://{BUCKET}/{requests}-one-line-segments/"
    contexts.write_layout(
        "".join(lines), url, lines_per_segment=1, endpoint_url=server.raw_endpoint
    )
    ranges = [(i, i + 1) for i in range(requests)]
    rows = []
    for name in names:
        samples, correct = [], True
        for _ in range(repeats):
            with contexts.open_context(name, url, endpoint_url=server.shaped_endpoint) as ctx:
                before = ctx.stats
                started = time.perf_counter()
                answer = ctx.read_many(ranges)
                samples.append(time.perf_counter() - started)
                after = ctx.stats
                first_attempts = (after.requests - after.retries) - (
                    before.requests - before.retries
                )
                correct = correct and answer == lines and first_attempts == requests
        rows.append(ThroughputRow(name, requests, statistics.median(samples), correct))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ctxlab network throughput``."""
    parser.add_argument("--profile", default="none", help="network profile (default: none)")
    parser.add_argument("--requests", type=int, default=1000, help="GETs per batch (1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median; 3)")
    parser.add_argument(
        "--contexts", help="comma list (default: every registered S3 context)", default=None
    )


def run(args: argparse.Namespace) -> int:
    """Start the server, measure, print the table."""
    use_local_aws_env()
    names = (
        [n.strip() for n in args.contexts.split(",") if n.strip()]
        if args.contexts
        else [n for n in contexts.available() if registry.spec(n).storage == "s3"]
    )
    with S3Server(profile=args.profile) as server:
        rows = measure(server, names, requests=args.requests, repeats=args.repeats)
    table = Table(title=f"{args.requests} small GETs as one batch, profile {args.profile}")
    for column in ("context", "median batch", "requests/s", "correct"):
        table.add_column(column, justify="left" if column == "context" else "right")
    for row in sorted(rows, key=lambda r: r.seconds):
        table.add_row(
            row.context,
            f"{row.seconds:.3f} s",
            f"{row.requests_per_s:,.0f}",
            "yes" if row.correct else "NO",
        )
    Console(width=120).print(table)
    return 0 if all(row.correct for row in rows) else 1
