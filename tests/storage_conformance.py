"""The suite every writer passes: one contract for storing bytes, whatever the backend.

A backend's test class subclasses :class:`WriterTests`, names the class it covers (``covers``)
and implements :meth:`WriterTests.make` (a writer over a fresh, empty location);
``tests/test_storage_conformance.py`` holds the classes and a completeness test that fails when
a writer in ``contexts`` has none. The read side has its own suite,
``tests/transport_conformance.py``.

The contract (:mod:`contexts.transport.storage`), as ``write_layout`` and appends rely on it:

* ``put`` stores the bytes (empty ones too, nested names too) and replaces an older object;
  ``delete`` removes one, and a missing one is not an error; ``exists`` says which is which.
* ``list`` is every name written, relative to the location, sorted; the writer's own lock and
  temporary files are not listed.
* ``read_versioned`` is the bytes and a token of that version, ``(None, None)`` when missing;
  the token changes when the bytes do.
* ``put_if(name, data, None)`` wins only when ``name`` does not exist; ``put_if(name, data,
  token)`` wins only while ``name`` is still the version ``token`` names (not after another
  write, not after a delete). A loss is ``False`` and leaves the object as it was. Of many
  threads swapping from the same version, exactly one wins.
* ``close()`` may be called twice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

from contexts.transport.storage import SwappingWriter
from tests.threads import run_in_threads

DATA = "é中\U0001f600 stored\r\n".encode() * 200


class WriterTests:
    """Subclass with ``covers`` and :meth:`make`; every test below then runs on that backend."""

    covers: ClassVar[type]
    """The writer class this suite runs on (the completeness test checks every one has one)."""

    def make(self) -> SwappingWriter:
        """A writer over a fresh, empty location."""
        raise NotImplementedError

    @pytest.fixture
    def writer(self) -> Iterator[SwappingWriter]:
        writer = self.make()
        try:
            yield writer
        finally:
            writer.close()

    # -- put, delete, exists, list ----------------------------------------------------------------

    def test_put_stores_the_bytes_and_replaces_an_older_object(
        self, writer: SwappingWriter
    ) -> None:
        writer.put("a.bin", DATA)
        assert writer.read_versioned("a.bin")[0] == DATA
        writer.put("a.bin", b"newer")
        assert writer.read_versioned("a.bin")[0] == b"newer"

    def test_empty_objects_and_nested_names_are_stored(self, writer: SwappingWriter) -> None:
        writer.put("empty.bin", b"")
        writer.put("dir/sub/b.txt", DATA)
        assert writer.read_versioned("empty.bin")[0] == b""
        assert writer.exists("empty.bin") and writer.exists("dir/sub/b.txt")
        assert writer.read_versioned("dir/sub/b.txt")[0] == DATA

    def test_delete_removes_and_a_missing_name_is_not_an_error(
        self, writer: SwappingWriter
    ) -> None:
        writer.put("a.bin", DATA)
        writer.delete("a.bin")
        assert not writer.exists("a.bin") and writer.read_versioned("a.bin") == (None, None)
        writer.delete("a.bin")
        writer.delete("never-written.bin")

    def test_list_is_every_name_relative_and_sorted(self, writer: SwappingWriter) -> None:
        assert writer.list() == []
        for name in ("segment_2.log", "dir/b.txt", "a.bin", "manifest.json"):
            writer.put(name, DATA)
        assert writer.put_if("manifest.json", b"[]", writer.read_versioned("manifest.json")[1])
        writer.delete("segment_2.log")
        assert writer.list() == ["a.bin", "dir/b.txt", "manifest.json"]

    def test_url_names_the_object(self, writer: SwappingWriter) -> None:
        assert writer.url("dir/b.txt").endswith("dir/b.txt")
        assert writer.url("dir/b.txt").startswith(writer.url())

    # -- versions and conditional puts -------------------------------------------------------------

    def test_a_token_names_a_version(self, writer: SwappingWriter) -> None:
        assert writer.read_versioned("m.json") == (None, None)
        writer.put("m.json", b"one")
        data, first = writer.read_versioned("m.json")
        assert data == b"one" and first
        assert writer.read_versioned("m.json")[1] == first  # unchanged: the same token
        writer.put("m.json", b"two")
        assert writer.read_versioned("m.json")[1] != first

    def test_put_if_absent_wins_once(self, writer: SwappingWriter) -> None:
        assert writer.put_if("m.json", b"first", None) is True
        assert writer.put_if("m.json", b"second", None) is False
        assert writer.read_versioned("m.json")[0] == b"first"

    def test_put_if_wins_on_the_current_version_only(self, writer: SwappingWriter) -> None:
        writer.put("m.json", b"one")
        _, token = writer.read_versioned("m.json")
        assert writer.put_if("m.json", b"two", token) is True
        assert writer.put_if("m.json", b"three", token) is False  # stale: another write won
        assert writer.read_versioned("m.json")[0] == b"two"
        _, fresh = writer.read_versioned("m.json")
        assert writer.put_if("m.json", b"three", fresh) is True
        assert writer.read_versioned("m.json")[0] == b"three"

    def test_put_if_loses_after_a_delete(self, writer: SwappingWriter) -> None:
        writer.put("m.json", b"one")
        _, token = writer.read_versioned("m.json")
        writer.delete("m.json")
        assert writer.put_if("m.json", b"two", token) is False
        assert writer.read_versioned("m.json") == (None, None)

    def test_of_many_swaps_from_one_version_exactly_one_wins(self, writer: SwappingWriter) -> None:
        writer.put("m.json", b"base")
        _, token = writer.read_versioned("m.json")
        wins: list[int] = []
        lock = threading.Lock()

        def swap(n: int) -> None:
            if writer.put_if("m.json", f"writer {n}".encode(), token):
                with lock:
                    wins.append(n)

        run_in_threads(swap, 8)
        assert len(wins) == 1
        assert writer.read_versioned("m.json")[0] == f"writer {wins[0]}".encode()

    def test_close_twice(self) -> None:
        writer = self.make()
        writer.close()
        writer.close()
