"""Layout detection (``layout="auto"``) against a transport whose answers the test controls."""

from __future__ import annotations

import pytest

from contexts.errors import AccessDeniedError, ManifestNotFoundError, ObjectNotFoundError
from contexts.layouts import open_layout
from contexts.location import S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest, Transport
from tests.reference import upload_single


class ScriptedTransport(Transport):
    """Serves objects from a dict; names in ``denied`` answer 403 (as S3 does for a missing key
    when the caller lacks s3:ListBucket)."""

    def __init__(self, objects: dict[str, bytes], denied: set[str]) -> None:
        super().__init__(S3Location("bucket", "ctx/"), StatsRecorder())
        self.objects, self.denied = objects, denied

    def _fetch(self, request: ByteRequest) -> bytes:
        if request.name in self.denied:
            raise AccessDeniedError(f"{self.url(request.name)} denied")
        if request.name not in self.objects:
            raise ObjectNotFoundError(f"{self.url(request.name)} missing")
        data = self.objects[request.name]
        if request.byte_range is not None:
            return data[request.byte_range[0] : request.byte_range[1]]
        return data


def single_layout_objects() -> dict[str, bytes]:
    objects: dict[str, bytes] = {}
    upload_single(objects.__setitem__, "a\nb\n", 1)
    return objects


def test_auto_finds_a_single_layout_behind_a_403_manifest() -> None:
    transport = ScriptedTransport(single_layout_objects(), denied={"manifest.json"})
    reader = open_layout(transport)
    assert reader.layout == "single" and reader.line_count == 2
    assert transport.stats.snapshot().requests == 2  # the denied GET counts too


def test_auto_reports_access_when_both_are_denied() -> None:
    transport = ScriptedTransport({}, denied={"manifest.json", "context.idx"})
    with pytest.raises(AccessDeniedError, match="s3:ListBucket"):
        open_layout(transport)


def test_auto_reports_the_403_when_the_index_is_missing_too() -> None:
    transport = ScriptedTransport({}, denied={"manifest.json"})
    with pytest.raises(AccessDeniedError, match="was denied"):
        open_layout(transport)


def test_auto_reports_both_missing_names() -> None:
    with pytest.raises(ManifestNotFoundError, match=r"manifest\.json nor .*context\.idx"):
        open_layout(ScriptedTransport({}, denied=set()))
