"""boto3 transport and writer, the S3 client factory, and botocore errors as named context errors
(the connection options, :class:`S3Options`, are :mod:`contexts.transport.options`)."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.exceptions as bce
import urllib3.exceptions
from botocore.config import Config

from contexts.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ContextError,
    CredentialsError,
    EndpointUnreachableError,
    ObjectNotFoundError,
    StorageError,
)
from contexts.location import S3Location
from contexts.stats import StatsRecorder
from contexts.transport.attempts import attempts_counted, count_get_attempts
from contexts.transport.base import ByteRequest, Revalidated, Transport, past_the_end
from contexts.transport.hedge import first_byte_arrived
from contexts.transport.options import S3Options
from contexts.transport.pool import PooledTransport
from contexts.transport.retry import BodyCut

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "InvalidToken", "TokenRefreshRequired"}
# A body cut mid-transfer: botocore wraps some cases, urllib3's ProtocolError escapes as is; a
# body whose checksum fails (a short body with a matching Content-Length) or that stops sending
# for read_timeout_s is read again too.
_CUT_BODY = (
    bce.IncompleteReadError,
    bce.ResponseStreamingError,
    bce.FlexibleChecksumError,
    bce.ReadTimeoutError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
)


WRITE_READ_TIMEOUT_S = 60.0
"""``read_timeout_s`` of writers (layouts, appends): an upload's answer comes after the server
has taken the whole body, so the 2 s first-byte hedge of reads does not apply (a retried PUT
would re-send it all)."""


def make_session(options: S3Options) -> boto3.session.Session:
    """A boto3 session for ``options.profile_name`` (``CredentialsError`` if it is unknown)."""
    try:
        return boto3.session.Session(profile_name=options.profile_name)
    except bce.ProfileNotFound:
        raise CredentialsError(
            f"AWS profile {options.profile_name!r} is not in your AWS config files; "
            "check ~/.aws/config or pass profile_name=None"
        ) from None


def drop_expect_continue(request: Any, **_: Any) -> None:
    """``before-send`` handler: send PUTs without ``Expect: 100-continue``.

    botocore asks for ``100 Continue`` on every PUT. A server that answers a PUT with an empty
    body at once, without the interim ``100`` (SeaweedFS, and S3 itself now), leaves the kept-alive
    connection in a state where botocore < 1.43.77 reads the *next* PUT's answer wrongly and
    waits for ``read_timeout`` before retrying it (boto/botocore#3755): a ``write_layout`` of an
    empty text took 61 s on SeaweedFS. The lab's objects are small, so the header buys nothing
    (it only spares sending a body the server would refuse); it is not signed, so dropping it
    is safe. Servers that close every connection (moto) never showed the stall.
    """
    request.headers.pop("Expect", None)


def make_s3_client(options: S3Options, session: boto3.session.Session | None = None) -> Any:
    """A boto3 S3 client with timeouts, retries and pool size from ``options`` (PUTs sent
    without ``Expect: 100-continue``: see :func:`drop_expect_continue`), made by ``session``
    (a new one for ``options.profile_name`` when not given)."""
    session = session if session is not None else make_session(options)
    config = Config(
        connect_timeout=options.connect_timeout_s,
        read_timeout=options.read_timeout_s,
        retries={"mode": options.retry_mode, "total_max_attempts": options.max_attempts},
        max_pool_connections=options.max_pool_connections,
    )
    client = session.client(
        "s3",
        endpoint_url=options.endpoint_url,
        region_name=options.region_name,
        config=config,
        **options.client_kwargs,
    )
    client.meta.events.register("before-send.s3", drop_expect_continue)
    return client


def translate_error(exc: Exception, *, url: str, options: S3Options) -> ContextError:
    """A named context error for a botocore failure on ``url`` (messages never hold secrets)."""
    endpoint = options.describe_endpoint()
    if isinstance(
        exc,
        bce.CredentialRetrievalError
        | bce.TokenRetrievalError
        | bce.SSOError
        | bce.UnknownCredentialError
        | bce.NoAuthTokenError,
    ):
        return CredentialsError(
            f"the AWS credentials for {endpoint} could not be loaded ({type(exc).__name__}); "
            "refresh them (e.g. `aws sso login`) or check the credential source in your profile"
        )
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return CredentialsError(
            f"no AWS credentials found to read {url} from {endpoint}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / profile_name=..., or run with an IAM role "
            "(any dummy values work for the embedded moto server)"
        )
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _NOT_FOUND:
            return ObjectNotFoundError(f"{url} does not exist on {endpoint}")
        if code == "NoSuchBucket":
            return BucketNotFoundError(
                f"bucket of {url} does not exist on {endpoint}; check the bucket name, region "
                "and endpoint_url"
            )
        if code in _EXPIRED:
            return CredentialsError(
                f"the AWS credentials used for {url} on {endpoint} are expired or invalid "
                f"({code}); refresh them and retry"
            )
        if code in _DENIED:
            return AccessDeniedError(
                f"access to {url} on {endpoint} was denied ({code}); check the credentials in "
                "use and the bucket policy"
            )
        if code == "InvalidRange":
            return past_the_end(url, "S3 InvalidRange")
        message = str(error.get("Message", ""))
        return StorageError(
            f"S3 error {code or 'unknown'} reading {url} from {endpoint}: {message}"
        )
    if isinstance(
        exc,
        BodyCut
        | bce.IncompleteReadError
        | bce.ResponseStreamingError
        | urllib3.exceptions.ProtocolError,
    ):
        cause = exc.cause if isinstance(exc, BodyCut) else exc
        return StorageError(
            f"the body of {url} from {endpoint} was cut off ({type(cause).__name__}) on each of "
            f"{options.max_attempts} attempt(s); the network is dropping connections: retry "
            "later or raise max_attempts"
        )
    if isinstance(
        exc,
        bce.EndpointConnectionError
        | bce.ConnectTimeoutError
        | bce.ReadTimeoutError
        | bce.ConnectionClosedError,
    ):
        deadline = options.max_attempts * (options.connect_timeout_s + options.read_timeout_s)
        return EndpointUnreachableError(
            f"{endpoint} did not answer for {url} ({type(exc).__name__}) within "
            f"{options.max_attempts} attempt(s), deadline about {deadline:g} s; check "
            "endpoint_url and the network, or raise connect_timeout_s / read_timeout_s"
        )
    if isinstance(exc, bce.BotoCoreError):
        return StorageError(f"reading {url} from {endpoint} failed: {type(exc).__name__}: {exc}")
    raise exc


def _http_status(exc: bce.ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


class S3Transport(Transport):
    """GETs with one shared boto3 client; the base class runs a batch one request at a time."""

    location: S3Location
    reports_first_byte = True

    def __init__(
        self, location: S3Location, options: S3Options, stats: StatsRecorder, client: Any = None
    ) -> None:
        super().__init__(location, stats)
        self.options = options
        self.deadline_s = options.deadline_s
        self._owns_client = client is None
        self.client = client if client is not None else make_s3_client(options)
        count_get_attempts(self.client)

    def _fetch(self, request: ByteRequest) -> bytes:
        if request.byte_range is None:
            return self._get_object(request.name, None)
        start, stop = request.byte_range
        return self._get_object(request.name, f"bytes={start}-{stop - 1}")

    def _fetch_suffix(self, name: str, nbytes: int) -> bytes:
        return self._get_object(name, f"bytes=-{nbytes}")

    def _fetch_revalidated(self, name: str, etag: str | None) -> Revalidated:
        kwargs: dict[str, Any] = {} if etag is None else {"IfNoneMatch": etag}
        return self._get_tagged(name, kwargs)

    def _get_object(self, name: str, byte_range: str | None) -> bytes:
        """One GetObject of ``name`` (an HTTP ``Range`` header value, or ``None``)."""
        kwargs: dict[str, Any] = {} if byte_range is None else {"Range": byte_range}
        body = self._get_tagged(name, kwargs).body
        assert body is not None  # only a conditional GET answers "not modified"
        return body

    def _get_tagged(self, name: str, extra: dict[str, Any]) -> Revalidated:
        """One GetObject of ``name`` with ``extra`` arguments (``Range``, ``IfNoneMatch``)."""
        kwargs = {"Bucket": self.location.bucket, "Key": self.location.key(name), **extra}
        with attempts_counted() as attempts:
            try:
                return self._get_with_reread(kwargs, name)
            finally:
                # The caller counted one request; every further HTTP send is a retry, and a
                # request that never left (no credentials, say) is not a request.
                if attempts[0] == 0:
                    self.stats.record_unsent()
                self.stats.record_retries(attempts[0] - 1)

    def _get_with_reread(self, kwargs: dict[str, Any], name: str) -> Revalidated:
        """GET, reading the object again when its body is cut mid-transfer (botocore retries
        only until the response headers arrive)."""
        url = self.url(name)

        def once() -> Revalidated:
            try:
                response = self.client.get_object(**kwargs)
                first_byte_arrived()
            except bce.ClientError as exc:
                if _http_status(exc) == 304:  # If-None-Match: the object still has that ETag
                    return Revalidated(None, kwargs["IfNoneMatch"])
                raise
            with response["Body"] as body:
                try:
                    data: bytes = body.read()
                except _CUT_BODY as exc:
                    raise BodyCut(exc) from exc
            return Revalidated(data, response.get("ETag"))

        def classify(exc: Exception) -> tuple[ContextError, bool]:
            return translate_error(exc, url=url, options=self.options), isinstance(exc, BodyCut)

        return self.options.retry_policy.run(once, classify, url=url)

    def close(self) -> None:
        """Close the client's connections (only a client this transport created)."""
        if self._owns_client:
            self.client.close()
        super().close()


class ThreadedS3Transport(PooledTransport, S3Transport):
    """boto3 GETs on ``max_workers`` threads sharing one client (clients are thread-safe)."""

    def __init__(
        self,
        location: S3Location,
        options: S3Options,
        stats: StatsRecorder,
        max_workers: int,
        client: Any = None,
    ) -> None:
        super().__init__(location, options, stats, client)
        self.max_workers = max_workers


_CONFLICT_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
"""A conditional PUT that lost: 412 (the ETag moved), 409 (a concurrent conditional write)."""


class S3Writer:
    """The write side of S3 with one boto3 client: puts, deletes, listings and conditional puts
    (the :mod:`contexts.transport.storage` protocols; ``write_layout`` and appends use it)."""

    def __init__(self, location: S3Location, options: S3Options) -> None:
        self.location = location
        self.options = options
        self.client = make_s3_client(options)

    @property
    def prefix(self) -> str:
        """Seed manifests may name segments with this prefix; they are made relative."""
        return self.location.prefix

    def url(self, name: str = "") -> str:
        return self.location.url(name)

    def put(self, name: str, data: bytes) -> None:
        """Upload ``data`` as ``name`` under the location's prefix."""
        try:
            self.client.put_object(
                Bucket=self.location.bucket, Key=self.location.key(name), Body=data
            )
        except Exception as exc:
            raise translate_error(exc, url=self.url(name), options=self.options) from exc

    def delete(self, name: str) -> None:
        """Remove ``name`` (S3 deletes of missing keys succeed)."""
        try:
            self.client.delete_object(Bucket=self.location.bucket, Key=self.location.key(name))
        except Exception as exc:
            raise translate_error(exc, url=self.url(name), options=self.options) from exc

    def exists(self, name: str) -> bool:
        """Whether ``name`` exists under the prefix (one HEAD)."""
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=self.location.key(name))
        except bce.ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return False
            raise translate_error(exc, url=self.url(name), options=self.options) from exc
        except bce.BotoCoreError as exc:
            raise translate_error(exc, url=self.url(name), options=self.options) from exc
        return True

    def list(self) -> list[str]:
        """Every key under the prefix, relative to it, sorted (``ListObjectsV2`` pages)."""
        base = self.location.key("")
        names: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=base
            )
            for page in pages:
                names += [entry["Key"][len(base) :] for entry in page.get("Contents", ())]
        except Exception as exc:
            raise translate_error(exc, url=self.url(), options=self.options) from exc
        return sorted(names)

    def read_versioned(self, name: str) -> tuple[bytes | None, str | None]:
        """``name``'s bytes and ETag, or ``(None, None)`` when there is none yet."""
        try:
            response = self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.key(name)
            )
            with response["Body"] as body:
                data: bytes = body.read()
        except bce.ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None, None
            raise translate_error(exc, url=self.url(name), options=self.options) from exc
        except bce.BotoCoreError as exc:
            raise translate_error(exc, url=self.url(name), options=self.options) from exc
        etag: str = response["ETag"]
        return data, etag

    def put_if(self, name: str, data: bytes, token: str | None) -> bool:
        """Upload ``data`` as ``name`` if it still has ETag ``token`` (``IfMatch``), or still
        does not exist (``token`` ``None``: ``IfNoneMatch="*"``); ``False`` when it lost."""
        condition: dict[str, Any] = {"IfMatch": token} if token else {"IfNoneMatch": "*"}
        kind = {"ContentType": "application/json"} if name.endswith(".json") else {}
        try:
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.location.key(name),
                Body=data,
                **kind,
                **condition,
            )
        except bce.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if _error_code(exc) in _CONFLICT_CODES or status in (409, 412):
                return False
            if token and _error_code(exc) in _NOT_FOUND:
                return False  # deleted since it was read: read again
            raise translate_error(exc, url=self.url(name), options=self.options) from exc
        except bce.BotoCoreError as exc:
            raise translate_error(exc, url=self.url(name), options=self.options) from exc
        return True

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()


def _error_code(exc: bce.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))
