"""``s3-sequential``: the honest baseline — the manifest once, then one GET per segment, in order."""

from __future__ import annotations

from contexts.layout_context import LayoutContext
from contexts.location import Location, S3Location
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.local import LocalTransport
from contexts.transport.s3 import S3Options, S3Transport


class SequentialS3Context(LayoutContext):
    """The seed's Monocontext made correct: no parallelism, no cache — the "before" of every report.

    ``ctx[0:50000]`` over 1000-line segments costs 1 manifest GET (at open) + 50 segment GETs,
    issued one after another. A directory path instead of ``s3://`` is read the same way, one
    file at a time.
    """

    name = "s3-sequential"

    def __init__(
        self,
        url: str,
        *,
        layout: str = "auto",
        endpoint_url: str | None = None,
        region_name: str | None = None,
        profile_name: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        self.options = S3Options(
            endpoint_url=endpoint_url,
            region_name=region_name,
            profile_name=profile_name,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            max_attempts=max_attempts,
        )
        super().__init__(url, layout=layout)

    def _make_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        if isinstance(location, S3Location):
            return S3Transport(location, self.options, stats)
        return LocalTransport(location, stats)
