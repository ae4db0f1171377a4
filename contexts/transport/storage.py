"""The write side of storage, as one-method protocols (obspec's style) and one opener.

Reads go through :class:`~contexts.transport.base.Transport`; writes through these. Each backend
implements them once: :class:`~contexts.transport.s3.S3Writer` (boto3) and
:class:`~contexts.transport.local.LocalWriter` (a directory). ``write_layout`` needs a
:class:`Writer`; appends need a :class:`SwappingWriter`, whose ``put_if`` is the compare-and-swap
the shared manifest is written with (on S3 a conditional ``PutObject``: ``If-Match`` on the ETag
read, ``If-None-Match: *`` for a new object; in a directory an exclusive ``flock`` around
compare-and-rename). ``tests/storage_conformance.py`` holds the suite every writer passes.
"""

from __future__ import annotations

from typing import Protocol

from contexts.location import LocalLocation, parse_location
from contexts.transport.options import S3Options


class Puts(Protocol):
    def put(self, name: str, data: bytes) -> None:
        """Store ``data`` as ``name``; readers see the old object or the new one, never half."""
        ...


class Deletes(Protocol):
    def delete(self, name: str) -> None:
        """Remove ``name``; a missing one is not an error."""
        ...


class Checks(Protocol):
    def exists(self, name: str) -> bool:
        """Whether ``name`` exists."""
        ...


class Lists(Protocol):
    def list(self) -> list[str]:
        """Every object name under the location, relative to it, sorted."""
        ...


class ReadsVersioned(Protocol):
    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        """``name``'s bytes and a token of this version, or ``(None, None)`` when missing."""
        ...


class PutsIf(Protocol):
    def put_if(self, name: str, data: bytes, token: str | None) -> bool:
        """Store ``data`` as ``name`` only if it is still the version ``token`` names
        (``None``: only if it does not exist); ``False`` when another write won."""
        ...


class Writer(Puts, Deletes, Protocol):
    """What ``write_layout`` needs."""

    def url(self, name: str = "") -> str:
        """The URL of ``name`` under the location (for messages)."""
        ...

    def close(self) -> None:
        """Release the client (idempotent)."""
        ...


class SwappingWriter(Writer, Checks, Lists, ReadsVersioned, PutsIf, Protocol):
    """What appends need: a :class:`Writer` that also compares and swaps."""

    @property
    def prefix(self) -> str:
        """The key prefix seed manifests may name objects with (``""`` in a directory)."""
        ...


def open_writer(url: str, options: S3Options) -> SwappingWriter:
    """The writer for ``url``: a directory's, or S3's with ``options`` (boto3 imported here)."""
    location = parse_location(url)
    if isinstance(location, LocalLocation):
        from contexts.transport.local import LocalWriter

        return LocalWriter(location)
    from contexts.transport.s3 import S3Writer

    return S3Writer(location, options)


__all__ = [
    "Checks",
    "Deletes",
    "Lists",
    "Puts",
    "PutsIf",
    "ReadsVersioned",
    "SwappingWriter",
    "Writer",
    "open_writer",
]
