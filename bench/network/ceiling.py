"""The ceiling: the bytes/s this machine's S3 server can actually deliver to a client.

The physical limit (``bench/lower_bound.py``) moves bytes at the profile's bandwidth capped by
this figure, so that a profile with unlimited bandwidth (``none``, ``seed``) does not pretend
that a 100 MB corpus arrives in no time. Measured once per bench run, before the first cell:
one large object is uploaded through the raw endpoint, then a few rounds of parallel range GETs
(boto3, one thread per range, as the lab's threaded contexts do) read it through the shaped
endpoint on the ``none`` profile; the best round's bytes/s is the ceiling. The object and its
bucket are deleted afterwards. Bounded: a time budget stops further rounds, every request has
timeouts and no retries, and a failure returns a ceiling of ``None`` with the error.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.network.aws_env import REGION, use_local_aws_env
from bench.network.buckets import ensure_bucket
from bench.network.server import S3Server

__all__ = ["BUCKET", "Ceiling", "measure_ceiling"]

BUCKET = "ctxlab-ceiling"
_KEY = "ceiling.bin"
OBJECT_BYTES = 64 << 20
PARALLEL = 8
ROUNDS = 5
BUDGET_S = 5.0


@dataclass(frozen=True)
class Ceiling:
    """What one measurement found (and how it was taken)."""

    bytes_per_s: float | None
    """The best round's bytes/s; ``None`` if the measurement failed."""
    object_bytes: int
    """Size of the object read in every round."""
    parallel: int
    """Range GETs in flight at once per round (each ``object_bytes / parallel`` bytes)."""
    rounds_bytes_per_s: tuple[float, ...]
    """Every timed round's bytes/s, in order (a warm-up round before them is not timed)."""
    requests: int
    """GETs sent through the shaped endpoint, the warm-up round included."""
    error: str | None = None
    """Why the measurement failed, if it did."""

    @property
    def range_bytes(self) -> int:
        """Bytes per range GET."""
        return self.object_bytes // self.parallel

    @property
    def method(self) -> str:
        """One line for the run metadata and the report."""
        return (
            f"best of {len(self.rounds_bytes_per_s)} rounds of {self.parallel} parallel range GETs "
            f"of {self.range_bytes >> 20} MiB ({self.object_bytes >> 20} MiB object, boto3 threads) "
            "through the shaped endpoint on the none profile"
        )

    def to_meta(self) -> dict[str, Any]:
        """JSON-ready form for the results' run metadata."""
        return {
            "bytes_per_s": self.bytes_per_s,
            "method": self.method,
            "object_bytes": self.object_bytes,
            "parallel": self.parallel,
            "range_bytes": self.range_bytes,
            "rounds_bytes_per_s": list(self.rounds_bytes_per_s),
            "requests": self.requests,
            "error": self.error,
        }


def measure_ceiling(
    server: S3Server,
    *,
    object_bytes: int = OBJECT_BYTES,
    parallel: int = PARALLEL,
    rounds: int = ROUNDS,
    budget_s: float = BUDGET_S,
) -> Ceiling:
    """Measure the bytes/s ``server`` delivers on its shaped endpoint (see the module docstring).

    Applies the ``none`` profile (at the server's seed; this also zeroes its counters) and
    leaves it applied. At least one round is timed; further rounds only while ``budget_s`` of
    timed rounds has not passed."""
    if parallel < 1 or rounds < 1 or object_bytes < parallel:
        raise ValueError("need parallel >= 1, rounds >= 1 and object_bytes >= parallel")
    import boto3
    from botocore.config import Config

    use_local_aws_env()
    part = object_bytes // parallel
    size = part * parallel
    config = Config(
        max_pool_connections=parallel,
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    samples: list[float] = []
    sent = [0]
    counting = threading.Lock()
    error: str | None = None
    clients: list[Any] = []

    def get(i: int) -> int:
        with counting:
            sent[0] += 1
        body = clients[1].get_object(
            Bucket=BUCKET, Key=_KEY, Range=f"bytes={i * part}-{(i + 1) * part - 1}"
        )["Body"]
        return len(body.read())

    try:
        server.set_profile("none", server.seed)
        for endpoint in (server.raw_endpoint, server.shaped_endpoint):
            clients.append(
                boto3.client("s3", endpoint_url=endpoint, region_name=REGION, config=config)
            )
        raw = clients[0]
        ensure_bucket(raw, BUCKET)  # one left over from an interrupted measurement is reused
        raw.put_object(Bucket=BUCKET, Key=_KEY, Body=bytes(size))
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="ctxlab-ceiling") as pool:
            _round(pool, get, parallel, size)  # warm-up: threads, connections, botocore handlers
            spent = 0.0
            while len(samples) < rounds and (not samples or spent < budget_s):
                started = time.perf_counter()
                _round(pool, get, parallel, size)
                elapsed = time.perf_counter() - started
                spent += elapsed
                samples.append(size / max(elapsed, 1e-9))
    except Exception as exc:  # a failed measurement leaves the ceiling unknown, not the run dead
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if clients:
            _delete(clients[0])
        for client in clients:
            client.close()
    best = max(samples) if samples and error is None else None
    return Ceiling(best, size, parallel, tuple(samples), sent[0], error)


def _round(pool: ThreadPoolExecutor, get: Callable[[int], int], parallel: int, size: int) -> None:
    """One round: ``parallel`` range GETs at once; every byte must arrive."""
    got = sum(pool.map(get, range(parallel)))
    if got != size:
        raise ValueError(f"a round read {got:,} bytes, not {size:,}")


def _delete(raw: Any) -> None:
    """Remove the object and the bucket (best effort: the server may be gone)."""
    for call, kwargs in (
        (raw.delete_object, {"Bucket": BUCKET, "Key": _KEY}),
        (raw.delete_bucket, {"Bucket": BUCKET}),
    ):
        with contextlib.suppress(Exception):  # cleanup must not hide the measurement's error
            call(**kwargs)
