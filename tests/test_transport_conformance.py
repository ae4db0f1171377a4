"""Every transport in ``contexts`` passes the one storage suite (tests/transport_conformance.py):
boto3 one request at a time and pooled, aiobotocore, obstore on its loop and on threads, s3fs, local files one at a time and
pooled, the buffered transport of ``auto`` over a real one, and the dict test double."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from contexts.location import LocalLocation, S3Location
from contexts.stats import StatsRecorder
from contexts.transport.aio import AioS3Transport
from contexts.transport.base import Transport
from contexts.transport.buffered import BufferedTransport
from contexts.transport.hedge import HedgePolicy
from contexts.transport.local import LocalTransport, PooledLocalTransport
from contexts.transport.obstore import ObstoreTransport
from contexts.transport.obstore_threaded import ThreadedObstoreTransport
from contexts.transport.options import S3Options
from contexts.transport.s3 import S3Transport, ThreadedS3Transport
from contexts.transport.s3fs import S3fsTransport
from tests.completeness import classes_in_contexts, covered
from tests.conftest import S3Env
from tests.servers import DictTransport
from tests.transport_conformance import TransportTests


class OnS3(TransportTests):
    """Backends that read the session's moto server: objects put with raw boto3."""

    @pytest.fixture(autouse=True)
    def _server(self, s3: S3Env) -> None:
        self.s3 = s3

    def make(self, objects: dict[str, bytes]) -> Transport:
        url = self.s3.new_url()
        for name, data in objects.items():
            self.s3.put(url, name, data)
        bucket, _, prefix = url[len("s3://") :].partition("/")
        options = S3Options(endpoint_url=self.s3.endpoint_url, max_pool_connections=16)
        return self.make_s3(S3Location(bucket, prefix), options)

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        raise NotImplementedError


class TestS3Transport(OnS3):
    covers = S3Transport
    has_etags = True

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        return S3Transport(location, options, StatsRecorder())


class TestThreadedS3Transport(OnS3):
    covers = ThreadedS3Transport
    has_etags = True

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        return ThreadedS3Transport(location, options, StatsRecorder(), max_workers=8)


class TestAioS3Transport(OnS3):
    covers = AioS3Transport

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        return AioS3Transport(location, options, StatsRecorder(), max_concurrency=8)


class TestObstoreTransport(OnS3):
    covers = ObstoreTransport

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        return ObstoreTransport(location, options, StatsRecorder(), max_concurrency=8)


class TestThreadedObstoreTransport(OnS3):
    covers = ThreadedObstoreTransport
    has_etags = True

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        return ThreadedObstoreTransport(location, options, StatsRecorder(), max_workers=8)


class TestS3fsTransport(OnS3):
    covers = S3fsTransport
    counts_each_request = False  # its file reads go through fsspec's block cache

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        return S3fsTransport(
            location,
            options,
            StatsRecorder(),
            file_name="a.bin",
            cache_type="blockcache",
            block_size=4096,
        )


class OnDisk(TransportTests):
    """Backends that read a directory (a Modal Volume or bucket mount)."""

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.root = tmp_path / uuid.uuid4().hex[:8]

    def make(self, objects: dict[str, bytes]) -> Transport:
        for name, data in objects.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return self.make_local(LocalLocation(self.root))

    def make_local(self, location: LocalLocation) -> Transport:
        raise NotImplementedError


class TestLocalTransport(OnDisk):
    covers = LocalTransport

    def make_local(self, location: LocalLocation) -> Transport:
        return LocalTransport(location, StatsRecorder())


class TestPooledLocalTransport(OnDisk):
    covers = PooledLocalTransport

    def make_local(self, location: LocalLocation) -> Transport:
        return PooledLocalTransport(location, StatsRecorder(), max_workers=4)


class TestDictTransport(TransportTests):
    covers = DictTransport

    def make(self, objects: dict[str, bytes]) -> Transport:
        return DictTransport(dict(objects))


class TestBufferedTransport(OnS3):
    """``auto``'s transport: held bytes first, callers' reads hedged on a pool, over boto3
    (where obstore is not installed)."""

    covers = BufferedTransport
    has_etags = True

    @pytest.fixture(autouse=True)
    def _pool(self) -> Iterator[None]:
        with ThreadPoolExecutor(8, thread_name_prefix="conformance-demand") as pool:
            self.pool = pool
            yield

    def make_s3(self, location: S3Location, options: S3Options) -> Transport:
        inner = self.make_inner(location, options)
        return BufferedTransport(inner, hedge=HedgePolicy(), pool=self.pool)

    def make_inner(self, location: S3Location, options: S3Options) -> Transport:
        return ThreadedS3Transport(location, options, StatsRecorder(), max_workers=8)


class TestBufferedObstoreTransport(TestBufferedTransport):
    """``auto``'s transport where obstore is installed."""

    def make_inner(self, location: S3Location, options: S3Options) -> Transport:
        return ThreadedObstoreTransport(location, options, StatsRecorder(), max_workers=8)


def _is_transport(cls: type) -> bool:
    return issubclass(cls, Transport) and not getattr(cls, "__abstractmethods__", None)


def test_every_transport_has_a_conformance_class() -> None:
    found = classes_in_contexts(_is_transport)
    assert {S3Transport, LocalTransport} <= found  # the scan sees them
    missing = sorted(cls.__qualname__ for cls in found - covered(globals(), TransportTests))
    assert missing == [], f"transports without a conformance class here: {missing}"
