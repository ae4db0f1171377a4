"""`ctxlab network calibrate`: measure what real clients pay on the shaped endpoint, next to
what the profile predicts.

Three cases per client: one small GET (about one first-byte latency), N concurrent small GETs
(about one first-byte latency too, not N), and one large GET (latency + size / bandwidth).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from bench.network.aws_env import REGION, use_local_aws_env
from bench.network.buckets import ensure_bucket
from bench.network.choice import (
    SERVERS,
    SHAPINGS,
    ServerChoice,
    ServerChoiceError,
    ServerStartError,
    serve,
)
from bench.network.profiles import NetworkProfile, ProfileError, load_profile
from bench.network.server import S3Server, ServerError

__all__ = ["CLIENTS", "CalibrationRow", "add_arguments", "calibrate", "predict_ms", "run"]

CLIENTS = ("boto3", "aioboto3")
BUCKET = "ctxlab-calibration"
SMALL_BYTES = 1024
LARGE_BYTES = 16 * 1024 * 1024
POOL_CONNECTIONS = 64


@dataclass(frozen=True)
class CalibrationRow:
    """One measured case next to the profile's prediction."""

    client: str
    """`boto3` or `aioboto3`."""
    case: str
    """What was timed, e.g. `50 x GET 1 KiB` (50 concurrent GETs)."""
    measured_ms: float
    """Median wall time over the successful repeats (NaN if none succeeded)."""
    predicted_ms: float
    """Median first-byte delay (of the slowest of N for concurrent GETs) + size / bandwidth."""
    repeats: int
    """Timed repeats that succeeded."""
    errors: int
    """Timed repeats that failed (injected faults that the client did not retry)."""

    @property
    def ratio(self) -> float:
        """measured / predicted (NaN when the prediction is 0)."""
        return self.measured_ms / self.predicted_ms if self.predicted_ms > 0 else math.nan


@dataclass(frozen=True)
class _Case:
    label: str
    key: str
    size: int
    concurrency: int


def predict_ms(profile: NetworkProfile, size: int, concurrency: int = 1) -> float:
    """Median time for `concurrency` parallel GETs of `size` bytes, each on its own connection:
    the median of the slowest of N first-byte delays, plus the transfer time. Faults ignored."""
    quantile = 0.5 ** (1.0 / concurrency)
    return profile.first_byte.quantile_ms(quantile) + profile.transfer_ms(size)


def calibrate(
    server: S3Server,
    profile: str | NetworkProfile | None = None,
    *,
    seed: int = 0,
    clients: Sequence[str] = CLIENTS,
    repeats: int = 5,
    concurrency: int = 50,
    small_bytes: int = SMALL_BYTES,
    large_bytes: int = LARGE_BYTES,
) -> list[CalibrationRow]:
    """Apply `profile` (default: the server's current one) at `seed`, upload the test objects
    through the raw endpoint, and time each case `repeats` times per client on the shaped one."""
    unknown = sorted(set(clients) - set(CLIENTS))
    if unknown:
        raise ValueError(f"unknown client {unknown[0]!r}; choose from {', '.join(CLIENTS)}")
    use_local_aws_env()
    resolved = server.set_profile(profile if profile is not None else server.profile, seed)
    _upload(server.raw_endpoint, {"small": small_bytes, "large": large_bytes})
    cases = [
        _Case(f"GET {_size(small_bytes)}", "small", small_bytes, 1),
        _Case(f"{concurrency} x GET {_size(small_bytes)}", "small", small_bytes, concurrency),
        _Case(f"GET {_size(large_bytes)}", "large", large_bytes, 1),
    ]
    measure = {"boto3": _measure_boto3, "aioboto3": _measure_aioboto3}
    rows: list[CalibrationRow] = []
    for client in clients:
        for case, samples, errors in measure[client](server.shaped_endpoint, cases, repeats):
            rows.append(
                CalibrationRow(
                    client=client,
                    case=case.label,
                    measured_ms=statistics.median(samples) if samples else math.nan,
                    predicted_ms=predict_ms(resolved, case.size, case.concurrency),
                    repeats=len(samples),
                    errors=errors,
                )
            )
    return rows


# --- clients -------------------------------------------------------------------------------------

_Result = list[tuple[_Case, list[float], int]]


def _upload(endpoint: str, sizes: dict[str, int]) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    ensure_bucket(s3, BUCKET)
    for key, size in sizes.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * size)


def _measure_boto3(endpoint: str, cases: list[_Case], repeats: int) -> _Result:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(max_pool_connections=POOL_CONNECTIONS),
    )

    def get(key: str) -> None:
        s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    width = max(case.concurrency for case in cases)
    with ThreadPoolExecutor(max_workers=width) as pool:
        _start_all_threads(pool, width)
        get("small")  # warm-up: botocore builds its handlers on the first call

        def timed(case: _Case) -> None:
            if case.concurrency == 1:
                get(case.key)
            else:
                for future in [pool.submit(get, case.key) for _ in range(case.concurrency)]:
                    future.result()

        return [
            (case, *_repeat(functools.partial(timed, case), repeats, (BotoCoreError, ClientError)))
            for case in cases
        ]


def _measure_aioboto3(endpoint: str, cases: list[_Case], repeats: int) -> _Result:
    try:
        import aioboto3
        from aiobotocore.config import AioConfig
    except ImportError as error:
        raise ImportError(
            "aioboto3 is not installed: pip install 'rlm-context-lab[async]'"
        ) from error
    from aiohttp import ClientError as AiohttpError
    from botocore.exceptions import BotoCoreError, ClientError

    async def main() -> _Result:
        config = AioConfig(max_pool_connections=POOL_CONNECTIONS)
        session = aioboto3.Session()
        async with session.client(
            "s3", endpoint_url=endpoint, region_name=REGION, config=config
        ) as s3:

            async def get(key: str) -> None:
                response = await s3.get_object(Bucket=BUCKET, Key=key)
                async with response["Body"] as body:
                    await body.read()

            await get("small")  # warm-up
            results: _Result = []
            for case in cases:

                async def timed(c: _Case = case) -> None:
                    await asyncio.gather(*(get(c.key) for _ in range(c.concurrency)))

                samples, errors = await _repeat_async(
                    timed, repeats, (BotoCoreError, ClientError, AiohttpError, OSError)
                )
                results.append((case, samples, errors))
            return results

    # A thread of its own, so this works even when the caller already runs an event loop.
    with ThreadPoolExecutor(max_workers=1) as runner:
        return runner.submit(asyncio.run, main()).result()


def _start_all_threads(pool: ThreadPoolExecutor, width: int) -> None:
    """Make the pool create all its threads now, outside the timed region."""
    barrier = threading.Barrier(width)
    for future in [pool.submit(barrier.wait, 10.0) for _ in range(width)]:
        future.result()


def _repeat(
    fn: Callable[[], None], repeats: int, errors: tuple[type[BaseException], ...]
) -> tuple[list[float], int]:
    samples: list[float] = []
    failed = 0
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            fn()
        except errors:
            failed += 1
            continue
        samples.append(1000.0 * (time.perf_counter() - start))
    return samples, failed


async def _repeat_async(
    fn: Callable[[], Awaitable[None]], repeats: int, errors: tuple[type[BaseException], ...]
) -> tuple[list[float], int]:
    samples: list[float] = []
    failed = 0
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            await fn()
        except errors:
            failed += 1
            continue
        samples.append(1000.0 * (time.perf_counter() - start))
    return samples, failed


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


# --- command line --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `ctxlab network calibrate`."""
    parser.add_argument(
        "--profile",
        default="s3-standard",
        help="built-in profile name or path to a .toml/.json profile (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default: %(default)s)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed repeats per case (default: %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=50, help="concurrent GETs (default: %(default)s)"
    )
    parser.add_argument(
        "--clients",
        default=",".join(CLIENTS),
        help="comma-separated clients to measure (default: %(default)s)",
    )
    parser.add_argument(
        "--server",
        default="moto",
        help=f"{' or '.join(SERVERS)} (started and stopped here) or the URL of a running S3 "
        "server (default: %(default)s)",
    )
    parser.add_argument(
        "--shaping",
        choices=SHAPINGS,
        help="middleware (inside moto's process; moto's default) or proxy (in front of the "
        "server; every other server's)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    """Start a server process, calibrate, print the table. Returns the exit status."""
    try:
        profile = load_profile(args.profile)
    except ProfileError as error:
        print(f"ctxlab: {error}", file=sys.stderr)
        return 2
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if args.concurrency > POOL_CONNECTIONS:
        print(
            f"ctxlab: --concurrency must be <= {POOL_CONNECTIONS} (the clients' pool size)",
            file=sys.stderr,
        )
        return 2
    try:
        choice = ServerChoice.parse(args.server, args.shaping)
    except ServerChoiceError as error:
        print(f"ctxlab: {error}", file=sys.stderr)
        return 2
    try:
        with serve(choice, profile, seed=args.seed) as server:
            rows = calibrate(
                server,
                profile,
                seed=args.seed,
                clients=clients,
                repeats=args.repeats,
                concurrency=args.concurrency,
            )
            counts = server.fault_counts()
    except (ServerError, ServerStartError, ValueError, ImportError, OSError) as error:
        print(f"ctxlab: {error}", file=sys.stderr)
        return 1
    if args.json:
        payload: dict[str, Any] = {
            **choice.meta(),
            "profile": profile.to_dict(),
            "seed": args.seed,
            "rows": [asdict(row) | {"ratio": row.ratio} for row in rows],
            "fault_counts": counts,
        }
        print(json.dumps(payload, indent=2, default=str))
    else:
        _print_table(profile, args.seed, rows, counts, choice)
    return 0


def _print_table(
    profile: NetworkProfile,
    seed: int,
    rows: list[CalibrationRow],
    counts: dict[str, int],
    choice: ServerChoice,
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"network profile {profile.name!r} (seed {seed}) on {choice.label}, shaping "
        f"{choice.shaping}: {profile.description}"
    )
    for column in ("client", "case", "measured ms", "predicted ms", "ratio", "errors"):
        table.add_column(column, justify="left" if column in ("client", "case") else "right")
    for row in rows:
        table.add_row(
            row.client,
            row.case,
            f"{row.measured_ms:.1f}",
            f"{row.predicted_ms:.1f}",
            "-" if math.isnan(row.ratio) else f"{row.ratio:.2f}",
            str(row.errors),
        )
    console = Console()
    console.print(table)
    console.print(f"source: {profile.source}", soft_wrap=True)
    console.print(
        "shaped requests and injected faults: "
        + ", ".join(f"{kind}={n}" for kind, n in counts.items())
    )
