"""obstore transport: Rust ``object_store`` GETs, a whole batch at once on one background loop.

One ``obstore.store.S3Store`` per transport (thread-safe, its own HTTP connection pool). Every
fetch is a coroutine run on a private event loop (a daemon thread owned by the transport, the
fsspec "sync" pattern), so synchronous callers work from any thread, including one that runs its
own loop (Jupyter). A batch:

* fetches each whole object once (duplicates share one GET);
* **coalesces** byte ranges of the same object whose gap is at most ``coalesce_bytes`` into one
  GET and **splits** a GET longer than ``part_bytes`` into parts fetched in parallel (the
  planner of :mod:`contexts.ranges`, as the layouts plan);
* runs every GET at once (``asyncio.TaskGroup``), at most ``max_concurrency`` in flight; the first
  failure cancels the rest.

obstore's own retries are switched off and attempts are made here instead (the same
:class:`~contexts.transport.retry.RetryPolicy` as the boto3 transports' re-reads), so ``ctx.stats`` counts every attempt: obstore does not report
the retries of a request that finally succeeded. Credentials come from boto3's standard chain
(environment, profiles, SSO, roles) and are handed to obstore through a credential provider.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import re
import urllib.parse
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.credentials
import botocore.exceptions as bce
import obstore
from obstore.exceptions import (
    BaseError,
    GenericError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from contexts.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ContextClosedError,
    ContextError,
    CredentialsError,
    EndpointUnreachableError,
    InvalidURLError,
    ObjectNotFoundError,
    StorageError,
)
from contexts.location import S3Location
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES, check_sizes, coalesce, split
from contexts.stats import StatsRecorder
from contexts.transport.base import ByteRequest, Transport, past_the_end
from contexts.transport.clients import with_shared_session
from contexts.transport.loop_thread import LoopThread
from contexts.transport.options import S3Options

if TYPE_CHECKING:
    from obstore.store import ClientConfig, S3Config, S3Credential

T = TypeVar("T")

BODY_DEADLINE_S = 600.0
"""obstore's whole-request timeout (its default of 30 s would cut large bodies on slow links);
a silent endpoint is caught much earlier by ``read_timeout_s``."""
REFRESH_S = 600.0
"""How long obstore may cache refreshable (SSO, role) credentials before asking boto3 again.

obstore treats credentials as stale about 300 s before ``expires_at``, so this must stay well
above 300 s (at 300 the provider was called every ~100 ms); botocore's own mandatory refresh
keeps frozen credentials valid for at least 10 more minutes."""

_STATUS = re.compile(r"status code: (\d{3})")
_S3_CODE = re.compile(r"<Code>([^<]+)</Code>")
_HTTP_KIND = re.compile(r"HttpError \{\s*kind: (\w+)")
_CUT_KINDS = {"Interrupted", "Decode"}
_UNREACHABLE_KINDS = {"Connect", "Timeout", "Request"}
_WRONG_REGION = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired"}


# -- the batch plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Part of one requested body: ``length`` bytes at ``offset`` of the body of GET ``get``."""

    get: int
    """Index of the GET in :attr:`BatchPlan.gets`."""
    offset: int
    """Where the piece starts in that GET's body."""
    length: int | None
    """Bytes in the piece; ``None`` for the whole body."""


@dataclass(frozen=True)
class BatchPlan:
    """The GETs a batch issues and how each requested body is cut out of their bodies."""

    gets: tuple[ByteRequest, ...]
    pieces: tuple[tuple[Piece, ...], ...]
    """For each request of the batch, in order, the pieces to concatenate."""

    def assemble(self, bodies: Sequence[bytes]) -> list[bytes]:
        """Each request's body (shorter than asked if storage returned less: the layout checks)."""
        out: list[bytes] = []
        for pieces in self.pieces:
            if len(pieces) == 1:
                out.append(_cut(bodies[pieces[0].get], pieces[0]))
            else:
                out.append(b"".join(_cut(bodies[piece.get], piece) for piece in pieces))
        return out


def _cut(body: bytes, piece: Piece) -> bytes:
    if piece.length is None or (piece.offset == 0 and piece.length >= len(body)):
        return body
    return body[piece.offset : piece.offset + piece.length]


def plan_batch(
    requests: Sequence[ByteRequest],
    *,
    coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
    part_bytes: int | None = DEFAULT_PART_BYTES,
) -> BatchPlan:
    """Deduplicate whole-object GETs, coalesce nearby ranges and split long ones (see module)."""
    gets: list[ByteRequest] = []
    get_index: dict[ByteRequest, int] = {}

    def add(get: ByteRequest) -> int:
        if get not in get_index:
            get_index[get] = len(gets)
            gets.append(get)
        return get_index[get]

    by_name: dict[str, list[tuple[int, int]]] = {}
    for request in requests:
        if request.byte_range is not None:
            start, stop = request.byte_range
            if stop > start:
                by_name.setdefault(request.name, []).append((start, stop))
    # Per object: its runs (one GET each, or parts) and the run each distinct range went into.
    part_starts: dict[tuple[str, int], list[int]] = {}
    part_gets: dict[tuple[str, int], list[int]] = {}
    run_of: dict[tuple[str, tuple[int, int]], int] = {}
    for name, ranges in by_name.items():
        distinct = list(dict.fromkeys(ranges))
        for number, run in enumerate(coalesce(distinct, coalesce_bytes)):
            for position in run.members:
                run_of[name, distinct[position]] = number
            parts = split(run.start, run.stop, part_bytes)
            part_starts[name, number] = [first for first, _ in parts]
            part_gets[name, number] = [add(ByteRequest(name, part)) for part in parts]

    pieces: list[tuple[Piece, ...]] = []
    for request in requests:
        if request.byte_range is None:
            pieces.append((Piece(add(ByteRequest(request.name)), 0, None),))
            continue
        start, stop = request.byte_range
        if stop <= start:
            pieces.append(())
            continue
        number = run_of[request.name, (start, stop)]
        starts = part_starts[request.name, number]
        indices = part_gets[request.name, number]
        cut: list[Piece] = []
        part = bisect.bisect_right(starts, start) - 1
        position = start
        while position < stop:
            part_start = starts[part]
            part_stop = gets[indices[part]].byte_range[1]  # type: ignore[index]
            end = min(stop, part_stop)
            cut.append(Piece(indices[part], position - part_start, end - position))
            position = end
            part += 1
        pieces.append(tuple(cut))
    return BatchPlan(tuple(gets), tuple(pieces))


# -- errors ---------------------------------------------------------------------------------------


def translate_error(exc: Exception, *, url: str, options: S3Options) -> tuple[ContextError, bool]:
    """A named context error for an obstore failure on ``url``, and whether to try again.

    obstore reports most failures as ``GenericError`` whose text names the HTTP status or the
    HTTP client's error kind; messages built here never hold credentials or signatures.
    """
    endpoint = options.describe_endpoint()
    text = str(exc)
    status_match = _STATUS.search(text)
    status = int(status_match.group(1)) if status_match else None
    code_match = _S3_CODE.search(text)
    code = code_match.group(1) if code_match else ""
    kind_match = _HTTP_KIND.search(text)
    kind = kind_match.group(1) if kind_match else ""

    if isinstance(exc, FileNotFoundError | NotFoundError) or status == 404:
        if code == "NoSuchBucket":
            return BucketNotFoundError(
                f"bucket of {url} does not exist on {endpoint}; check the bucket name, region "
                "and endpoint_url"
            ), False
        return ObjectNotFoundError(f"{url} does not exist on {endpoint}"), False
    if code in _EXPIRED:
        return CredentialsError(
            f"the AWS credentials used for {url} on {endpoint} are expired or invalid "
            f"({code}); refresh them and retry"
        ), False
    if isinstance(exc, UnauthenticatedError) or status == 401:
        return CredentialsError(
            f"the AWS credentials for {endpoint} could not be loaded or were refused while "
            f"reading {url}; refresh them (e.g. `aws sso login`) or check AWS_ACCESS_KEY_ID / "
            "AWS_PROFILE"
        ), False
    if isinstance(exc, PermissionDeniedError | PermissionError) or status == 403:
        return AccessDeniedError(
            f"access to {url} on {endpoint} was denied ({code or 'HTTP 403'}); check the "
            "credentials in use and the bucket policy"
        ), False
    if status == 416:
        return past_the_end(url, "S3 InvalidRange"), False
    attempts = options.max_attempts
    if status is not None and (status >= 500 or status == 429):
        return StorageError(
            f"S3 error {code or status} reading {url} from {endpoint} on each of {attempts} "
            "attempt(s); the service is failing or throttling: retry later or raise max_attempts"
        ), True
    if code in _WRONG_REGION or status == 301:
        return StorageError(
            f"the bucket of {url} is not in the region used for {endpoint} ({code or status}); "
            "pass region_name=... (or set AWS_DEFAULT_REGION) to the bucket's region"
        ), False
    if status is not None:
        return StorageError(
            f"S3 error {code or 'unknown'} (HTTP {status}) reading {url} from {endpoint}"
        ), False
    if kind in _CUT_KINDS:
        return StorageError(
            f"the body of {url} from {endpoint} was cut off (obstore {kind}) on each of "
            f"{attempts} attempt(s); the network is dropping connections: retry later or raise "
            "max_attempts"
        ), True
    if kind in _UNREACHABLE_KINDS:
        deadline = attempts * (options.connect_timeout_s + options.read_timeout_s)
        return EndpointUnreachableError(
            f"{endpoint} did not answer for {url} (obstore {kind}) within {attempts} "
            f"attempt(s), deadline about {deadline:g} s; check endpoint_url and the network, or "
            "raise connect_timeout_s / read_timeout_s"
        ), True
    if isinstance(exc, BaseError):
        summary = text.split("\n", 1)[0][:300]
        return StorageError(
            f"reading {url} from {endpoint} failed: {type(exc).__name__}: {summary}"
        ), isinstance(exc, GenericError) and bool(kind)
    if isinstance(exc, ValueError | OSError):
        return StorageError(f"reading {url} from {endpoint} failed: {type(exc).__name__}"), False
    raise exc


# -- credentials ----------------------------------------------------------------------------------


class Boto3Credentials:
    """An obstore credential provider backed by boto3's chain (refreshed through botocore)."""

    def __init__(self, credentials: botocore.credentials.Credentials) -> None:
        self._credentials = credentials

    def __call__(self) -> S3Credential:
        frozen = self._credentials.get_frozen_credentials()
        expires_at = None
        if isinstance(self._credentials, botocore.credentials.RefreshableCredentials):
            expires_at = datetime.now(UTC) + timedelta(seconds=REFRESH_S)
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": expires_at,
        }


def boto3_credentials(options: S3Options, url: str) -> tuple[Boto3Credentials, str | None]:
    """The credential provider and the region from boto3's standard chain."""
    endpoint = options.describe_endpoint()
    try:
        credentials, region = with_shared_session(
            options, lambda session: (session.get_credentials(), session.region_name)
        )
    except bce.BotoCoreError as exc:
        raise CredentialsError(
            f"the AWS credentials for {endpoint} could not be loaded ({type(exc).__name__}); "
            "refresh them (e.g. `aws sso login`) or check the credential source in your profile"
        ) from None
    if credentials is None:
        raise CredentialsError(
            f"no AWS credentials found to read {url} from {endpoint}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / profile_name=..., or run with an IAM role "
            "(any dummy values work for the embedded moto server)"
        )
    return Boto3Credentials(credentials), options.region_name or region


def make_store(location: S3Location, options: S3Options) -> S3Store:
    """An ``S3Store`` for ``location``'s bucket with the timeouts of ``options`` and no retries
    of its own (the transport retries and counts each attempt)."""
    provider, region = boto3_credentials(options, location.url())
    config: S3Config = {}
    client: ClientConfig = {
        "connect_timeout": timedelta(seconds=options.connect_timeout_s),
        "read_timeout": timedelta(seconds=options.read_timeout_s),
        "timeout": timedelta(seconds=max(BODY_DEADLINE_S, options.read_timeout_s)),
    }
    # boto3 (and obstore) also take the endpoint from the environment.
    endpoint = (
        options.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        _check_endpoint(endpoint)
        config["endpoint"] = endpoint
        if endpoint.startswith("http://"):
            client["allow_http"] = True
    if region:
        config["region"] = region
    return S3Store(
        location.bucket,
        config=config,
        client_options=client,
        retry_config={"max_retries": 0},
        credential_provider=provider,
    )


def _check_endpoint(endpoint: str) -> None:
    """Refuse endpoints object_store cannot sign requests for (it would panic, not raise)."""
    try:
        parts = urllib.parse.urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(char.isspace() for char in endpoint)
    ):
        raise InvalidURLError(
            f"endpoint_url {endpoint!r} is not an http(s) URL; write it as "
            "'https://host[:port]' (or 'http://127.0.0.1:PORT' for a local server)"
        )


# -- the transport --------------------------------------------------------------------------------


class ObstoreTransport(Transport):
    """GETs through one obstore ``S3Store`` on the transport's own event-loop thread.

    Thread-safe: any thread may call ``get``/``get_many`` at once; ``close`` cancels reads in
    flight (their callers get ``ContextClosedError``), stops the loop and joins its thread.
    """

    location: S3Location

    def __init__(
        self,
        location: S3Location,
        options: S3Options,
        stats: StatsRecorder,
        *,
        max_concurrency: int = 64,
        coalesce_bytes: int | None = DEFAULT_COALESCE_BYTES,
        part_bytes: int | None = DEFAULT_PART_BYTES,
        close_timeout_s: float = 10.0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {max_concurrency}")
        if options.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {options.max_attempts}")
        check_sizes(coalesce_bytes, part_bytes)
        super().__init__(location, stats)
        self.options = options
        self.deadline_s = options.deadline_s
        self.max_concurrency = max_concurrency
        self.coalesce_bytes = coalesce_bytes
        self.part_bytes = part_bytes
        self.store: S3Store | None = make_store(location, options)  # before any thread starts
        self._semaphore = asyncio.Semaphore(max_concurrency)  # binds to the loop on first use
        self.loop_thread = LoopThread(
            f"{type(self).__name__}-loop-{location.bucket}",
            self.url(),
            close_timeout_s=close_timeout_s,
        )

    # -- the Transport interface ------------------------------------------------------------------

    def _fetch(self, request: ByteRequest) -> bytes:
        # The caller (``_fetch_counted``) counts the request; only repeats are counted here.
        return self._call(self._get(request, count=False))

    def _fetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        return self._call(self.afetch_many(requests))

    async def afetch_many(self, requests: Sequence[ByteRequest]) -> list[bytes]:
        """Fetch a batch on the transport's loop (see the module docstring for the plan)."""
        plan = plan_batch(requests, coalesce_bytes=self.coalesce_bytes, part_bytes=self.part_bytes)
        if len(plan.gets) == 1:
            bodies = [await self._get(plan.gets[0])]
        elif plan.gets:
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = [group.create_task(self._get(get)) for get in plan.gets]
            except BaseExceptionGroup as failed:
                raise _first_leaf(failed) from None
            bodies = [task.result() for task in tasks]
        else:
            bodies = []
        return plan.assemble(bodies)

    # -- one GET ----------------------------------------------------------------------------------

    async def _get(self, request: ByteRequest, *, count: bool = True) -> bytes:
        """One GET with up to ``max_attempts`` attempts; every attempt goes into the stats."""
        sent = False
        size = 0
        url = self.url(request.name)

        def classify(exc: Exception) -> tuple[ContextError, bool]:
            return translate_error(exc, url=url, options=self.options)

        async def once() -> bytes:
            nonlocal sent
            sent = True
            return await self._get_once(request)

        try:
            async with self._semaphore:
                data = await self.options.retry_policy.arun(
                    once, classify, url=url, on_retry=lambda: self.stats.record_retries(1)
                )
            size = len(data)
            return data
        finally:
            if count and sent:
                self.stats.record_request(size)  # a failed GET still cost a round trip

    async def _get_once(self, request: ByteRequest) -> bytes:
        store = self.store
        if store is None:
            raise ContextClosedError(f"the context for {self.url()} is closed")
        key = self.location.key(request.name)
        if request.byte_range is None:
            result = await obstore.get_async(store, key)
            return bytes(await result.bytes_async())
        start, stop = request.byte_range
        return bytes(await obstore.get_range_async(store, key, start=start, end=stop))

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block until it is done or the read's deadline passes
        (see LoopThread.call_by_deadline)."""
        return self.loop_thread.call_by_deadline(coro)

    # -- life cycle -------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self.loop_thread.closed

    def close(self) -> None:
        """Cancel reads in flight, stop the loop, join its thread, drop the store. Idempotent."""
        self.loop_thread.close()
        self.store = None


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
