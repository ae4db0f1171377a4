"""Safe concurrent appends to a segments-layout context (S3 or a directory).

``append_text(text, url)`` uploads the text as new segment objects whose names carry a fresh
uuid (writers never overwrite each other), then swaps in a manifest that lists the old segments
plus the new ones with a compare-and-swap: on S3 a conditional ``PutObject`` (``IfMatch`` on the
ETag read, ``IfNoneMatch="*"`` when there was no manifest yet); in a directory an exclusive
``fcntl.flock`` on ``.manifest.json.lock`` around compare-and-rename. A lost race (S3 412
PreconditionFailed / 409 ConditionalRequestConflict, or a changed file) re-reads the manifest and
tries again after a jittered exponential back-off, at most ``max_attempts`` times; data first,
manifest last, so readers never see an entry whose segment is missing.

The directory guarantee holds between threads and processes that share a POSIX filesystem with
working ``flock`` (local disks, most NFS setups). Modal Volumes replicate by commit/reload, not
per write: append to S3 (which containers can also see through a CloudBucketMount) instead.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from dataclasses import dataclass, replace

from contexts.errors import ContextError, StorageError
from contexts.layouts.manifest import MANIFEST_NAME, Manifest, parse_manifest
from contexts.layouts.segments import build_segments
from contexts.layouts.single import INDEX_NAME
from contexts.transport.options import S3Options
from contexts.transport.retry import RetryPolicy
from contexts.transport.s3 import WRITE_READ_TIMEOUT_S
from contexts.transport.storage import SwappingWriter, open_writer
from contexts.writer import _put_all


class AppendNotSupportedError(ContextError):
    """The context at the URL is a single-object layout: appends need the segments layout."""


class AppendConflictError(StorageError):
    """Every attempt to swap in the new manifest lost a race with another writer."""


@dataclass(frozen=True)
class AppendResult:
    """What :func:`append_text` added."""

    url: str
    """The context URL."""
    start_line: int
    """Line number of the first appended line in the context."""
    line_count: int
    """Lines appended (0 for an empty text: nothing was written)."""
    segments: tuple[str, ...]
    """Names of the new segment objects."""
    attempts: int
    """Manifest writes tried; ``attempts - 1`` lost a race and retried."""

    @property
    def retries(self) -> int:
        """Manifest writes that lost a race (S3 412 / 409, or a changed file)."""
        return max(0, self.attempts - 1)


def append_text(
    text: str,
    url: str,
    *,
    lines_per_segment: int = 1000,
    writer: str = "",
    max_attempts: int = 30,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    profile_name: str | None = None,
) -> AppendResult:
    """Append ``text``'s lines to the segments-layout context at ``url`` (created if absent).

    One-shot form of :class:`Appender` (which keeps its client for many appends).
    """
    with Appender(
        url, endpoint_url=endpoint_url, region_name=region_name, profile_name=profile_name
    ) as appender:
        return appender.append(
            text, lines_per_segment=lines_per_segment, writer=writer, max_attempts=max_attempts
        )


class Appender:
    """Appends texts to one segments-layout context, reusing one client (thread-safe).

    >>> with Appender("s3://bucket/shared/") as appender:   # doctest: +SKIP
    ...     appender.append(transcript.text, writer="alice")
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        profile_name: str | None = None,
        max_workers: int = 8,
    ) -> None:
        self.url = url
        self.max_workers = max_workers
        self._store = _open_store(url, endpoint_url, region_name, profile_name, max_workers)

    def __enter__(self) -> Appender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the client."""
        self._store.close()

    def append(
        self,
        text: str,
        *,
        lines_per_segment: int = 1000,
        writer: str = "",
        max_attempts: int = 30,
    ) -> AppendResult:
        """Append ``text``'s lines; see the module docstring for the guarantees.

        ``writer`` is an optional label put into the new segment names (next to a uuid that
        makes them unique anyway). Raises :class:`AppendConflictError` after ``max_attempts``
        lost races (the new segments are then deleted again) and :class:`ContextError`
        subclasses for storage failures, an invalid manifest or a single-object layout.
        """
        if not isinstance(text, str):
            raise TypeError(f"append needs a str, not {type(text).__name__}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        segments = build_segments(text, lines_per_segment)
        if not segments:
            return AppendResult(self.url, 0, 0, (), 0)
        tag = re.sub(r"[^A-Za-z0-9_.-]", "-", writer)[:40]
        stem = f"append-{tag + '-' if tag else ''}{uuid.uuid4().hex}"
        entries = [replace(s.entry, name=f"{stem}-{n:06d}.log") for n, s in enumerate(segments, 1)]
        store = self._store
        names = tuple(entry.name for entry in entries)
        lines = sum(entry.line_count for entry in entries)
        current = self._read_manifest()  # refuse a single-object layout before writing anything
        policy = RetryPolicy(max_attempts=max_attempts, base_s=0.005, cap_s=0.5)
        try:
            _put_all(
                store.put,
                [(e.name, s.data) for e, s in zip(entries, segments, strict=True)],
                self.max_workers,
            )
            for attempt in range(1, max_attempts + 1):
                if attempt > 1:
                    time.sleep(policy.backoff_s(attempt - 1))
                    current = self._read_manifest()
                    landed = _start_of(current[0], names[0])
                    if landed is not None:  # an earlier swap of ours landed (see _swap)
                        return AppendResult(self.url, landed, lines, names, attempt - 1)
                base = current[0].line_count
                shifted = (replace(e, start_line=e.start_line + base) for e in entries)
                if self._swap(Manifest((*current[0].segments, *shifted)), current[1], names[0]):
                    return AppendResult(self.url, base, lines, names, attempt)
            landed = _start_of(self._read_manifest()[0], names[0])
            if landed is not None:
                return AppendResult(self.url, landed, lines, names, max_attempts)
        except BaseException:
            self._discard_unless_listed(names)
            raise
        self._discard_unless_listed(names)
        raise AppendConflictError(
            f"appending to {store.url()} lost the manifest race {max_attempts} times; retry "
            "later or raise max_attempts"
        )

    def _swap(self, new: Manifest, token: str | None, first_name: str) -> bool:
        """Compare-and-swap the manifest. A PUT whose first attempt landed but whose answer was
        lost is retried by botocore and meets its own new ETag (412), or runs out of attempts
        (an error): both are checked against the manifest, which then lists ``first_name``."""
        try:
            return self._store.put_if(MANIFEST_NAME, new.to_bytes(), token)
        except StorageError:
            if _start_of(self._read_manifest()[0], first_name) is not None:
                return True
            raise

    def _discard_unless_listed(self, names: tuple[str, ...]) -> None:
        """Delete new segments the manifest does not list, so the prefix holds no orphans."""
        try:
            if _start_of(self._read_manifest()[0], names[0]) is not None:
                return
        except ContextError:
            return  # cannot tell: orphans are harmless, deleting listed segments is not
        for name in names:
            with contextlib.suppress(ContextError, OSError):
                self._store.delete(name)

    def _read_manifest(self) -> tuple[Manifest, str | None]:
        """The current manifest (empty if none yet) and its compare-and-swap token."""
        store = self._store
        data, token = store.read_versioned(MANIFEST_NAME)
        if data is not None:
            return parse_manifest(data, url=store.url(MANIFEST_NAME), prefix=store.prefix), token
        if store.exists(INDEX_NAME):
            raise AppendNotSupportedError(
                f"{store.url()} holds a single-object layout, which cannot be appended to; "
                "rewrite it with contexts.write_layout(..., layout='segments')"
            )
        return Manifest(()), None


def _start_of(manifest: Manifest, name: str) -> int | None:
    """The first line of segment ``name`` if ``manifest`` lists it."""
    for entry in manifest.segments:
        if entry.name == name:
            return entry.start_line
    return None


def _open_store(
    url: str,
    endpoint_url: str | None,
    region_name: str | None,
    profile_name: str | None,
    max_workers: int,
) -> SwappingWriter:
    options = S3Options(
        endpoint_url=endpoint_url,
        region_name=region_name,
        profile_name=profile_name,
        max_pool_connections=max_workers,
        read_timeout_s=WRITE_READ_TIMEOUT_S,
    )
    return open_writer(url, options)
