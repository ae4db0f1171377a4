"""Test doubles of storage: the bench's S3 server with a fixed latency, and a dict transport."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3

import contexts
from bench.network import S3Server
from bench.network.profiles import LatencyModel, NetworkProfile
from contexts.errors import AccessDeniedError, ObjectNotFoundError
from contexts.location import S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest, Transport, past_the_end


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


@dataclass(frozen=True)
class HeadCounts:
    """What a cold ``ctx[:]`` cost, counted (never timed: a busy machine cannot change it)."""

    requests: int
    """Requests of the context, open included (``stats.requests``)."""
    served: int
    """Requests the shaped endpoint served for the slice (open excluded)."""
    peak_in_flight: int
    """The most of them in flight at once: 1 when one GET follows another."""


def counted_head(name: str, server: S3Server, url: str, text: str) -> HeadCounts:
    """Open ``name`` at ``url``, check a cold ``ctx[:]`` against ``text`` and count it."""
    with contexts.open_context(name, url, endpoint_url=server.shaped_endpoint) as ctx:
        server.set_profile(server.profile, seed=server.seed)  # count the slice, not the open
        assert ctx[:] == text
        return HeadCounts(
            ctx.stats.requests, server.fault_counts()["requests"], server.peak_in_flight()
        )


class DictTransport(Transport):
    """Serves objects from a dict, byte ranges clipped like S3's, for reader tests without a
    server. Counts GETs per name; names in ``denied`` answer 403 (as S3 does for a missing key
    without s3:ListBucket); ``index_delay_s`` slows ``.idx`` GETs so readers race for them."""

    def __init__(
        self,
        objects: dict[str, bytes],
        *,
        denied: frozenset[str] = frozenset(),
        index_delay_s: float = 0.0,
    ) -> None:
        super().__init__(S3Location("bucket", "ctx/"), StatsRecorder())
        self.objects = objects
        self.denied = denied
        self.index_delay_s = index_delay_s
        self.gets: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _fetch(self, request: ByteRequest) -> bytes:
        with self._lock:
            self.gets[request.name] += 1
        if request.name.endswith(".idx"):
            time.sleep(self.index_delay_s)
        if request.name in self.denied:
            raise AccessDeniedError(f"{self.url(request.name)} denied")
        if request.name not in self.objects:
            raise ObjectNotFoundError(f"{self.url(request.name)} missing")
        data = self.objects[request.name]
        if request.byte_range is None:
            return data
        start, stop = request.byte_range
        if start >= len(data):
            raise past_the_end(self.url(request.name), f"{len(data)} bytes")
        return data[start:stop]
