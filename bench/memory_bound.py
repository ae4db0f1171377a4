"""Resident memory of ``auto`` on a context larger than its budget, on a network with faults.

    python -m bench.memory_bound [--lines 700000] [--max-bytes 33554432] [--profile faulty]

Starts the embedded server (its own process) behind the profile, uploads a corpus in the
single-object layout through the raw endpoint, then opens ``contexts.open(url,
max_bytes=...)`` over it: a text larger than ``max_bytes`` is not loaded, and reads go through
the byte-bounded LRU cache with read-ahead. It reads the text as an RLM would, checking every
answer against the corpus's lines (:class:`bench.oracle.LineListOracle`):

* a scan of every line in ``--slice-lines`` slices;
* ``--random`` slices of 1 to 1,000 lines at random places;
* two greps over the whole text.

A sampler thread reads this process's resident set (``/proc/self/statm``) every 2 ms. The
figure is its peak above the resident set just before the open: the context's cache and
buffers, plus the answers and expected answers alive at that moment (a 10,000-line slice of
this corpus is a ~1 MB text, held as a ``str`` of 1 to 4 bytes per character, and its
expected answer beside it; a grep's hits), and what the allocator keeps. Before that baseline
the allocator returns what it keeps freed (glibc: :func:`release_freed_memory`): generating the
corpus frees hundreds of MB, which the context's allocations would otherwise reuse unseen.
The overhead is that peak minus ``max_bytes``. Then ``close()``, and the threads the context
left (there must be none).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import re
import threading
import time

import boto3

import contexts
from bench.network import S3Server
from bench.network.aws_env import use_local_aws_env
from bench.network.buckets import ensure_bucket
from bench.oracle import LineListOracle
from contexts.auto import AutoContext
from contexts.metadata_cache import CACHE_ENV
from scenarios.corpus import generate_corpus

BUCKET = "ctxlab-memory-bound"
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
GREPS = (r"ERROR", r"session_id=\w+")


def release_freed_memory() -> bool:
    """Return the memory the allocator keeps freed to the system (glibc's ``malloc_trim``), so
    the baseline holds none the context could reuse unseen (generating the corpus frees
    hundreds of MB); ``False`` where the C library has no such call."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


def resident_bytes() -> int:
    """This process's resident set (Linux: ``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


class PeakSampler:
    """The peak resident set while it runs, sampled every ``interval_s`` on a thread."""

    def __init__(self, interval_s: float = 0.002) -> None:
        self.interval_s = interval_s
        self.peak = resident_bytes()
        self.samples = 0
        """Samples taken so far."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-bound-sampler")

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak = max(self.peak, resident_bytes())
            self.samples += 1

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_bound", description=__doc__)
    parser.add_argument("--lines", type=int, default=700_000)
    parser.add_argument("--max-bytes", type=int, default=32 * 1024 * 1024)
    parser.add_argument("--profile", default="faulty")
    parser.add_argument("--slice-lines", type=int, default=10_000)
    parser.add_argument("--random", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    use_local_aws_env()
    os.environ[CACHE_ENV] = "off"
    corpus = generate_corpus(args.lines, seed=args.seed)
    oracle = LineListOracle(corpus)
    size = len(corpus.encode("utf-8"))
    if size < 2 * args.max_bytes:
        raise SystemExit(
            f"memory_bound: the corpus ({size:,} bytes) is under twice --max-bytes "
            f"({args.max_bytes:,}); raise --lines"
        )
    url = f"s3://{BUCKET}/memory-{args.lines}/"
    rng = random.Random(args.seed)
    ops = wrong = 0
    with S3Server(profile=args.profile, seed=args.seed) as server:
        raw = boto3.client("s3", endpoint_url=server.raw_endpoint)
        ensure_bucket(raw, BUCKET)
        raw.close()
        contexts.write_layout(corpus, url, "single", endpoint_url=server.raw_endpoint)
        greps = {
            pattern: [(n, line) for n, line in enumerate(oracle.lines) if re.search(pattern, line)]
            for pattern in GREPS
        }
        threads = set(threading.enumerate())
        trimmed = release_freed_memory()
        before = resident_bytes()
        started = time.perf_counter()
        with PeakSampler() as sampler:
            ctx = contexts.open(url, endpoint_url=server.shaped_endpoint, max_bytes=args.max_bytes)
            assert isinstance(ctx, AutoContext)
            count = len(ctx)
            ops, wrong = 1, int(count != oracle.length())
            for start in range(0, count, args.slice_lines):
                ops += 1
                wrong += ctx[start : start + args.slice_lines] != oracle.read(
                    start, start + args.slice_lines
                )
            for _ in range(args.random):
                start = rng.randrange(count)
                stop = start + rng.randint(1, 1000)
                ops += 1
                wrong += ctx[start:stop] != oracle.read(start, stop)
            for pattern, expected in greps.items():
                ops += 1
                wrong += [(hit[0], hit[1]) for hit in ctx.grep(pattern)] != expected
            loaded, stats, client = ctx.loaded, ctx.stats, ctx.client
            ctx.close()
        elapsed = time.perf_counter() - started
        left = [thread.name for thread in threading.enumerate() if thread not in threads]
    peak = sampler.peak - before
    print(
        f"{args.lines:,} lines, {size / 1e6:.1f} MB text, max_bytes {args.max_bytes / 1e6:.1f} MB "
        f"({size / args.max_bytes:.1f}x), profile {args.profile}, client {client}, "
        f"loaded {loaded}"
    )
    print(
        f"{ops} ops in {elapsed:.1f} s, {wrong} wrong; {stats.requests} requests, "
        f"{stats.retries} retries; {stats.bytes_fetched / 1e6:.1f} MB fetched"
    )
    print(
        f"peak resident set above the one before open: {peak / 1e6:.1f} MB = max_bytes + "
        f"{(peak - args.max_bytes) / 1e6:.1f} MB; threads left after close(): {left or 'none'}"
    )
    print(
        f"baseline: {'freed memory returned first (malloc_trim)' if trimmed else 'as found'}; "
        f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}"
    )
    if wrong or left or loaded:
        raise SystemExit("memory_bound: wrong answers, a loaded text or threads left (above)")


if __name__ == "__main__":
    main()
