"""``auto``: the context to import — ``contexts.open(url)``.

It composes the lab's best parts:

* **Cheap open.** S3 is read with obstore where it is installed (``client="auto"``: a GET costs
  this process a seventh of boto3's CPU, :mod:`contexts.transport.obstore_threaded`), else with
  boto3; clients and stores are shared by every context of the process that reaches the same
  endpoint with the same settings and credentials (:mod:`contexts.transport.clients`).
* **One round trip to the first byte.** The metadata requests (``manifest.json`` and
  ``context.idx``, both when the layout is not given) go out together with speculative data
  requests: the first ``head_bytes`` of ``context.txt`` in ``part_bytes`` parts, the first
  segment, and the text's last ``tail_bytes`` (a suffix range, placed once the index gives the
  size), where RLMs peek first. Open waits for the metadata only and the layout opens from
  those answers; a read the speculative requests cover waits for them instead of asking again
  (:class:`~contexts.transport.buffered.BufferedTransport`).
* **Reopen.** The metadata requests are conditional GETs against a local cache of each object
  and its ETag (:mod:`contexts.metadata_cache`): an object that did not change answers
  ``304 Not Modified`` without its body; a changed one replaces the entry; a damaged entry is
  dropped and fetched again.
* **Any cold slice in one round trip**: the single-object layout's byte ranges, coalesced and
  split into ``part_bytes`` parts fetched in parallel.
* **Progressive load.** Right after open, a loader fetches the rest in ``load_workers`` parallel
  ranges, none under ``load_part_bytes`` (whole segments for the segments layout), each request
  yielding to the caller's reads in flight, and swaps in an in-memory copy when all is there
  and checked. Bytes already loaded answer reads meanwhile, a read of up to a window of lines
  as its whole window where that costs no request or rides on one that goes anyway, decoded
  and checked once and kept (:class:`~contexts.windows.LineWindows`); a read of more than
  ``WAIT_FOR_LOAD_BYTES`` waits for the load instead of fetching its bytes a second time. A
  context over ``max_bytes`` (UTF-8 bytes) is not loaded: reads go through a byte-bounded LRU
  cache with sequential read-ahead (:class:`~contexts.policies.prefetch.PrefetchingContext`).
* ``grep``, ``text()`` and iteration wait for a load under way (it is the fastest way to
  everything), then run at memory speed; without a load they read ``PIPELINE_CHUNKS`` chunks
  per batch.
* ``close()`` stops the load and joins every thread it started.

Memory: a loaded context holds its text as blocks of 4,096 lines (:class:`~contexts.loaded.
CheckpointedText`): at first the fetched bytes, checked as they arrive (the size, and a line
ending wherever the index puts a line start), which is when ``wait_loaded()`` returns; then each
block as a ``str`` of 1 to 4 bytes per character, decoded and checked line by line against the
index by the first read that needs it or by the loader, which goes on decoding after the load
while the caller thinks (the bytes are dropped once every block is decoded; a whole read
before then decodes them at once). After a whole read (``ctx[:]``, ``text()``) the loaded text
is that ``str`` where it holds no more memory than the blocks: the next one is no copy. A block
that fails those checks sends that read, and every later one, through storage, whose own checks
decide (``load_error`` says why).
"""

from __future__ import annotations

import contextvars
import hashlib
import importlib.util
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from functools import partial
from itertools import chain, islice
from typing import Any, NamedTuple, TypeVar, Unpack

from contexts.base import Context, GrepHit, LineRange
from contexts.errors import (
    ContextClosedError,
    ContextError,
    IntegrityError,
    InvalidURLError,
    MissingDependencyError,
)
from contexts.layouts.manifest import MANIFEST_NAME
from contexts.layouts.segments import SegmentsReader, segment_name
from contexts.layouts.single import INDEX_NAME, REWRITE_SINGLE, TEXT_NAME, SingleObjectReader
from contexts.lines import CharMap, cut_lines
from contexts.loaded import CheckpointedText, loaded_context
from contexts.location import LocalLocation, Location, S3Location
from contexts.memory import InMemoryContext
from contexts.metadata_cache import CachedObject, cache_from_option
from contexts.policies.prefetch import PrefetchingContext
from contexts.ranges import DEFAULT_COALESCE_BYTES, split
from contexts.stats import ContextStats, StatsRecorder
from contexts.stored import StoredContext, stored_bytes
from contexts.transport.base import ByteRequest, Transport
from contexts.transport.buffered import BufferedTransport
from contexts.transport.clients import shared_s3_client
from contexts.transport.hedge import HedgePolicy, first_success, policy_for, settle
from contexts.transport.local import PooledLocalTransport
from contexts.transport.options import S3ClientOptions, S3Options
from contexts.transport.retry import deadline_scope
from contexts.transport.s3 import ThreadedS3Transport
from contexts.windows import LineWindows

MiB = 1024 * 1024
LOAD_LIMIT_BYTES = 512 * MiB
"""Largest stored context (UTF-8 bytes) loaded into memory; a laptop holds a few of them."""
HEAD_BYTES = 8 * MiB
"""Speculative read of the text's start at open, in parts fetched in parallel (see
``FIRST_PART_BYTES``): reads they cover wait for them (``ctx[0:50000]`` of a typical text lies
inside)."""
FIRST_PART_BYTES = 64 * 1024
"""The head's first part, small so that it lands first (``ctx[:100]`` of a typical text lies
inside); the rest of the head follows in ``part_bytes`` parts."""
TAIL_BYTES = 64 * 1024
"""Speculative read of the text's end at open (``ctx[-100:]``)."""
PART_BYTES = 1 * MiB
"""A cold read is split into parts of this size, fetched in parallel."""
LOAD_PART_BYTES = 4 * MiB
"""The background load's smallest range request: it asks for the text in ``load_workers``
parts at once, none smaller than this: one wave, so the costs paid per request (the client's
CPU, a server that reads more than the range asked for) are paid once per worker."""
LOAD_WORKERS = 16
"""Concurrent requests of the background load."""
DEMAND_FIRST_S = 0.5
"""How long a load request waits for callers' reads in flight before it goes anyway."""
LOAD_GRACE_S = 0.01
"""How long the load waits after open for the caller's first read that needs storage (or for
``wait_loaded``): a read made right after open goes out before the load's requests, and they
wait for it, instead of queueing behind them at the server and for this process's CPU (the
first line read at ``s3-standard``, 1M lines, took 160-190 ms behind the load's 16 requests,
and 20-50 ms ahead of them). An RLM's first read follows a model call: the load has begun."""
PIPELINE_CHUNKS = 4
"""Chunks per batch of ``grep`` / ``text()`` / iteration on a context that is not loaded."""
OVER_BUDGET_BATCH_SHARE = 8
"""Over its budget, a batch of ``grep`` / ``text()`` / iteration asks for at most this share of
``max_bytes``, in ``PIPELINE_CHUNKS`` chunks (each no shorter than ``OVER_BUDGET_MIN_LINES``):
its decoded ``str`` s hold 1 to 4 bytes a character, so a batch stays within half the budget,
and one character outside Latin-1 widens only its own chunk. At the default budget the batches
are unchanged."""
OVER_BUDGET_MIN_LINES = 1_000
"""The shortest chunk of a scan over budget: a scan never turns into a request per line."""
METADATA_COPIES = 2
"""Each metadata request goes out this many times at open and the first answer wins: open
waits for one request, and the fastest of two draws of S3's long-tailed first-byte latency
is about 0.6 x the median of one (lognormal p50 20 ms / p99 150 ms: 12.5 ms); one more small
GET per open, where a second round trip would cost far more."""
WINDOW_MAX_BYTES = 1 * MiB
"""Largest window of lines (:class:`~contexts.windows.LineWindows`) a read while the load runs
widens to: what it costs beyond the read is a few ms of transfer, once per window."""
WAIT_FOR_LOAD_BYTES = 32 * MiB
"""A read of more than this (estimated from its share of the lines) while the load runs waits
for the load: the load is already moving those bytes at the link's rate, and asking for them
again would only split the link (and the 2 cores) between two copies."""


def head_parts(head_bytes: int, part_bytes: int) -> list[tuple[int, int]]:
    """The speculative reads of the text's start at open: ``FIRST_PART_BYTES``, then
    ``part_bytes`` parts up to ``head_bytes``."""
    first = min(head_bytes, FIRST_PART_BYTES)
    rest = split(first, head_bytes, part_bytes) if head_bytes > first else ()
    return [(0, first), *rest]


def load_parts(
    size: int, load_part_bytes: int, load_workers: int, head_bytes: int = 0
) -> list[tuple[int, int]]:
    """The load's ranges of a ``size``-byte text: its first ``head_bytes`` as one (what open's
    head reads bring: it lands first, and the checks of the rest, in order, need not wait for
    a part that waited for them), then the rest, ``load_workers`` at once, none under
    ``load_part_bytes`` (what is held already is not fetched again)."""
    head = min(head_bytes, size)
    step = max(load_part_bytes, -(-(size - head) // load_workers))
    rest = list(split(head, size, step)) if size > head else []
    return [(0, head), *rest] if head else rest


def _whole_body(transport: Transport, name: str) -> bytes:
    """One whole-object GET, counted but not timed as a caller's wait."""
    return transport.fetch_many([ByteRequest(name)])[0]


T = TypeVar("T")


class _MetadataAnswer(NamedTuple):
    """A metadata object's body, and whether it is the cached one (its ETag still current)."""

    body: bytes
    from_cache: bool


class _LoadStopped(Exception):
    """The context closed while loading."""


class _LoadQueue:
    """Requests sent ``ahead`` at a time from when it is made; their bodies in order."""

    def __init__(
        self,
        send: Callable[[ByteRequest], Future[bytes]],
        requests: Sequence[ByteRequest],
        ahead: int,
    ) -> None:
        self._send = send
        self._queued = iter(requests)
        self._pending = deque(send(request) for request in islice(self._queued, ahead))

    def bodies(self) -> Generator[bytes, None, None]:
        """Each body in order, the next request sent as one is taken (those not sent yet are
        cancelled when the generator closes)."""
        try:
            while self._pending:
                body = self._pending.popleft().result()
                following = next(self._queued, None)
                if following is not None:
                    self._pending.append(self._send(following))
                yield body
        finally:
            self.cancel()

    def cancel(self) -> None:
        """Send nothing more; cancel the requests that have not started."""
        self._queued = iter(())
        for future in self._pending:
            future.cancel()


def s3_client_name(client: str, options: S3Options | None = None) -> str:
    """``obstore`` or ``boto3`` for the ``client`` option (a named error for another value, or
    for ``obstore`` where it is not installed). ``auto`` picks obstore where it is installed (a
    request costs this process about a seventh of boto3's CPU: see
    :mod:`contexts.transport.obstore_threaded`) and, given the ``options`` the bucket is reached
    with, where it can address the bucket (``region_known``); else boto3."""
    if client not in ("auto", "obstore", "boto3"):
        raise ValueError(f"client must be 'auto', 'obstore' or 'boto3', not {client!r}")
    installed = importlib.util.find_spec("obstore") is not None
    if client == "obstore" and not installed:
        raise MissingDependencyError(
            "client='obstore' needs obstore: pip install 'rlm-context-lab[obstore]', or pass "
            "client='boto3'"
        )
    if client != "auto":
        return client
    if not installed:
        return "boto3"
    if options is None:
        return "obstore"
    from contexts.transport.obstore_threaded import region_known  # imports obstore

    return "obstore" if region_known(options) else "boto3"


class AutoContext(Context):
    """Open in one round trip, cold slices in one more, everything in memory soon after.

    ``contexts.open("s3://bucket/ctx/")`` or ``AutoContext("s3://bucket/ctx/")``; a directory
    path reads a Modal Volume or bucket mount. ``wait_loaded()`` blocks until the in-memory copy
    is in place (``loaded``); ``load_error`` says why a load gave up (reads stay correct, through
    storage).
    """

    name = "auto"
    chunk_lines = 50_000

    def __init__(
        self,
        url: str,
        *,
        max_bytes: int = LOAD_LIMIT_BYTES,
        layout: str = "auto",
        max_workers: int = 64,
        load_workers: int = LOAD_WORKERS,
        head_bytes: int = HEAD_BYTES,
        tail_bytes: int = TAIL_BYTES,
        part_bytes: int = PART_BYTES,
        load_part_bytes: int = LOAD_PART_BYTES,
        metadata_cache: bool | str | os.PathLike[str] = True,
        metadata_copies: int = METADATA_COPIES,
        client: str = "auto",
        **options: Unpack[S3ClientOptions],
    ) -> None:
        sizes = {
            "max_bytes": max_bytes,
            "max_workers": max_workers,
            "load_workers": load_workers,
            "head_bytes": head_bytes,
            "tail_bytes": tail_bytes,
            "part_bytes": part_bytes,
            "load_part_bytes": load_part_bytes,
            "metadata_copies": metadata_copies,
        }
        for option, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{option} must be a positive integer, not {value!r}")
        if layout not in ("auto", "segments", "single"):
            raise ValueError(f"layout must be 'auto', 'segments' or 'single', not {layout!r}")
        self._client_option = client
        self.client = s3_client_name(client)
        """The S3 client the context reads with: ``obstore`` or ``boto3`` (``client="auto"``:
        obstore where it is installed and can address the bucket, see :func:`s3_client_name`)."""
        cache = cache_from_option(metadata_cache)
        super().__init__()
        self.url = url
        self.metadata_cache = cache
        """Where reopens find the metadata (``None``: no cache)."""
        self.metadata_revalidated: list[str] = []
        """Metadata objects this open took from the cache (their ETags still matched)."""
        self.max_bytes = max_bytes
        self.max_workers = max_workers
        self.load_workers = load_workers
        self.head_bytes = head_bytes
        self.tail_bytes = tail_bytes
        self.part_bytes = part_bytes
        self.load_part_bytes = load_part_bytes
        self.metadata_copies = metadata_copies
        """Copies of each metadata request sent at open (the first answer wins)."""
        self.load_error: BaseException | None = None
        """Why the background load gave up, if it did (reads go through storage instead)."""
        self._options = options
        self._deadline_s = options.get("deadline_s")
        self._first_segment_bytes: int | None = None
        self._stored_bytes: int | None = None  # the text's size, when a load is under way
        self._over_budget_bytes: int | None = None  # the text's size, when it is not loaded
        self._text_size: int | None = None
        self._sized = threading.Event()  # set once open knows the text's size (or never will)
        self._layout_name = layout
        self._opened_layout = layout  # "single" once the first round found the line index
        self._copies_differ: IntegrityError | None = None  # the text object vs its index's copies
        self._stop = threading.Event()
        self._load_wanted = threading.Event()  # the caller reads, or waits for the load
        self._load_ended = threading.Event()
        # A thread for each of open's requests besides the load's workers: a load request
        # never waits for a thread held by a speculative read of open.
        opening = 2 * (metadata_copies + 1) + 2 + len(head_parts(head_bytes, part_bytes))
        self._background = ThreadPoolExecutor(
            load_workers + opening, thread_name_prefix="auto-load"
        )
        self._demand_pool = ThreadPoolExecutor(max_workers, thread_name_prefix="auto-demand")
        self.hedge = HedgePolicy()
        """When a slow request of this context is sent once more (``hedge.copies``: how often);
        for S3, it starts from what the process's newest context on the endpoint learned."""
        self._buffer: BufferedTransport | None = None
        self._tail_flight: Future[bytes] | None = None
        self._segment_flight: Future[bytes] | None = None
        self._memory: Context | None = None
        self._fallback: PrefetchingContext | None = None
        self._loader: threading.Thread | None = None
        self._windows: LineWindows | None = None  # while the load runs: small reads' windows
        self._layout: StoredContext | None = None
        try:
            self._layout = StoredContext(
                url,
                make_transport=self._primed,
                layout=lambda: self._opened_layout,
                name="auto-layout",
                defer_table=True,
            )
            reader = self._layout.reader
            if isinstance(reader, SingleObjectReader):
                self._layout.reader = reader.configured(
                    coalesce_bytes=DEFAULT_COALESCE_BYTES, part_bytes=part_bytes
                )
            self._layout_known()
            self._start_loading()
        except BaseException:
            self._shutdown()
            raise

    # -- open: one round trip --------------------------------------------------------------------

    def _primed(self, location: Location, stats: StatsRecorder) -> BufferedTransport:
        """The buffered transport, with the metadata and the speculative reads answered."""
        inner = self._inner_transport(location, stats)
        buffer = BufferedTransport(
            inner, hedge=self.hedge, pool=self._demand_pool, on_demand=self._load_wanted.set
        )
        self._buffer = buffer
        try:
            self._first_round(buffer)
        except BaseException:
            buffer.close()
            raise
        return buffer

    def _inner_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        if isinstance(location, S3Location):
            pool = self.max_workers + self.load_workers
            options = S3Options(max_pool_connections=pool, **self._options)
            self.hedge = policy_for(f"{options.endpoint_url or 'AWS S3'} {options.region_name}")
            self.client = s3_client_name(self._client_option, options)
            if self.client == "obstore":
                from contexts.transport import obstore_threaded

                return obstore_threaded.ThreadedObstoreTransport(
                    location, options, stats, self.max_workers
                )
            client = shared_s3_client(options)
            return ThreadedS3Transport(location, options, stats, self.max_workers, client)
        if isinstance(location, LocalLocation):
            if self._options:
                raise InvalidURLError(
                    f"{', '.join(sorted(self._options))} apply to s3:// URLs, not the directory "
                    f"{self.url!r}; drop them"
                )
            return PooledLocalTransport(location, stats, min(self.max_workers, 16))
        raise InvalidURLError(f"{self.name} reads s3:// URLs and directories, not {self.url!r}")

    def _first_round(self, buffer: BufferedTransport) -> None:
        """Send the metadata and the speculative data requests together; wait for the
        metadata only. The data requests are flights: a read they cover waits for them.

        The line index decides first: once it has come back, open goes on without waiting for
        the manifest's answer (``contexts.write_layout`` leaves one layout's metadata at a URL;
        where both are found, as in the middle of another writer's switch, the index wins)."""
        inner = buffer.inner
        metadata: list[str] = []
        if self._layout_name in ("auto", "single"):
            metadata.append(INDEX_NAME)
        if self._layout_name in ("auto", "segments"):
            metadata.append(MANIFEST_NAME)
        # copies of a request to a directory would only queue behind each other
        count = self.metadata_copies if isinstance(inner.location, S3Location) else 1
        # every copy asks with the same cached entry: one that lands first and replaces the
        # entry must not turn the next copy's answer into a revalidation
        cached = {name: self._cached_metadata(inner, name) for name in metadata}
        sent = time.monotonic()
        futures = {
            name: [
                self._submit(self._metadata_body, inner, name, cached[name]) for _ in range(count)
            ]
            for name in metadata
        }
        buffer.stats.record_repeats(len(metadata) * (count - 1))
        # Each request sent starts a thread, a wait for the GIL while answers already arrive:
        # the data requests are sent from the demand pool (idle at open), and this thread
        # only waits for the metadata.
        launched = self._demand_pool.submit(
            contextvars.copy_context().run, self._send_speculative, buffer
        )
        try:
            with buffer.stats.waiting():
                for name, copies in futures.items():
                    outcome = self._metadata_outcome(buffer, name, copies, cached[name], sent)
                    buffer.hold_once(name, outcome)
                    if name == INDEX_NAME and isinstance(outcome, bytes):
                        self._opened_layout = "single"
                        return
        finally:
            launched.result()  # every flight is known before a read can look for it

    def _send_speculative(self, buffer: BufferedTransport) -> None:
        """Send the speculative data requests of open (the first segment; the text's end and
        its head, in parts), each a flight of ``buffer``."""
        inner = buffer.inner
        if self._layout_name in ("auto", "segments"):
            self._segment_flight = self._submit(self._speculative_segment, inner)
            buffer.expect_whole(segment_name(1), self._segment_flight)
        if self._layout_name in ("auto", "single"):
            self._tail_flight = self._submit(self._speculative_tail, inner)
            for start, stop in head_parts(self.head_bytes, self.part_bytes):
                flight = self._submit(self._speculative_part, start, stop)
                buffer.expect(TEXT_NAME, start, stop, flight)

    def _metadata_outcome(
        self,
        buffer: BufferedTransport,
        name: str,
        copies: list[Future[_MetadataAnswer]],
        cached: CachedObject | None,
        sent: float,
    ) -> bytes | ContextError:
        """The first answer of the copies of a metadata request (sent at ``sent``), or their
        error; unanswered after the hedge delay, it goes once more. A body taken from the cache
        is listed in ``metadata_revalidated``."""
        timeout = max(0.0, sent + self.hedge.delay() - time.monotonic())
        wait(copies, timeout=timeout, return_when=FIRST_COMPLETED)
        candidates = list(copies)
        if not any(copy.done() for copy in copies) and self.hedge.may_copy():
            self.hedge.copied()
            buffer.stats.record_repeats(1)
            # on the demand pool: the load pool's threads may all be speculative reads
            # waiting for this very answer
            copy = self._submit(
                self._metadata_body, buffer.inner, name, cached, pool=self._demand_pool
            )
            candidates.append(copy)
        try:
            answer = first_success(candidates)
        except ContextError as error:
            return error
        if answer.from_cache:
            self.metadata_revalidated.append(name)
        return answer.body

    def _metadata_key(self, inner: Transport, name: str) -> str | None:
        """Where the metadata cache keeps ``name`` (``None``: not cached)."""
        if self.metadata_cache is None or not isinstance(inner.location, S3Location):
            return None
        return f"{self._options.get('endpoint_url') or 'AWS S3'} {inner.url(name)}"

    def _cached_metadata(self, inner: Transport, name: str) -> CachedObject | None:
        """The cached entry of ``name``, if any."""
        key = self._metadata_key(inner, name)
        return None if key is None or self.metadata_cache is None else self.metadata_cache.get(key)

    def _metadata_body(
        self, inner: Transport, name: str, cached: CachedObject | None
    ) -> _MetadataAnswer:
        """``name``: ``cached`` if its ETag still matches, else fetched (and cached); one
        request either way."""
        cache, key = self.metadata_cache, self._metadata_key(inner, name)
        if cache is None or key is None:
            body = self.hedge.timed(lambda: _whole_body(inner, name), eager=True)
            return _MetadataAnswer(body, False)
        etag = None if cached is None else cached.etag
        started = time.monotonic()
        try:
            answer = inner.fetch_revalidated(name, etag)
        except ContextError:
            cache.discard(key)  # gone, or unreadable: a later open must not trust the entry
            raise
        self.hedge.observe(time.monotonic() - started, len(answer.body or b""))
        if answer.body is None:
            assert cached is not None
            return _MetadataAnswer(cached.body, True)
        if answer.etag:
            cache.put(key, answer.etag, answer.body)
        return _MetadataAnswer(answer.body, False)

    def _submit(
        self, fetch: Callable[..., T], *args: Any, pool: ThreadPoolExecutor | None = None
    ) -> Future[T]:
        """Run ``fetch(*args)`` on a thread of ``pool`` (the load's, by default) under its own
        ``deadline_s`` (the speculative reads of open and each load request are reads like any
        slice)."""

        def run() -> T:
            with deadline_scope(self._deadline_s):
                return fetch(*args)

        return (pool or self._background).submit(contextvars.copy_context().run, run)

    # Each speculative read fetches, then waits until open knows the layout (and the text's
    # size), then holds its body if the metadata confirms its length (and hash).

    def _speculative_part(self, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the text (a part past the end fails or comes back short)."""
        assert self._buffer is not None
        # hedged as the parts of a caller's read (urgent): a read of the text's first MBs
        # waits for the slowest of them (on the demand pool, idle at open)
        request = ByteRequest(TEXT_NAME, (start, stop))
        body = self._buffer.fetch_hedged([request], eager=True, urgent=True)[0]
        self._sized.wait()
        size = self._text_size
        if size is not None and start < size and len(body) == min(stop, size) - start:
            self._hold_checked(start, body)
        return body

    def _speculative_tail(self, inner: Transport) -> bytes:
        """The text's last ``tail_bytes``, placed once the size is known."""
        assert self._buffer is not None
        fetch = partial(inner.get_suffix, TEXT_NAME, self.tail_bytes)
        body = self._buffer.hedged_calls([fetch], [self.tail_bytes], eager=True)[0]
        self._sized.wait()
        size = self._text_size
        if size is not None and len(body) == min(self.tail_bytes, size):
            self._hold_checked(size - len(body), body)
        return body

    def _hold_checked(self, start: int, body: bytes) -> None:
        """Hold the text object's bytes at ``start`` once they agree with the copies of the
        text's ends its index carries; where they differ, the object changed after it was
        indexed: nothing of it stays held (reads go to storage, whose checks decide) and the
        load fails (``load_error``)."""
        assert self._buffer is not None and self._layout is not None
        reader = self._layout.reader
        if isinstance(reader, SingleObjectReader):
            for copy_start, copy in reader.index.copies():
                low = max(start, copy_start)
                high = min(start + len(body), copy_start + len(copy))
                if (
                    low < high
                    and body[low - start : high - start]
                    != copy[low - copy_start : high - copy_start]
                ):
                    self._copies_differ = IntegrityError(
                        f"{self._buffer_url(TEXT_NAME)}: bytes {low}-{high - 1} differ from the "
                        f"copy its index carries: the object changed after it was indexed; "
                        f"{REWRITE_SINGLE}"
                    )
                    self._buffer.drop(TEXT_NAME)
                    return
        if self._copies_differ is None:
            self._buffer.hold(TEXT_NAME, start, body)

    def _speculative_segment(self, inner: Transport) -> bytes:
        """The first segment of a segments layout."""
        body = self.hedge.timed(lambda: _whole_body(inner, segment_name(1)), eager=True)
        self._sized.wait()
        reader = None if self._layout is None else self._layout.reader
        if isinstance(reader, SegmentsReader) and reader.manifest.segments:
            entry = reader.manifest.segments[0]
            if entry.name == segment_name(1):
                self._first_segment_bytes = len(body)
                if entry.byte_count == len(body) and (
                    entry.sha256 is None or hashlib.sha256(body).hexdigest() == entry.sha256
                ):
                    assert self._buffer is not None
                    self._buffer.hold_whole(entry.name, body)
        return body

    def _layout_known(self) -> None:
        """Open knows the layout: hold the copies of the text's ends its index carries, release
        the speculative reads; a read of the text's end waits for the tail read in flight."""
        assert self._layout is not None and self._buffer is not None
        reader = self._layout.reader
        if isinstance(reader, SingleObjectReader):
            for start, copy in reader.index.copies():
                self._buffer.hold(reader.index.object_name, start, copy)
        if isinstance(reader, SingleObjectReader) and reader.index.object_name == TEXT_NAME:
            size = self._text_size = reader.index.byte_count
            tail = self._tail_flight
            if tail is not None and not tail.done() and size > 0:
                self._buffer.expect(TEXT_NAME, max(0, size - self.tail_bytes), size, tail)
        self._sized.set()

    # -- the background load -----------------------------------------------------------------------

    def _start_loading(self) -> None:
        assert self._layout is not None
        stored = stored_bytes(self._layout)
        reader = self._layout.reader
        if stored is None and isinstance(reader, SegmentsReader) and self._segment_flight:
            settle([self._segment_flight])  # a manifest without sizes: estimate from segment 1
            if self._first_segment_bytes is not None:
                stored = self._first_segment_bytes * len(reader.manifest.segments)
        if stored is not None and stored > self.max_bytes:
            self._fall_back(stored)
            return
        self._stored_bytes = stored
        assert self._buffer is not None
        if isinstance(reader, SingleObjectReader):  # callers' reads are held, and read on
            self._buffer.hold_demand = True
            self._buffer.read_ahead(reader.index.object_name, reader.index.byte_count)
            self._windows = LineWindows(reader.line_count)
        self._loader = threading.Thread(target=self._load, name="auto-loader", daemon=True)
        self._loader.start()

    def _fall_back(self, stored: int) -> None:
        """Read through a cache of ``max_bytes`` from now on: the text holds ``stored`` bytes
        (or about as many: a manifest without sizes), too many to load."""
        assert self._layout is not None
        self._over_budget_bytes = stored  # first: a scan that sees the cache sizes batches by it
        self._fallback = PrefetchingContext(self._layout, max_bytes=self.max_bytes)

    def _batch_lines(self) -> tuple[int, int]:
        """Lines per chunk and per batch of a scan through storage: ``PIPELINE_CHUNKS`` chunks
        of ``chunk_lines``; over a budget they would not fit in, a batch of
        ``OVER_BUDGET_BATCH_SHARE`` of it (at the text's mean bytes a line) in chunks of a
        ``PIPELINE_CHUNKS``-th of that."""
        batch = self.chunk_lines * PIPELINE_CHUNKS
        stored, lines = self._over_budget_bytes, len(self)
        if self._fallback is None or not stored or not lines:
            return self.chunk_lines, batch
        fits = int(self.max_bytes / OVER_BUDGET_BATCH_SHARE / (stored / lines))
        fits = max(OVER_BUDGET_MIN_LINES, fits)
        chunk = min(self.chunk_lines, max(OVER_BUDGET_MIN_LINES, fits // PIPELINE_CHUNKS))
        return chunk, min(batch, max(chunk, fits // chunk * chunk))

    def _load(self) -> None:
        """After ``LOAD_GRACE_S`` or the caller's first read (whichever comes first), load, say
        so (``wait_loaded``), then decode what is still bytes while the caller thinks (a read
        decodes the blocks it needs itself)."""
        self._load_wanted.wait(LOAD_GRACE_S)
        try:
            self._load_into_memory()
        finally:
            self._load_ended.set()
        decoded = None
        while isinstance(memory := self._memory, CheckpointedText) and memory is not decoded:
            try:  # and the one that replaces it after a whole read (its offsets to check)
                memory.decode_all(self._stop)
            except IntegrityError as exc:  # bytes that came wrong: read through storage instead
                self._drop_memory(exc)
            decoded = memory

    def _load_into_memory(self) -> None:
        assert self._layout is not None and self._buffer is not None
        try:
            reader = self._layout.reader
            memory: Context | None
            if isinstance(reader, SingleObjectReader):
                memory = self._load_single(reader)
            else:
                assert isinstance(reader, SegmentsReader)
                text = self._load_segments(reader)
                memory = None if text is None else InMemoryContext(text)
            self._buffer.wait_for_flights(TEXT_NAME)  # each one checks what it brings
            if self._copies_differ is not None:  # against the index's copies
                raise self._copies_differ
            if memory is not None:
                if len(memory) != reader.line_count:
                    raise IntegrityError(
                        f"{self.url}: the loaded text has {len(memory)} lines, its metadata says "
                        f"{reader.line_count}; rewrite it with contexts.write_layout"
                    )
                self._memory = memory
                self._windows = None  # reads go to memory now
        except (_LoadStopped, ContextClosedError):
            pass
        except BaseException as exc:  # reads stay correct through storage
            if not self._stop.is_set():
                self.load_error = exc
        finally:
            # After the load no request is left in the background: speculative head parts
            # past the text's end land too (before the held bytes go).
            self._buffer.wait_for_flights(TEXT_NAME)
            self._buffer.release()

    def _load_single(self, reader: SingleObjectReader) -> Context:
        """The text object in ``load_workers`` parts at once (none under ``load_part_bytes``),
        decoded and checked as they arrive in order."""
        index = reader.index
        size, name = index.byte_count, index.object_name
        head = self.head_bytes if name == TEXT_NAME else 0  # the head parts' range
        parts = load_parts(size, self.load_part_bytes, self.load_workers, head)
        queue = self._queued([ByteRequest(name, part) for part in parts])
        try:
            bodies = queue.bodies()
            # The index's character offsets are computed once the first part is in, not by
            # open and not while the load's requests go out (~15 ms of the GIL for 2M lines)
            first = list(islice(bodies, 1))
            index.char_checkpoints  # noqa: B018
            return loaded_context(chain(first, bodies), index, self._buffer_url(name))
        finally:
            queue.cancel()  # what was not taken is not wanted

    def _load_segments(self, reader: SegmentsReader) -> str | None:
        """Every segment, checked as it is assembled; past ``max_bytes`` (a manifest without
        sizes) the load stops and reads go through the cache."""
        segments = reader.manifest.segments
        if not segments:
            return ""
        plan = reader.plan([(entry.start_line, entry.stop_line) for entry in segments])
        bodies: list[bytes] = []
        loaded = 0
        queue = self._queued(plan.requests)
        try:
            for body in queue.bodies():
                loaded += len(body)
                if loaded > self.max_bytes:  # at the mean size of the segments read so far
                    self._fall_back(loaded * len(segments) // (len(bodies) + 1))
                    return None
                bodies.append(body)
        finally:
            queue.cancel()
        return "".join(reader.assemble(plan, bodies))

    def _queued(self, requests: Sequence[ByteRequest]) -> _LoadQueue:
        """``requests`` sent on the load's pool, at most two per load worker ahead (a load that
        stops early leaves little in flight)."""
        send = partial(self._submit, self._load_request)
        return _LoadQueue(send, requests, 2 * self.load_workers)

    def _buffer_url(self, name: str) -> str:
        assert self._buffer is not None
        return self._buffer.url(name)

    def _load_request(self, request: ByteRequest) -> bytes:
        """One load request, after the flights that bring bytes of its range not held yet and
        after callers' reads in flight: the range from its first byte not held to its last (a
        range held whole is not fetched); a fetched range of the wrong length is fetched again
        (then the layout's checks decide)."""
        assert self._buffer is not None
        buffer = self._buffer
        if request.byte_range is None:
            buffer.wait_for_flights(request.name)  # the first segment, read at open
            return self._fetch_for_load(request)
        start, stop = request.byte_range
        for gap_start, gap_stop in buffer.gaps(request.name, start, stop):
            # only flights that bring bytes still missing (not a read of what the index's
            # copies already hold): each one waited for is a round trip before this request
            buffer.wait_for_flights(request.name, gap_start, gap_stop)
        gaps = buffer.gaps(request.name, start, stop)
        if gaps:  # one request from the first gap to the last (callers' reads held pieces
            gap_start, gap_stop = gaps[0][0], gaps[-1][1]  # inside; held bytes are kept)
            gap = ByteRequest(request.name, (gap_start, gap_stop))
            landed: Future[bytes] = Future()  # a caller's read may wait for this part
            try:
                body = self._fetch_for_load(gap, landed)
                for _attempt in range(2):
                    if len(body) == gap.nbytes:
                        break
                    buffer.stats.record_repeats(1)
                    body = self._fetch_for_load(gap)
                if len(body) != gap.nbytes:
                    return body  # the layout's checks name the error
                buffer.hold(request.name, gap_start, body)
            finally:
                landed.set_result(b"")
        held = buffer.read_held(request.name, start, stop)
        assert held is not None
        return held

    def _fetch_for_load(self, request: ByteRequest, landed: Future[bytes] | None = None) -> bytes:
        """One load request after the callers' reads in flight; with ``landed``, the range is a
        flight from when it is sent (resolved by the caller once the bytes are held)."""
        assert self._buffer is not None
        if self._stop.is_set():
            raise _LoadStopped
        held = self._buffer.read_held_whole(request.name) if request.byte_range is None else None
        if held is not None:
            return held
        self._buffer.wait_for_demand(DEMAND_FIRST_S)
        if self._stop.is_set():
            raise _LoadStopped
        if landed is not None and request.byte_range is not None:
            start, stop = request.byte_range
            eta = time.monotonic() + self.hedge.expected(stop - start)
            self._buffer.expect(request.name, start, stop, landed, eta)
        # hedged like a caller's request: a straggler of the latency tail would hold the whole
        # load up
        return self._buffer.fetch_hedged([request])[0]

    # -- state ---------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the whole text is in memory."""
        return self._memory is not None

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Wait for the background load to end (it ends after every speculative read has),
        ``timeout`` seconds at most; whether the text is now in memory."""
        if self._loader is not None:
            self._load_wanted.set()
            self._load_ended.wait(timeout)
        return self._memory is not None

    def _source(self) -> Context:
        memory = self._memory
        if memory is not None:
            return memory
        if self._fallback is not None:
            return self._fallback
        assert self._layout is not None
        return self._layout

    # -- reads ---------------------------------------------------------------------------------

    def _line_count(self) -> int:
        assert self._layout is not None
        return self._layout.reader.line_count

    def char_map(self) -> CharMap | None:
        return self._source().char_map()

    def _read_ranges(self, ranges: Sequence[LineRange]) -> list[str]:
        self._check_open()
        if self._memory is None and self._stored_bytes and not self._load_ended.is_set():
            lines = sum(stop - start for start, stop in ranges)
            if lines * self._stored_bytes > WAIT_FOR_LOAD_BYTES * self._line_count():
                self.wait_loaded()
        memory = self._memory
        if memory is not None:
            try:
                if len(ranges) == 1 and tuple(ranges[0]) == (0, self._line_count()):
                    return [self._whole_text(memory)]
                return memory._read_ranges(ranges)
            except IntegrityError as exc:
                self._drop_memory(exc)
        windows = self._windows
        if windows is not None and self._fallback is None:
            return self._read_through_windows(windows, ranges)
        return self._source()._read_ranges(ranges)

    def _read_through_windows(self, windows: LineWindows, ranges: Sequence[LineRange]) -> list[str]:
        """``ranges`` from the runs of lines kept, else from storage (held bytes first): a range
        up to a window long as its whole window where that pays (:meth:`_window_pays`), a longer
        one as asked; both are kept. ``for i in range(n): ctx[i]`` decodes each window once, not
        each line, and a slice read again is not decoded again."""
        assert self._layout is not None
        answers = [windows.cut(start, stop) for start, stop in ranges]
        if all(answer is not None for answer in answers):
            return [answer for answer in answers if answer is not None]
        reads: dict[LineRange, bool] = {}  # what is read -> whether it is kept
        for (start, stop), answer in zip(ranges, answers, strict=True):
            if answer is None:
                window = windows.window_of(start, stop)
                if window is None:
                    reads[(start, stop)] = True
                elif self._window_pays(window, (start, stop)):
                    reads[window] = True
                else:
                    reads.setdefault((start, stop), False)
        texts = dict(zip(reads, self._layout._read_ranges(list(reads)), strict=True))
        for run, kept in reads.items():
            if kept:
                windows.keep(run, texts[run])
        result: list[str] = []
        for (start, stop), answer in zip(ranges, answers, strict=True):
            if answer is None:
                answer = texts.get((start, stop))  # read as asked
            if answer is None:  # read as its window
                first, last = windows.window_of(start, stop) or (start, stop)
                answer = cut_lines(texts[(first, last)], start - first, stop - first, last - first)
            result.append(answer)
        return result

    def _window_pays(self, window: LineRange, read: LineRange) -> bool:
        """Whether ``read`` is better read as its whole ``window``: one of at most
        ``WINDOW_MAX_BYTES`` whose bytes are held (decoded once, no request), or whose read
        needs a request anyway (the window's bytes come in it)."""
        assert self._layout is not None and self._buffer is not None
        reader = self._layout.reader
        if not isinstance(reader, SingleObjectReader):
            return False
        index = reader.index
        if not index.span_known(*window):  # a peek at either end, before the table is decoded
            return False
        _first, _last, window_start, window_stop = index.span(*window)
        if window_stop - window_start > WINDOW_MAX_BYTES:
            return False
        name = index.object_name
        if not self._buffer.gaps(name, max(0, window_start - 1), window_stop):
            return True
        _first, _last, read_start, read_stop = index.span(*read)
        return bool(self._buffer.gaps(name, max(0, read_start - 1), read_stop))

    def _drop_memory(self, exc: IntegrityError) -> None:
        """A loaded block failed its checks when first decoded: read through storage from now
        on (whose own checks decide), and say why in ``load_error``."""
        self._memory = None
        self.load_error = exc

    def text(self) -> str:
        self._check_open()
        self.wait_loaded()
        memory = self._memory
        if memory is not None:
            try:
                return self._whole_text(memory)
            except IntegrityError as exc:
                self._drop_memory(exc)
        return super().text()

    def _whole_text(self, memory: Context) -> str:
        """The loaded text as one ``str``; from then on the loaded text is that ``str`` where it
        holds no more memory than the blocks (:meth:`CheckpointedText.whole`): the next
        whole read is the same object, not another copy of hundreds of MB."""
        if not isinstance(memory, CheckpointedText):
            return memory.text()
        text, kept = memory.whole()
        if kept is not None and self._memory is memory:
            self._memory = kept
            memory.retire()  # its decode_all stops; the loader checks the kept text's offsets
        return text

    def grep(
        self, pattern: str | re.Pattern[str], flags: int = 0, *, max_hits: int | None = None
    ) -> list[GrepHit]:
        self._check_open()
        self.wait_loaded()
        memory = self._memory
        if memory is not None:
            try:
                return memory.grep(pattern, flags, max_hits=max_hits)
            except IntegrityError as exc:
                self._drop_memory(exc)
        return super().grep(pattern, flags, max_hits=max_hits)

    def _chunks(self, low: int = 0, high: int | None = None) -> Iterator[tuple[int, str]]:
        """Chunks from memory once loaded (a load under way is waited for); otherwise
        batches of chunks straight from storage (not through the cache, which a whole scan
        would only flush), sized by :meth:`_batch_lines`."""
        self._check_open()
        self.wait_loaded()
        memory = self._memory
        if memory is not None:
            yield from memory._chunks(low, high)
            return
        assert self._layout is not None
        stop_at = len(self) if high is None else high
        chunk_lines, batch_lines = self._batch_lines()
        fallback = self._fallback
        # Over budget, the cache lends what a batch can take once decoded (4 bytes a
        # character), so the scan's batches and the cache fit the budget together.
        lent = 4 * self.max_bytes // OVER_BUDGET_BATCH_SHARE
        with nullcontext() if fallback is None else fallback.lent(lent):
            for batch_start in range(low, stop_at, batch_lines):
                batch_stop = min(stop_at, batch_start + batch_lines)
                starts = range(batch_start, batch_stop, chunk_lines)
                ranges = [(start, min(batch_stop, start + chunk_lines)) for start in starts]
                self._check_open()
                yield from zip(starts, self._layout._read_ranges(ranges), strict=True)

    @property
    def stats(self) -> ContextStats:
        """Every request so far, the background load's included."""
        if self._fallback is not None:
            return self._fallback.stats
        assert self._layout is not None
        return self._layout.stats

    # -- life cycle --------------------------------------------------------------------------------

    def _close(self) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        """Stop the load, join every thread, release the transport (not the shared client)."""
        self._stop.set()
        self._sized.set()
        self._load_wanted.set()
        if self._buffer is not None:
            self._buffer.stop()
        self._demand_pool.shutdown(wait=True, cancel_futures=True)
        self._background.shutdown(wait=True, cancel_futures=True)
        if self._loader is not None:
            self._loader.join()
        if self._fallback is not None:
            self._fallback.close()
        if self._layout is not None:
            self._layout.close()
        elif self._buffer is not None:
            self._buffer.close()
        if self._memory is not None:
            self._memory.close()
            # An AutoContext is in reference cycles (its layout calls back into it): a closed
            # one may wait for the cyclic collector, its text must not (in the bench, 1M-line
            # texts of closed contexts piled up to gigabytes, and a grep took 1.5 s, not 0.5)
            self._memory = None

    def _describe(self) -> str:
        if self._layout is None:
            return self.url
        if self._memory is not None:
            state = "in memory"
        elif self._fallback is not None:
            state = "through an LRU cache"
        else:
            state = "loading" if self.load_error is None else "from storage"
        reader = self._layout.reader
        return f"{self.url} ({reader.layout}, {reader.line_count} lines, {state})"


__all__ = ["AutoContext", "head_parts", "load_parts"]
