"""The suite every transport passes: one contract for reading stored bytes, whatever the backend.

A backend's test class subclasses :class:`TransportTests`, names the class it covers
(``covers``) and implements :meth:`TransportTests.make` (put the objects, return a transport
reading them); ``tests/test_transport_conformance.py`` holds the classes and a completeness test
that fails when a transport in ``contexts`` has none (zarr-python's ``StoreTests`` is the model).

The contract, as a layout reader relies on it:

* ``get(name)`` is the whole object; ``get(name, (start, stop))`` is ``data[start:stop]``,
  clipped at the end, ``b""`` for an empty range; a range that starts at or past the end is an
  ``IntegrityError`` (the reader's metadata says the object is longer than it is).
* ``get_suffix(name, n)`` is ``data[-n:]`` (the whole object when it is shorter); ``n < 1`` is a
  ``ValueError``.
* ``get_many`` answers in request order (duplicates included).
* A missing object is ``ObjectNotFoundError`` for every kind of read; a missing object in a batch
  fails the batch.
* ``fetch_revalidated(name, etag)`` is the object and its ETag; with the ETag it still has, an
  ETag-aware backend answers ``body=None``; a backend without ETags answers the object and
  ``etag=None``.
* Every request is counted in ``stats``; after ``stop()`` a read raises ``ContextClosedError``;
  ``close()`` may be called twice; many threads may read at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import ClassVar

import pytest

from contexts.errors import ContextClosedError, IntegrityError, ObjectNotFoundError
from contexts.transport.base import ByteRequest, Transport
from tests.threads import run_in_threads

BINARY = bytes(random.Random(7).randrange(256) for _ in range(10_000))
TEXT = "".join(f"line {n}: é中\U0001f600\r\n" for n in range(300)).encode()
OBJECTS = {"a.bin": BINARY, "empty.bin": b"", "dir/b.txt": TEXT}
"""What every backend stores for the suite (a nested name and an empty object included)."""


class TransportTests:
    """Subclass with ``covers`` and :meth:`make`; every test below then runs on that backend."""

    covers: ClassVar[type[Transport]]
    """The transport class this suite runs on (the completeness test checks every one has one)."""
    counts_each_request: ClassVar[bool] = True
    """Whether one cold ``get`` is exactly one request in ``stats`` (not for a backend with its
    own cache or read-ahead, such as fsspec's)."""
    has_etags: ClassVar[bool] = False
    """Whether ``fetch_revalidated`` answers a matching ETag with ``body=None``."""

    def make(self, objects: dict[str, bytes]) -> Transport:
        """A transport reading ``objects`` (stored by this method) under a fresh location."""
        raise NotImplementedError

    @pytest.fixture
    def transport(self) -> Iterator[Transport]:
        transport = self.make(OBJECTS)
        assert isinstance(transport, self.covers)
        try:
            yield transport
        finally:
            transport.close()

    def test_whole_objects(self, transport: Transport) -> None:
        for name, data in OBJECTS.items():
            assert transport.get(name) == data

    @pytest.mark.parametrize(
        "byte_range",
        [(0, 1), (0, 10_000), (1, 9_999), (4_096, 4_097), (9_999, 10_000), (123, 7_000)],
    )
    def test_ranges_inside(self, transport: Transport, byte_range: tuple[int, int]) -> None:
        start, stop = byte_range
        assert transport.get("a.bin", byte_range) == BINARY[start:stop]

    @pytest.mark.parametrize("byte_range", [(9_990, 10_010), (0, 50_000), (5, 5), (3, 3)])
    def test_ranges_clipped_or_empty(
        self, transport: Transport, byte_range: tuple[int, int]
    ) -> None:
        start, stop = byte_range
        assert transport.get("a.bin", byte_range) == BINARY[start:stop]

    @pytest.mark.parametrize("byte_range", [(10_000, 10_001), (10_005, 20_000), (0, 1)])
    def test_ranges_from_the_end_on_are_integrity_errors(
        self, transport: Transport, byte_range: tuple[int, int]
    ) -> None:
        name = "empty.bin" if byte_range == (0, 1) else "a.bin"
        with pytest.raises(IntegrityError, match=f"{name} is shorter than its index says"):
            transport.get(name, byte_range)

    def test_ranges_of_multibyte_text_cut_anywhere(self, transport: Transport) -> None:
        rng = random.Random(11)
        for _ in range(10):
            start = rng.randrange(len(TEXT))
            stop = rng.randrange(start, len(TEXT) + 1)
            assert transport.get("dir/b.txt", (start, stop)) == TEXT[start:stop]

    @pytest.mark.parametrize("nbytes", [1, 17, 10_000, 10_001, 1_000_000])
    def test_suffixes(self, transport: Transport, nbytes: int) -> None:
        assert transport.get_suffix("a.bin", nbytes) == BINARY[-nbytes:]

    def test_suffix_of_an_empty_object_and_bad_sizes(self, transport: Transport) -> None:
        assert transport.get_suffix("empty.bin", 5) == b""
        for bad in (0, -3):
            with pytest.raises(ValueError, match="nbytes"):
                transport.get_suffix("a.bin", bad)

    def test_batches_answer_in_request_order(self, transport: Transport) -> None:
        requests = [
            ByteRequest("dir/b.txt", (10, 20)),
            ByteRequest("a.bin"),
            ByteRequest("a.bin", (5_000, 5_010)),
            ByteRequest("a.bin", (0, 4)),
            ByteRequest("a.bin", (5_000, 5_010)),
            ByteRequest("empty.bin"),
            ByteRequest("a.bin", (2, 9_000)),
        ]
        expected = [
            TEXT[10:20],
            BINARY,
            BINARY[5_000:5_010],
            BINARY[0:4],
            BINARY[5_000:5_010],
            b"",
            BINARY[2:9_000],
        ]
        assert transport.get_many(requests) == expected
        assert transport.get_many([]) == []

    def test_missing_objects_are_named(self, transport: Transport) -> None:
        for read in (
            lambda: transport.get("nope.bin"),
            lambda: transport.get("nope.bin", (0, 10)),
            lambda: transport.get_suffix("nope.bin", 10),
            lambda: transport.get_many([ByteRequest("a.bin", (0, 5)), ByteRequest("dir/nope")]),
        ):
            with pytest.raises(ObjectNotFoundError, match="nope"):
                read()

    def test_every_request_is_counted(self, transport: Transport) -> None:
        before = transport.stats.snapshot().requests
        assert transport.get("dir/b.txt", (0, 100)) == TEXT[:100]
        after = transport.stats.snapshot().requests
        if self.counts_each_request:
            assert after == before + 1
        else:
            assert after >= before
        with pytest.raises(ObjectNotFoundError):
            transport.get("nope.bin")
        assert transport.stats.snapshot().requests >= after  # a failed GET is a request too

    def test_revalidation(self, transport: Transport) -> None:
        first = transport.fetch_revalidated("dir/b.txt", None)
        assert first.body == TEXT
        if not self.has_etags:
            assert first.etag is None
            return
        assert first.etag
        again = transport.fetch_revalidated("dir/b.txt", first.etag)
        assert again.body is None and again.etag == first.etag
        changed = transport.fetch_revalidated("dir/b.txt", '"not-its-etag"')
        assert changed.body == TEXT and changed.etag == first.etag

    def test_threads_read_at_once(self, transport: Transport) -> None:
        failures: list[str] = []

        def reader(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(15):
                start = rng.randrange(len(BINARY))
                stop = rng.randrange(start, len(BINARY) + 1)
                if transport.get("a.bin", (start, stop)) != BINARY[start:stop]:
                    failures.append(f"{seed}: {start}-{stop}")

        run_in_threads(reader, 8, timeout_s=120)
        assert failures == []

    def test_stop_refuses_reads_and_close_twice_is_fine(self, transport: Transport) -> None:
        assert transport.get("a.bin", (0, 3)) == BINARY[:3]
        transport.stop()
        with pytest.raises(ContextClosedError):
            transport.get("a.bin", (0, 3))
        with pytest.raises(ContextClosedError):
            transport.get_many([ByteRequest("a.bin"), ByteRequest("dir/b.txt")])
        transport.close()
        transport.close()
