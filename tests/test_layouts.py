"""Layout detection (``layout="auto"``) against a transport whose answers the test controls."""

from __future__ import annotations

import pytest

from contexts.errors import AccessDeniedError, ManifestNotFoundError
from contexts.layouts import open_layout
from tests.reference import upload_single
from tests.servers import DictTransport


def single_layout_objects() -> dict[str, bytes]:
    objects: dict[str, bytes] = {}
    upload_single(objects.__setitem__, "a\nb\n", 1)
    return objects


def test_auto_finds_a_single_layout_behind_a_403_manifest() -> None:
    transport = DictTransport(single_layout_objects(), denied=frozenset({"manifest.json"}))
    reader = open_layout(transport)
    assert reader.layout == "single" and reader.line_count == 2
    assert transport.stats.snapshot().requests == 2  # the denied GET counts too


def test_auto_reports_access_when_both_are_denied() -> None:
    transport = DictTransport({}, denied=frozenset({"manifest.json", "context.idx"}))
    with pytest.raises(AccessDeniedError, match="s3:ListBucket"):
        open_layout(transport)


def test_auto_reports_the_403_when_the_index_is_missing_too() -> None:
    transport = DictTransport({}, denied=frozenset({"manifest.json"}))
    with pytest.raises(AccessDeniedError, match="was denied"):
        open_layout(transport)


def test_auto_reports_both_missing_names() -> None:
    with pytest.raises(ManifestNotFoundError, match=r"manifest\.json nor .*context\.idx"):
        open_layout(DictTransport({}))
