"""Every writer in ``contexts`` passes the one write-side suite (tests/storage_conformance.py):
boto3 on the moto server and a directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from contexts.location import LocalLocation, S3Location
from contexts.transport.local import LocalWriter
from contexts.transport.options import S3Options
from contexts.transport.s3 import S3Writer
from contexts.transport.storage import SwappingWriter
from tests.completeness import classes_in_contexts, covered
from tests.conftest import S3Env
from tests.storage_conformance import WriterTests


class TestS3Writer(WriterTests):
    covers = S3Writer

    @pytest.fixture(autouse=True)
    def _server(self, s3: S3Env) -> None:
        self.s3 = s3

    def make(self) -> SwappingWriter:
        bucket, _, prefix = self.s3.new_url()[len("s3://") :].partition("/")
        return S3Writer(S3Location(bucket, prefix), S3Options(endpoint_url=self.s3.endpoint_url))


class TestLocalWriter(WriterTests):
    covers = LocalWriter

    @pytest.fixture(autouse=True)
    def _directory(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.made = 0

    def make(self) -> SwappingWriter:
        self.made += 1
        return LocalWriter(LocalLocation(self.root / f"ctx-{self.made}"))


def _is_writer(cls: type) -> bool:
    """A class with the whole write side (``put`` and ``put_if``), not a protocol."""
    writes = hasattr(cls, "put_if") and hasattr(cls, "put")
    return writes and not getattr(cls, "_is_protocol", False)


def test_every_writer_has_a_conformance_class() -> None:
    found = classes_in_contexts(_is_writer)
    assert {S3Writer, LocalWriter} <= found  # the scan sees them
    missing = sorted(cls.__qualname__ for cls in found - covered(globals(), WriterTests))
    assert missing == [], f"writers without a conformance class here: {missing}"
