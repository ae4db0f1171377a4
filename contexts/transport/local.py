"""Filesystem transport and writer: a directory, a Modal Volume mount or a CloudBucketMount."""

from __future__ import annotations

import os
import tempfile

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
    """Writes layout files atomically (temp file + rename), creating directories as needed."""

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

    def close(self) -> None:
        """Nothing to release."""
