"""Filesystem transport and writer: a directory, a Modal Volume mount or a CloudBucketMount."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator

from contexts.errors import AccessDeniedError, ObjectNotFoundError, StorageError
from contexts.location import LocalLocation
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest, Transport, past_the_end
from contexts.transport.pool import PooledTransport


class LocalTransport(Transport):
    """Reads whole files, or byte ranges with ``os.pread``; names may not escape the root."""

    location: LocalLocation

    def __init__(self, location: LocalLocation, stats: StatsRecorder) -> None:
        super().__init__(location, stats)

    def _fetch(self, request: ByteRequest) -> bytes:
        return self._read(request.name, request.byte_range, None)

    def _fetch_suffix(self, name: str, nbytes: int) -> bytes:
        return self._read(name, None, nbytes)

    def _read(self, name: str, byte_range: tuple[int, int] | None, suffix: int | None) -> bytes:
        """The whole file ``name``, a ``(start, stop)`` range of it, or its last ``suffix``
        bytes."""
        path = self.location.path(name)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{path} does not exist") from None
        except PermissionError:
            raise AccessDeniedError(f"no permission to read {path}") from None
        except OSError as exc:
            raise StorageError(f"cannot open {path}: {exc.strerror}") from None
        try:
            if suffix is not None:
                size = os.fstat(fd).st_size
                return _pread_exactly(fd, suffix, max(0, size - suffix))
            if byte_range is None:
                with os.fdopen(os.dup(fd), "rb") as handle:
                    return handle.read()
            start, stop = byte_range
            if stop > start and start >= (size := os.fstat(fd).st_size):
                raise past_the_end(str(path), f"{size} bytes, read from {start}")
            return _pread_exactly(fd, stop - start, start)
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror}") from exc
        finally:
            os.close(fd)


def _pread_exactly(fd: int, length: int, offset: int) -> bytes:
    """Up to ``length`` bytes at ``offset`` (fewer only at end of file)."""
    parts: list[bytes] = []
    while length > 0:
        part = os.pread(fd, length, offset)
        if not part:
            break
        parts.append(part)
        length -= len(part)
        offset += len(part)
    return b"".join(parts)


class PooledLocalTransport(PooledTransport, LocalTransport):
    """Whole-file reads and ``os.pread`` ranges on ``max_workers`` threads (network file
    systems such as Modal Volumes and bucket mounts reward concurrency like S3 does)."""

    def __init__(self, location: LocalLocation, stats: StatsRecorder, max_workers: int) -> None:
        super().__init__(location, stats)
        self.max_workers = max_workers


class LocalWriter:
    """The write side of a directory: atomic puts (temp file + rename, directories created as
    needed), deletes, listings, and compare-and-rename under an exclusive ``flock`` of
    ``.<name>.lock`` whose token is the SHA-256 of the bytes read (the
    :mod:`contexts.transport.storage` protocols).

    The swap holds between threads and processes that share a POSIX filesystem with working
    ``flock`` (local disks, most NFS setups)."""

    prefix = ""

    def __init__(self, location: LocalLocation) -> None:
        self.location = location

    def url(self, name: str = "") -> str:
        return self.location.url(name)

    def put(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name`` so readers see the old file or the new one, never half."""
        path = self.location.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, path)
        except BaseException:
            if os.path.exists(temp):
                os.unlink(temp)
            raise

    def delete(self, name: str) -> None:
        """Remove ``name`` if it exists."""
        self.location.path(name).unlink(missing_ok=True)

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists in the directory."""
        return self.location.path(name).is_file()

    def list(self) -> list[str]:
        """Every file under the directory, relative to it, sorted; this writer's own lock and
        temporary files (``.<name>.lock``, ``.<name>.<random>.tmp``) are not listed."""
        root = self.location.path("")
        if not root.is_dir():
            return []
        names = (
            path.relative_to(root).as_posix()
            for path in root.rglob("*")
            if path.is_file() and not _own_file(path.name)
        )
        return sorted(names)

    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        """``name``'s bytes and their SHA-256, or ``(None, None)`` when there is none."""
        try:
            data = self.location.path(name).read_bytes()
        except FileNotFoundError:
            return None, None
        return data, hashlib.sha256(data).hexdigest()

    def put_if(self, name: str, data: bytes, token: str | None) -> bool:
        """Under the lock: replace ``name`` if it is still the version read (``token``)."""
        with self._locked(name):
            _, current = self.read_versioned(name)
            if current != token:
                return False
            self.put(name, data)  # temp file + os.replace: atomic for readers
        return True

    def close(self) -> None:
        """Nothing to release."""

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        import fcntl  # POSIX only: imported here so `import contexts` works everywhere

        target = self.location.path(name)
        path = target.with_name(f".{target.name}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open the lock {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock


def _own_file(name: str) -> bool:
    """A lock or temporary file of :class:`LocalWriter`."""
    return name.startswith(".") and (name.endswith(".lock") or name.endswith(".tmp"))
