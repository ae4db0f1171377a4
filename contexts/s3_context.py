"""``S3LayoutContext``: the connection options every S3 context shares, declared once."""

from __future__ import annotations

from abc import abstractmethod
from typing import TypedDict, Unpack

from contexts.errors import InvalidURLError
from contexts.layout_context import LayoutContext
from contexts.location import Location, S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.options import S3Options


class S3ClientOptions(TypedDict, total=False):
    """How to reach the endpoint (defaults and meaning: :class:`S3Options`)."""

    endpoint_url: str | None
    region_name: str | None
    profile_name: str | None
    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int
    retry_mode: str
    deadline_s: float | None


class S3ConnectionOptions(S3ClientOptions, total=False):
    """Keyword options every S3 context accepts."""

    layout: str
    """``auto`` (default), ``segments`` or ``single``."""


class S3LayoutContext(LayoutContext):
    """A layout under ``s3://bucket/prefix/``; subclasses choose the transport.

    ``pool_size`` is the HTTP connection pool the transport needs (its concurrency).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        layout: str = "auto",
        **options: Unpack[S3ClientOptions],
    ) -> None:
        if pool_size < 1:
            raise ValueError(
                f"{self.name}: concurrency (max_workers / max_concurrency) must be at least 1, "
                f"not {pool_size}"
            )
        self.options = S3Options(max_pool_connections=pool_size, **options)
        super().__init__(url, layout=layout)

    def _make_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        if not isinstance(location, S3Location):
            raise InvalidURLError(
                f"{self.name} reads s3:// URLs, not {self.url!r}; use the 'volume' context "
                "for a directory"
            )
        return self._make_s3_transport(location, stats)

    @abstractmethod
    def _make_s3_transport(self, location: S3Location, stats: StatsRecorder) -> Transport:
        """The transport for ``location``, configured from :attr:`options`."""
