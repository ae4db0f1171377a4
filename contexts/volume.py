"""``volume``: a layout in a directory — a Modal Volume mount, a CloudBucketMount, any path."""

from __future__ import annotations

from contexts.errors import InvalidURLError
from contexts.layout_context import LayoutContext
from contexts.location import LocalLocation, Location
from contexts.stats import StatsRecorder
from contexts.transport.base import Transport
from contexts.transport.local import LocalTransport
from contexts.transport.pool import PooledTransport


class PooledLocalTransport(PooledTransport, LocalTransport):
    """Whole-file reads and ``os.pread`` ranges on ``max_workers`` threads (network file
    systems such as Modal Volumes and bucket mounts reward concurrency like S3 does)."""

    def __init__(self, location: LocalLocation, stats: StatsRecorder, max_workers: int) -> None:
        super().__init__(location, stats)
        self.max_workers = max_workers


class VolumeContext(LayoutContext):
    """Reads the same layouts ``write_layout`` puts on S3, from a directory.

    Inside Modal: ``VolumeContext("/data/ctx")`` on a mounted ``modal.Volume`` or
    ``modal.CloudBucketMount``. Names in the manifest or index that would leave the directory
    (``..``, absolute paths, symlinks pointing out) are refused with ``UnsafePathError``.
    """

    name = "volume"
    chunk_lines = 50_000

    def __init__(self, url: str, *, layout: str = "auto", max_workers: int = 16) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self.max_workers = max_workers
        super().__init__(url, layout=layout)

    def _make_transport(self, location: Location, stats: StatsRecorder) -> Transport:
        if not isinstance(location, LocalLocation):
            raise InvalidURLError(
                f"{self.name} reads a directory, not {self.url!r}; use s3-threaded for s3:// URLs"
            )
        return PooledLocalTransport(location, stats, self.max_workers)
