"""The bench's embedded S3 server for tests: a fixed first-byte latency and a stored text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import boto3

import contexts
from bench.network import S3Server
from bench.network.profiles import LatencyModel, NetworkProfile


@contextmanager
def latency_server(
    text: str, bucket: str, *, first_byte_ms: float, lines_per_segment: int = 100
) -> Iterator[S3Server]:
    """An in-process server whose shaped endpoint waits ``first_byte_ms`` per request, holding
    ``text`` at ``s3://{bucket}/ctx/`` (uploaded through the raw endpoint)."""
    profile = NetworkProfile(
        f"fixed-{first_byte_ms:g}ms", "test", "test", first_byte=LatencyModel.fixed(first_byte_ms)
    )
    with S3Server(profile=profile, seed=0, in_process=True) as server:
        client = boto3.client("s3", endpoint_url=server.raw_endpoint)
        client.create_bucket(Bucket=bucket)
        client.close()
        contexts.write_layout(
            text,
            f"s3://{bucket}/ctx/",
            lines_per_segment=lines_per_segment,
            endpoint_url=server.raw_endpoint,
        )
        yield server
