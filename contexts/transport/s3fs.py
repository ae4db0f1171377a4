"""An s3fs (fsspec) transport: the text object through one s3fs file and fsspec's own cache.

The peer a user would otherwise reach for. Byte ranges of the single-object layout's text are
read by ``seek`` + ``read`` on one ``S3File`` opened with the chosen ``cache_type`` (fsspec's
``readahead``, ``blockcache``, ``background``...) and ``block_size``; every other object (the
line index, manifests, segments) by ``cat_file``. A file has one position, so reads are
serialised on a lock, exactly as sharing one s3fs file between threads would require.

s3fs runs aiobotocore; here on the transport's own :class:`LoopThread` (passed to s3fs as its
loop), so ``close`` stops every thread and closes the client. Requests are counted by a
``request-created`` hook on the private client (first attempts as requests, later attempts as
retries), so prefetches on fsspec's background thread count too; bytes by each GetObject's
``ContentLength``. ``deadline_s`` is honoured at attempt boundaries (a ``before-send`` hook):
each attempt is bounded by ``read_timeout_s``, and none starts after the slice's deadline.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import botocore.exceptions as bce

from contexts.errors import (
    AccessDeniedError,
    ContextError,
    MissingDependencyError,
    ObjectNotFoundError,
    StorageError,
)
from contexts.location import S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest, Transport, past_the_end
from contexts.transport.loop_thread import LoopThread
from contexts.transport.options import S3Options
from contexts.transport.retry import before_send_deadline
from contexts.transport.s3 import translate_error

CACHE_TYPES = ("readahead", "blockcache", "background", "bytes", "mmap", "first", "all", "none")
"""fsspec cache types an ``S3File`` accepts."""


class S3fsTransport(Transport):
    """s3fs with ``max_pool_connections`` raised; ``file_name`` is read through one cached file."""

    def __init__(
        self,
        location: S3Location,
        options: S3Options,
        stats: StatsRecorder,
        *,
        file_name: str,
        cache_type: str,
        block_size: int | None,
    ) -> None:
        super().__init__(location, stats)
        self.s3_location = location
        try:
            import s3fs
        except ImportError as exc:
            raise MissingDependencyError(
                "the s3fs peer contexts need s3fs: pip install 'rlm-context-lab[s3fs]'"
            ) from exc
        if cache_type not in CACHE_TYPES:
            raise ValueError(
                f"cache_type must be one of {', '.join(CACHE_TYPES)}, not {cache_type!r}"
            )
        if block_size is not None and block_size < 1:
            raise ValueError(f"block_size must be a positive number of bytes, not {block_size}")
        self.options = options
        self.deadline_s = options.deadline_s
        self.file_name = file_name
        self.cache_type = cache_type
        self.block_size = block_size
        self._lock = threading.Lock()
        self._file: Any = None
        self._loop = LoopThread(f"{type(self).__name__}-loop", location.url())
        config = {
            "max_pool_connections": options.max_pool_connections,
            "connect_timeout": options.connect_timeout_s,
            "read_timeout": options.read_timeout_s,
            "retries": {"total_max_attempts": options.max_attempts, "mode": options.retry_mode},
        }
        try:
            self.fs = s3fs.S3FileSystem(
                loop=self._loop.loop,
                asynchronous=False,
                skip_instance_cache=True,
                endpoint_url=options.endpoint_url,
                profile=options.profile_name,
                client_kwargs={"region_name": options.region_name} if options.region_name else {},
                config_kwargs=config,
            )
            self.fs.retries = 1  # botocore retries (max_attempts); s3fs would add its own
            client = self._loop.call(self.fs.set_session())
            # fsspec runs each call with run_coroutine_threadsafe, which carries the caller's
            # context (its slice deadline) to the loop: refuse attempts once it has passed.
            client.meta.events.register("before-send.s3", before_send_deadline)
            client.meta.events.register("request-created.s3", self._count_attempt)
            client.meta.events.register("after-call.s3.GetObject", self._count_bytes)
            self._loop.on_close(_closer(self.fs))
        except BaseException:
            self._loop.close()
            raise

    # -- accounting (runs on the loop thread or fsspec's background thread) -----------------

    def _count_attempt(self, request: Any = None, **_kwargs: Any) -> None:
        attempt = getattr(request, "context", {}).get("retries", {}).get("attempt", 1)
        if attempt > 1:
            self.stats.record_retries(1)
        else:
            self.stats.record_request(0)

    def _count_bytes(self, parsed: Any = None, **_kwargs: Any) -> None:
        size = parsed.get("ContentLength", 0) if isinstance(parsed, dict) else 0
        self.stats.record_bytes(size)

    # -- reads -------------------------------------------------------------------------------

    def _fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        return [self._fetch(request) for request in requests]

    def _fetch(self, request: ByteRequest) -> bytes:
        path = f"{self.s3_location.bucket}/{self.s3_location.key(request.name)}"
        try:
            with self._lock:
                if self._loop.closed:
                    self._loop.submit(_noop())  # raises ContextClosedError
                if request.name == self.file_name and request.byte_range is not None:
                    try:
                        return self._read_file(path, *request.byte_range)
                    except Exception:
                        self._drop_file()
                        raise
                start, stop = request.byte_range or (None, None)
                data: bytes = self.fs.cat_file(path, start=start, end=stop)
                return data
        except ContextError:
            raise
        except Exception as exc:
            raise self._translate(exc, request.name) from exc

    def _read_file(self, path: str, start: int, stop: int) -> bytes:
        if self._file is None:
            self._file = self.fs.open(
                path, "rb", cache_type=self.cache_type, block_size=self.block_size
            )
        cache = self._file.cache
        hits, misses = getattr(cache, "hit_count", 0), getattr(cache, "miss_count", 0)
        if start >= self._file.size:
            raise past_the_end(self.url(self.file_name), f"{self._file.size} bytes")
        self._file.seek(start)
        data: bytes = self._file.read(stop - start)
        self.stats.record_cache(
            hits=getattr(cache, "hit_count", 0) - hits,
            misses=getattr(cache, "miss_count", 0) - misses,
        )
        return data

    def _translate(self, exc: Exception, name: str) -> ContextError:
        url = self.url(name)
        if isinstance(exc.__cause__, ContextError):
            return exc.__cause__  # ours, raised inside s3fs (the deadline hook) and wrapped by it
        cause = exc if isinstance(exc, bce.BotoCoreError | bce.ClientError) else exc.__cause__
        if isinstance(cause, bce.BotoCoreError | bce.ClientError):
            return translate_error(cause, url=url, options=self.options)
        if isinstance(exc, OSError) and "range is not satisfiable" in str(exc):
            return past_the_end(url, "S3 InvalidRange")
        if isinstance(exc, FileNotFoundError):
            return ObjectNotFoundError(
                f"{url} does not exist on {self.options.describe_endpoint()}"
            )
        if isinstance(exc, PermissionError):
            return AccessDeniedError(
                f"access to {url} was denied; check the credentials in use and the bucket policy"
            )
        return StorageError(f"s3fs could not read {url}: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        with self._lock:
            try:
                self._drop_file()
            finally:
                self._loop.close()

    def _drop_file(self) -> None:
        """Close the s3fs file (and its background cache's executor); the next read reopens it.
        After a failed read too: fsspec's background cache re-raises a failed prefetch on every
        later read of the same file."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(Exception):
                file.close()


async def _noop() -> None:
    return None


def _closer(fs: Any) -> Any:
    """Exit the s3fs client on the loop (holds the filesystem, not the transport)."""

    async def close() -> None:
        creator = getattr(fs, "_s3creator", None)
        if creator is not None:
            await creator.__aexit__(None, None, None)
            fs._s3creator = None
            fs._s3 = None

    return close
