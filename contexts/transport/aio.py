"""aioboto3 (aiobotocore) transport on one background event-loop thread owned by the transport.

The transport starts a daemon thread running ``loop.run_forever()`` and creates one aiobotocore
S3 client on that loop (the client layer of aioboto3, the ``async`` extra). Every fetch is a coroutine submitted with
``asyncio.run_coroutine_threadsafe``: synchronous callers block on the returned future (from a
plain script, from many threads at once, or from inside a running event loop such as Jupyter's,
whose loop is never used), async callers ``await asyncio.wrap_future(...)`` of it. A batch runs
all its GETs at once with ``asyncio.gather``, bounded by a semaphore of ``max_concurrency``
(also the aiohttp pool size).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from contextlib import AsyncExitStack
from dataclasses import replace
from typing import Any, TypeVar

import aiohttp
import botocore.exceptions as bce
from botocore.loaders import Loader, create_loader

from contexts.errors import ContextError, CredentialsError
from contexts.location import S3Location
from contexts.stats import StatsRecorder
from contexts.transport.attempts import attempts_counted, count_get_attempts
from contexts.transport.base import ByteRequest, Transport
from contexts.transport.loop_thread import LoopThread
from contexts.transport.options import S3Options
from contexts.transport.retry import BodyCut
from contexts.transport.s3 import translate_error

try:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import AioSession
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    from contexts.errors import MissingDependencyError

    raise MissingDependencyError(
        "the s3-async context needs aioboto3: pip install 'rlm-context-lab[async]'"
    ) from exc

T = TypeVar("T")

# A body cut mid-transfer. aiobotocore's StreamingBody maps aiohttp connection errors to
# ResponseStreamingError and checks Content-Length (IncompleteReadError); aiohttp's
# ClientPayloadError (e.g. "Response payload is not completed") escapes it unwrapped.
_CUT_BODY = (
    bce.IncompleteReadError,
    bce.ResponseStreamingError,
    bce.FlexibleChecksumError,
    bce.ReadTimeoutError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientConnectionError,
    asyncio.TimeoutError,
)


class AioS3Transport(Transport):
    """GETs with one aiobotocore client on the transport's own event-loop thread.

    Thread-safe and loop-safe: any thread (including one that runs an event loop) may call
    ``get``/``get_many``; coroutines go to the transport's loop, never the caller's. ``close``
    closes the client on the loop, stops the loop and joins its thread.
    """

    location: S3Location

    def __init__(
        self,
        location: S3Location,
        options: S3Options,
        stats: StatsRecorder,
        *,
        max_concurrency: int = 64,
        close_timeout_s: float = 10.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        super().__init__(location, stats)
        self.options = replace(options, max_pool_connections=max_concurrency)
        self.deadline_s = options.deadline_s
        self.max_concurrency = max_concurrency
        self.close_timeout_s = close_timeout_s
        self.loop_thread = LoopThread(
            f"{type(self).__name__}-loop-{location.bucket}",
            self.url(),
            close_timeout_s=close_timeout_s,
        )
        self._stack = AsyncExitStack()  # closes the client on the loop when the transport closes
        self.loop_thread.on_close(self._stack.aclose)
        try:
            self._client: Any
            self._semaphore: asyncio.Semaphore
            self._client, self._semaphore = self.call(self._open())
        except BaseException:
            self.close()
            raise

    # -- running coroutines on the loop ------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The transport's event loop (runs on its own thread; never the caller's)."""
        return self.loop_thread.loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the transport's loop, blocking this thread (see LoopThread.call)."""
        return self.loop_thread.call(coro, timeout)

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the transport's loop, without blocking the caller's loop."""
        return await self.loop_thread.acall(coro)

    # -- the Transport interface ------------------------------------------------------------------

    def _fetch(self, request: ByteRequest) -> bytes:
        # The caller counts the first attempt; only the repeats are counted here.
        return self.loop_thread.call_by_deadline(self._afetch(request, count_first=False))

    def _fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        return self.loop_thread.call_by_deadline(self.afetch_many(requests))

    async def afetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        """Fetch every request concurrently (at most ``max_concurrency`` at once), counting each
        attempt; on the first failure the rest are cancelled. Runs on the transport's loop."""
        if len(requests) == 1:
            return [await self._afetch(requests[0])]
        tasks = [asyncio.ensure_future(self._afetch(request)) for request in requests]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _afetch(self, request: ByteRequest, *, count_first: bool = True) -> bytes:
        """One request, with cut bodies read again; every HTTP attempt goes into the stats."""
        size = 0
        with attempts_counted() as attempts:
            try:
                async with self._semaphore:
                    data = await self._aget(request)
                size = len(data)
                return data
            finally:
                if count_first and attempts[0] > 0:
                    self.stats.record_request(size)  # a failed GET still cost a round trip
                self.stats.record_retries(attempts[0] - 1)

    async def _aget(self, request: ByteRequest) -> bytes:
        kwargs: dict[str, Any] = {
            "Bucket": self.location.bucket,
            "Key": self.location.key(request.name),
        }
        if request.byte_range is not None:
            start, stop = request.byte_range
            kwargs["Range"] = f"bytes={start}-{stop - 1}"
        url = self.url(request.name)

        async def once() -> bytes:
            response = await self._client.get_object(**kwargs)
            body = response["Body"]
            async with body:  # releases the connection to the pool, or drops a broken one
                try:
                    data: bytes = await body.read()  # checks Content-Length
                except _CUT_BODY as exc:
                    # botocore retries until the headers arrive, not a body cut mid-transfer.
                    raise BodyCut(_as_botocore(exc)) from exc
            return data

        def classify(exc: Exception) -> tuple[ContextError, bool]:
            return translate_error(exc, url=url, options=self.options), isinstance(exc, BodyCut)

        return await self.options.retry_policy.arun(once, classify, url=url)

    async def _open(self) -> tuple[Any, asyncio.Semaphore]:
        """Create the client on the loop (entered on the transport's exit stack)."""
        options = self.options
        try:
            # aioboto3's Session only wraps this for clients; a plain AioSession lets every
            # transport share one botocore data loader (the service model JSON, parsed once).
            session = AioSession(profile=options.profile_name)
            data_path = session.get_config_variable("data_path")
            session.register_component("data_loader", _shared_loader(data_path))
            config = AioConfig(
                connect_timeout=options.connect_timeout_s,
                read_timeout=options.read_timeout_s,
                retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
                max_pool_connections=self.max_concurrency,
            )
            client = await self._stack.enter_async_context(
                session.create_client(
                    "s3",
                    endpoint_url=options.endpoint_url,
                    region_name=options.region_name,
                    config=config,
                    **options.client_kwargs,
                )
            )
        except bce.ProfileNotFound:
            raise CredentialsError(
                f"AWS profile {options.profile_name!r} is not in your AWS config files; "
                "check ~/.aws/config or pass profile_name=None"
            ) from None
        count_get_attempts(client)
        return client, asyncio.Semaphore(self.max_concurrency)

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self.loop_thread.closed

    def close(self) -> None:
        """Cancel reads in flight, close the client on the loop, stop the loop and join its
        thread (each step bounded by ``close_timeout_s``). Idempotent."""
        self.loop_thread.close()


_LOADERS: dict[str | None, Loader] = {}
_LOADERS_LOCK = threading.Lock()


def _shared_loader(data_path: str | None) -> Loader:
    """One botocore data loader per data path for the process: parsing the S3 model and
    endpoint rules costs ~100 ms per client otherwise (boto3 shares one per session)."""
    with _LOADERS_LOCK:
        loader = _LOADERS.get(data_path)
        if loader is None:
            loader = _LOADERS[data_path] = create_loader(data_path)
        return loader


def _as_botocore(exc: Exception) -> Exception:
    """aiohttp's own cut-body errors as the botocore type ``translate_error`` knows."""
    if isinstance(exc, aiohttp.ClientError):
        wrapped: Exception = bce.ResponseStreamingError(error=exc)
        return wrapped
    return exc
