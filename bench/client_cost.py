"""What one GET costs this process's CPU, per S3 client: boto3 (a shared client, as the lab's
boto3 transports use it) and obstore (a shared store, as ``auto`` uses it where obstore is
installed).

    python -m bench.client_cost [--requests 100] [--sizes 100,1048576]

Starts the embedded server (its own process, profile ``none``), puts one object through the raw
endpoint, then for each size and client makes ``--requests`` range GETs one after another
through the shaped endpoint, after ``--warm-up`` untimed ones, and prints the wall time and this
process's CPU time (user + system, ``getrusage``) per request. The server's CPU is its own
process's and is not counted. On 2 cores the CPU per request is what decides how fast a burst
of requests leaves (``auto`` sends 15 at open).
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import boto3

from bench.network import S3Server
from bench.network.aws_env import use_local_aws_env
from bench.network.buckets import ensure_bucket
from contexts.location import S3Location
from contexts.transport.clients import shared_s3_client
from contexts.transport.options import S3Options

BUCKET = "ctxlab-client-cost"
KEY = "object.bin"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_request(get: Callable[[], bytes], requests: int, warm_up: int) -> tuple[float, float]:
    """Wall and CPU seconds per call of ``get`` (each call checked to return bytes)."""
    for _ in range(warm_up):
        get()
    cpu, wall = _cpu_s(), time.perf_counter()
    for _ in range(requests):
        if not get():
            raise RuntimeError("a GET returned no bytes")
    return (time.perf_counter() - wall) / requests, (_cpu_s() - cpu) / requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--sizes", default="100,1048576", help="range sizes in bytes")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    use_local_aws_env()
    with S3Server(profile="none", seed=0) as server:
        raw = boto3.client("s3", endpoint_url=server.raw_endpoint)
        ensure_bucket(raw, BUCKET)
        raw.put_object(Bucket=BUCKET, Key=KEY, Body=b"x" * max(sizes))
        raw.close()
        options = S3Options(endpoint_url=server.shaped_endpoint)
        for size in sizes:
            for name, get in _getters(options, size).items():
                wall, cpu = per_request(get, args.requests, args.warm_up)
                print(
                    f"{size:>9,} B  {name:8} wall {wall * 1e3:6.2f} ms/GET, "
                    f"CPU of this process {cpu * 1e3:6.2f} ms/GET",
                    flush=True,
                )


def _getters(options: S3Options, size: int) -> dict[str, Callable[[], bytes]]:
    """A GET of the first ``size`` bytes per client (obstore's only where it is installed)."""
    client = shared_s3_client(options)

    def boto3_get() -> bytes:
        response = client.get_object(Bucket=BUCKET, Key=KEY, Range=f"bytes=0-{size - 1}")
        data: bytes = response["Body"].read()
        return data

    getters: dict[str, Callable[[], bytes]] = {"boto3": boto3_get}
    try:
        import obstore

        from contexts.transport.obstore_threaded import shared_store
    except ImportError:
        print("obstore is not installed: pip install 'rlm-context-lab[obstore]'")
        return getters
    store = shared_store(S3Location(BUCKET, ""), options)

    def obstore_get() -> bytes:
        return bytes(obstore.get(store, KEY, options={"range": (0, size)}).bytes())

    getters["obstore"] = obstore_get
    return getters


if __name__ == "__main__":
    main()
