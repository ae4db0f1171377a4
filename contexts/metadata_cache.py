"""A local cache of layout metadata (``manifest.json``, ``context.idx``) for reopening a context.

An entry is the object's body and its ETag, keyed by endpoint and URL. A reopen sends the
metadata GETs as conditional GETs (``If-None-Match``) in its first round trip: an object that
still has the cached ETag answers ``304 Not Modified`` with no body, and the entry is used; any
other answer replaces it. Each entry also records its body's SHA-256, checked when it is read,
so a stale entry is fetched again and a corrupt one is never trusted.

The directory is ``$CTXLAB_METADATA_CACHE`` (``off`` turns the cache off), else
``$XDG_CACHE_HOME/rlm-context-lab/metadata`` or ``~/.cache/rlm-context-lab/metadata``. Entries
are small (an index is about 0.2 bytes per line); delete the directory to clear it. The cache is
best effort: a directory that cannot be written only means reopens fetch the metadata again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "CTXLAB_METADATA_CACHE"
"""Environment variable naming the cache directory (``off`` for no cache)."""
MAX_ENTRY_BYTES = 64 * 1024 * 1024
"""Bodies larger than this are not cached."""
_OFF = ("", "off", "0", "false", "no", "none")


def default_cache_dir() -> Path | None:
    """The directory named by the environment, or ``None`` when the cache is off."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in _OFF else Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "rlm-context-lab" / "metadata"


@dataclass(frozen=True)
class CachedObject:
    """An object's body as last fetched, and the ETag it had then."""

    etag: str
    body: bytes


class MetadataCache:
    """Entries in ``directory``, one file each, written atomically (``os.replace``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}.entry"

    def get(self, key: str) -> CachedObject | None:
        """The entry for ``key`` if it is there and whole; a damaged entry is removed."""
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        header, newline, body = raw.partition(b"\n")
        try:
            fields = json.loads(header) if newline else None
            if (
                isinstance(fields, dict)
                and fields.get("key") == key
                and isinstance(fields.get("etag"), str)
                and fields.get("size") == len(body)
                and fields.get("sha256") == hashlib.sha256(body).hexdigest()
            ):
                return CachedObject(fields["etag"], body)
        except ValueError:
            pass
        self.discard(key)
        return None

    def put(self, key: str, etag: str, body: bytes) -> None:
        """Record ``body`` with ``etag`` for ``key`` (silently skipped if it cannot be written)."""
        if len(body) > MAX_ENTRY_BYTES:
            return
        header = {
            "key": key,
            "etag": etag,
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".partial")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(json.dumps(header).encode("utf-8") + b"\n" + body)
                os.replace(temporary, self._path(key))
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError:
            return

    def discard(self, key: str) -> None:
        """Forget ``key`` (the object is gone or its entry is damaged)."""
        with contextlib.suppress(OSError):
            self._path(key).unlink()


def cache_from_option(option: bool | str | os.PathLike[str]) -> MetadataCache | None:
    """The cache an ``AutoContext``'s ``metadata_cache`` option asks for: ``True`` the default
    directory (or none when the environment turns it off), ``False`` none, a path that
    directory."""
    if option is True:
        directory = default_cache_dir()
        return None if directory is None else MetadataCache(directory)
    if option is False:
        return None
    if isinstance(option, str | os.PathLike):
        return MetadataCache(Path(option).expanduser())
    raise TypeError(f"metadata_cache must be True, False or a directory, not {option!r}")
