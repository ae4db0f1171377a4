"""``s3-sequential``: the honest baseline — the manifest once, then one GET per segment, in order."""

from __future__ import annotations

from contexts.location import Location, S3Location
from contexts.s3_context import S3LayoutContext
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.local import LocalTransport
from contexts.transport.s3 import S3Transport


class SequentialS3Context(S3LayoutContext):
    """The seed's Monocontext made correct: no parallelism, no cache — the "before" of every report.

    ``ctx[0:50000]`` over 1000-line segments costs 1 manifest GET (at open) + 50 segment GETs,
    issued one after another. A directory path instead of ``s3://`` is read the same way, one
    file at a time.
    """

    name = "s3-sequential"

    def _make_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        if isinstance(location, S3Location):
            return self._make_s3_transport(location, stats)
        return LocalTransport(location, stats)

    def _make_s3_transport(self, location: S3Location, stats: StatsRecorder) -> Transport:
        return S3Transport(location, self.options, stats)
