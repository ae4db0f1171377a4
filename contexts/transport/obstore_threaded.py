"""obstore GETs made from the caller's threads: the Rust client's blocking calls, which release
the GIL while they wait and cost a fraction of boto3's CPU per request.

``ThreadedObstoreTransport`` is what ``auto`` reads S3 with where obstore is installed. A boto3
``GetObject`` spends about 1 ms of this process's CPU (signing, botocore's event hooks, parsing)
against about 0.15 ms for obstore's ``get`` (measured against the embedded server at ``none``,
100-byte ranges; 1.2 against 0.6 ms for 1 MiB ones). At open, ``auto`` sends 15 requests at once:
on 2 cores the boto3 ones left over 20-35 ms, the obstore ones within 11-14 ms.

Every call is synchronous on the calling thread (no event loop of the transport's own), so the
thread pools that ``auto`` and :class:`~contexts.transport.pool.PooledTransport` already run,
the per-slice deadline (a context variable) and the hedge's first-byte signal work unchanged:
``obstore.get`` returns when the response's headers have arrived, and the body is read after.

One ``S3Store`` per bucket and connection settings is shared by every transport of the process
(:func:`shared_store`), keyed as boto3 clients are (:func:`contexts.transport.clients.
client_key`: credentials only as a digest), so an open makes no new session or connection pool.
Errors are translated and retried as :class:`~contexts.transport.obstore.ObstoreTransport`'s
are (obstore's own retries are off; every attempt is counted).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, cast

import obstore
from obstore.exceptions import GenericError, NotModifiedError

from contexts.errors import ContextError
from contexts.location import S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest, Revalidated, Transport, past_the_end
from contexts.transport.clients import client_key, with_shared_session
from contexts.transport.hedge import first_byte_arrived
from contexts.transport.obstore import make_store, translate_error
from contexts.transport.options import S3Options
from contexts.transport.pool import PooledTransport
from contexts.transport.retry import check_deadline

if TYPE_CHECKING:
    from obstore import GetOptions
    from obstore.store import S3Store

_lock = threading.Lock()
_stores: dict[tuple[Any, ...], S3Store] = {}
_regions: dict[tuple[Any, ...], bool] = {}
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def shared_store(location: S3Location, options: S3Options) -> S3Store:
    """The process's ``S3Store`` for ``location``'s bucket reached with ``options``, made on
    first use (a missing profile or credentials raise ``CredentialsError`` here)."""
    key = (location.bucket, *client_key(options))
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = make_store(location, options)
        return store


def region_known(options: S3Options) -> bool:
    """Whether obstore can address a bucket reached with ``options``: through a custom endpoint,
    or with a region configured (``region_name``, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, the
    profile's). boto3 follows S3's redirect to a bucket's region; object_store does not, so
    without either ``auto`` reads with boto3. Decided once per ``client_key``."""
    endpoint = options.endpoint_url or any(os.environ.get(n) for n in _ENDPOINT_VARIABLES)
    if endpoint or options.region_name:
        return True
    key = client_key(options)
    with _lock:
        known = _regions.get(key)
    if known is None:
        known = bool(with_shared_session(options, lambda session: session.region_name))
        with _lock:
            _regions[key] = known
    return known


def shared_store_count() -> int:
    """How many shared stores exist (for tests and reports)."""
    with _lock:
        return len(_stores)


_NON_PARTIAL = "non-partial response"
"""object_store's error for a ranged GET answered with the whole object."""


def _clipped(whole: bytes, get_options: GetOptions, url: str) -> bytes:
    """What a range asks of an object read whole (a suffix: its last bytes)."""
    wanted = get_options.get("range")
    if isinstance(wanted, dict) and "suffix" in wanted:
        nbytes = cast("dict[str, int]", wanted)["suffix"]
        return whole[-nbytes:] if nbytes else b""
    if isinstance(wanted, tuple):
        start, stop = wanted
        if start >= len(whole):
            raise past_the_end(url, f"a {len(whole)}-byte object")
        return whole[start:stop]
    return whole


class ThreadedObstoreTransport(PooledTransport, Transport):
    """obstore GETs on the calling thread; a batch runs on ``max_workers`` threads."""

    location: S3Location
    reports_first_byte = True

    def __init__(
        self,
        location: S3Location,
        options: S3Options,
        stats: StatsRecorder,
        max_workers: int,
        store: S3Store | None = None,
    ) -> None:
        super().__init__(location, stats)
        self.options = options
        self.deadline_s = options.deadline_s
        self.max_workers = max_workers
        self.store = store if store is not None else shared_store(location, options)

    def _fetch(self, request: ByteRequest) -> bytes:
        if request.byte_range is None:
            return self._body(request.name, {})
        return self._body(request.name, {"range": request.byte_range})

    def _fetch_suffix(self, name: str, nbytes: int) -> bytes:
        return self._body(name, {"range": {"suffix": nbytes}})

    def _fetch_revalidated(self, name: str, etag: str | None) -> Revalidated:
        return self._get(name, {} if etag is None else {"if_none_match": etag})

    def _body(self, name: str, get_options: GetOptions) -> bytes:
        body = self._get(name, get_options).body
        assert body is not None  # only a conditional GET answers "not modified"
        return body

    def _get(self, name: str, get_options: GetOptions) -> Revalidated:
        """One GET of ``name`` with up to ``max_attempts`` attempts (each one counted: the
        caller counts the first, repeats go to ``stats.retries``; a GET refused before its
        first attempt, past the read's deadline, is no request)."""
        url = self.url(name)
        key = self.location.key(name)
        attempts = 0

        def once() -> Revalidated:
            nonlocal attempts
            self._refuse_if_stopped()
            check_deadline(url)  # no new attempt past the read's deadline (as boto3's hook)
            attempts += 1
            try:
                result = obstore.get(self.store, key, options=get_options)
            except NotModifiedError:
                return Revalidated(None, get_options.get("if_none_match"))
            except GenericError as exc:
                if _NON_PARTIAL not in str(exc):
                    raise
                # A server may answer a range with the whole object (moto, for the suffix of
                # an empty one), which object_store refuses: read it whole, once more.
                self.stats.record_retries(1)
                result = obstore.get(self.store, key)
                whole = bytes(result.bytes())
                first_byte_arrived()
                return Revalidated(_clipped(whole, get_options, url), None)
            first_byte_arrived()
            data = bytes(result.bytes())
            etag = result.meta.get("e_tag")
            return Revalidated(data, etag if isinstance(etag, str) else None)

        def classify(exc: Exception) -> tuple[ContextError, bool]:
            return translate_error(exc, url=url, options=self.options)

        try:
            return self.options.retry_policy.run(
                once, classify, url=url, on_retry=lambda: self.stats.record_retries(1)
            )
        finally:
            if attempts == 0:
                self.stats.record_unsent()
