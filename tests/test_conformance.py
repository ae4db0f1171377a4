"""One conformance class per registered context (keep them all in this file: the last test
checks that none is missing)."""

from __future__ import annotations

import contexts
from tests.conformance import ContextTests


class TestMemory(ContextTests):
    name = "memory"


class TestSequential(ContextTests):
    name = "s3-sequential"


class TestThreaded(ContextTests):
    name = "s3-threaded"


class TestAsync(ContextTests):
    name = "s3-async"


class TestObstore(ContextTests):
    name = "obstore"


class TestVolume(ContextTests):
    name = "volume"


def test_every_registered_context_has_a_conformance_class() -> None:
    tested = {cls.name for cls in ContextTests.__subclasses__()}
    missing = sorted(set(contexts.available()) - tested)
    assert not missing, f"add a ContextTests subclass in {__file__} for: {missing}"
