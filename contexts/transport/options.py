"""How to reach an S3 (or S3-compatible) endpoint: the options every S3 transport takes, declared
once (boto3, aiobotocore, obstore and s3fs read the same fields)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypedDict

from contexts.errors import InvalidURLError
from contexts.transport.retry import RetryPolicy


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3 (or S3-compatible) endpoint. Credentials come from boto3's standard chain.

    A dead endpoint fails within ``max_attempts * (connect_timeout_s + read_timeout_s)`` plus
    botocore's retry back-off; lower these for fail-fast tools.
    """

    endpoint_url: str | None = None
    """Custom endpoint (moto, MinIO, R2, ...); ``None`` for AWS."""
    region_name: str | None = None
    """Region; ``None`` uses the environment / profile."""
    profile_name: str | None = None
    """Named profile from the AWS config files."""
    connect_timeout_s: float = 5.0
    """Seconds to wait for a TCP connection."""
    read_timeout_s: float = 2.0
    """Seconds to wait for bytes on an open connection. It is also the first-byte hedge: a GET
    that has produced no byte for this long is abandoned and retried, as AWS advises (~2 s)."""
    max_attempts: int = 3
    """Total attempts per request, including the first (botocore retry ``total_max_attempts``;
    also the attempts at a body cut mid-transfer)."""
    deadline_s: float | None = None
    """Overall deadline of one slice (every GET and retry it needs); ``None``: only the
    per-attempt bounds above. Past it a read raises ``DeadlineExceededError``."""
    retry_mode: str = "standard"
    """botocore retry mode: ``standard`` or ``adaptive``."""
    max_pool_connections: int = 10
    """HTTP connections kept per client; raise it to match a thread pool."""
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``boto3.client`` (rarely needed)."""

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            scheme, _, rest = self.endpoint_url.partition("://")
            if scheme not in ("http", "https") or not rest.strip("/"):
                raise InvalidURLError(
                    f"endpoint_url must look like 'https://host[:port]', not {self.endpoint_url!r}"
                )
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
            raise ValueError("connect_timeout_s and read_timeout_s must be positive")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive or None, not {self.deadline_s}")

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy for re-reading bodies cut mid-transfer."""
        return RetryPolicy(max_attempts=self.max_attempts)

    def describe_endpoint(self) -> str:
        """The endpoint for messages."""
        return self.endpoint_url or "AWS S3"


class S3ClientOptions(TypedDict, total=False):
    """The keyword options of every S3 context: how to reach the endpoint (defaults and
    meaning: :class:`S3Options`)."""

    endpoint_url: str | None
    region_name: str | None
    profile_name: str | None
    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int
    retry_mode: str
    deadline_s: float | None


S3_CLIENT_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(S3Options) if f.name in S3ClientOptions.__optional_keys__
}
"""Each of :class:`S3ClientOptions` with its default."""


__all__ = ["S3_CLIENT_DEFAULTS", "S3ClientOptions", "S3Options"]
