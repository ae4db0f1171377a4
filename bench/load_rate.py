"""How fast ``auto`` loads a whole context, beside what the link and this machine allow.

    python -m bench.load_rate --lines 2000000 --profile s3-standard

Starts the embedded server (its own process) behind the profile, uploads a corpus in the
single-object layout through the raw endpoint, then runs, per repeat and in the same run:

* **the ceiling**: the text object read by ``--parallel`` equal range GETs on boto3 threads
  with nothing else to do (no index, no checks, no decoding): what the link and this machine
  deliver;
* **auto**: ``contexts.open(url)`` then ``wait_loaded()``, timed from open to the in-memory copy
  being in place, and checked against the corpus;
* **the CPU after the bytes**: the index checks that turn the fetched bytes into the in-memory
  context (what the load waits for), then the UTF-8 decoding of every block that follows the
  load in the background (or the first read of each block), both run on bytes already in
  memory.

It prints each repeat and the medians: auto's MB/s as a share of the ceiling, and how much of
auto's time the CPU part explains.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

import contexts
from bench.network import S3Server
from bench.network.aws_env import use_local_aws_env
from bench.network.buckets import ensure_bucket
from contexts.auto import AutoContext
from contexts.layouts.line_index import parse_index
from contexts.layouts.single import INDEX_NAME, TEXT_NAME
from contexts.loaded import CheckpointedText, loaded_context
from contexts.metadata_cache import CACHE_ENV
from contexts.ranges import split
from scenarios.corpus import generate_corpus

BUCKET = "ctxlab-load-rate"


@dataclass(frozen=True)
class Repeat:
    """One repeat's timings (seconds)."""

    ceiling_s: float
    auto_open_s: float
    auto_loaded_s: float
    """From the start of open to the in-memory copy in place."""
    cpu_s: float
    """The checks the load waits for."""
    decode_s: float
    """The decoding after it."""


def ceiling_read(client: Any, key: str, size: int, parallel: int) -> float:
    """Seconds to read the object as ``parallel`` equal range GETs at once."""
    ranges = split(0, size, -(-size // parallel))

    def get(bounds: tuple[int, int]) -> int:
        start, stop = bounds
        response = client.get_object(Bucket=BUCKET, Key=key, Range=f"bytes={start}-{stop - 1}")
        return len(response["Body"].read())

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        got = sum(pool.map(get, ranges))
    elapsed = time.perf_counter() - started
    if got != size:
        raise SystemExit(f"load_rate: the ceiling read got {got:,} bytes of {size:,}")
    return elapsed


def cpu_after_bytes(data: bytes, index_data: bytes, url: str) -> tuple[float, float]:
    """Seconds of the checks auto runs on the fetched bytes, and of the decoding after them."""
    index = parse_index(index_data, url=url)
    started = time.perf_counter()
    memory = loaded_context([data], index, url)
    checked = time.perf_counter()
    if isinstance(memory, CheckpointedText):
        memory.decode_all()
    return checked - started, time.perf_counter() - checked


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load_rate", description=__doc__)
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--profile", default="s3-standard")
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    use_local_aws_env()
    os.environ[CACHE_ENV] = "off"  # every open fetches its metadata
    corpus = generate_corpus(args.lines, seed=args.seed)
    url = f"s3://{BUCKET}/load-{args.lines}/"
    with S3Server(profile=args.profile, seed=args.seed) as server:
        raw = boto3.client("s3", endpoint_url=server.raw_endpoint)
        ensure_bucket(raw, BUCKET)
        contexts.write_layout(corpus, url, "single", endpoint_url=server.raw_endpoint)
        key_prefix = url.split("/", 3)[3]
        data = raw.get_object(Bucket=BUCKET, Key=key_prefix + TEXT_NAME)["Body"].read()
        index_data = raw.get_object(Bucket=BUCKET, Key=key_prefix + INDEX_NAME)["Body"].read()
        raw.close()
        size = len(data)
        print(f"{args.lines:,} lines, {size / 1e6:.1f} MB, profile {args.profile}")
        shaped = boto3.client(
            "s3",
            endpoint_url=server.shaped_endpoint,
            config=Config(max_pool_connections=args.parallel, retries={"total_max_attempts": 1}),
        )
        repeats: list[Repeat] = []
        for number in range(args.repeats):
            ceiling = ceiling_read(shaped, key_prefix + TEXT_NAME, size, args.parallel)
            started = time.perf_counter()
            ctx = contexts.open(url, endpoint_url=server.shaped_endpoint, max_bytes=4 * size)
            opened = time.perf_counter() - started
            assert isinstance(ctx, AutoContext)
            loaded_ok = ctx.wait_loaded()
            loaded = time.perf_counter() - started
            if not loaded_ok or ctx.text() != corpus:
                raise SystemExit(f"load_rate: auto did not load the corpus ({ctx.load_error})")
            ctx.close()
            cpu, decode = cpu_after_bytes(data, index_data, url)
            repeats.append(Repeat(ceiling, opened, loaded, cpu, decode))
            print(
                f"repeat {number + 1}: ceiling {size / ceiling / 1e6:7.1f} MB/s ({ceiling:.2f} s) | "
                f"auto open {opened:.3f} s, loaded {loaded:.2f} s = {size / loaded / 1e6:7.1f} MB/s "
                f"({ceiling / loaded:.0%} of the ceiling) | CPU after the bytes {cpu:.2f} s "
                f"(then {decode:.2f} s decoding in the background)"
            )
        shaped.close()
    ceiling_s = statistics.median(r.ceiling_s for r in repeats)
    loaded_s = statistics.median(r.auto_loaded_s for r in repeats)
    cpu_s = statistics.median(r.cpu_s for r in repeats)
    opened_s = statistics.median(r.auto_open_s for r in repeats)
    print(
        f"median: ceiling {size / ceiling_s / 1e6:.1f} MB/s, auto {size / loaded_s / 1e6:.1f} MB/s "
        f"= {ceiling_s / loaded_s:.0%} of the ceiling; of auto's {loaded_s:.2f} s, "
        f"{opened_s:.2f} s the open (metadata first), {ceiling_s:.2f} s the transfer at the "
        f"ceiling and {cpu_s:.2f} s the checks after it"
    )


if __name__ == "__main__":
    main()
