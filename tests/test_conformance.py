"""One conformance class per registered context (keep them all in this file: the last test
checks that none is missing)."""

from __future__ import annotations

import itertools
from typing import Any

import contexts
from contexts import Context
from contexts.policies import CachedContext, PrefetchingContext
from tests.conformance import ContextTests


class TestMemory(ContextTests):
    name = "memory"


class TestSequential(ContextTests):
    name = "s3-sequential"


class TestThreaded(ContextTests):
    name = "s3-threaded"


class TestAsync(ContextTests):
    name = "s3-async"


class TestObstore(ContextTests):
    name = "obstore"


class TestByteRange(ContextTests):
    name = "s3-byte-range"


class TestLargeChunk(ContextTests):
    name = "s3-large-chunk"


class TestRam(ContextTests):
    name = "s3-ram"


class TestCachedPrefetch(ContextTests):
    name = "s3-cached-prefetch"


class TestVolume(ContextTests):
    name = "volume"


class TestS3fsPeers(ContextTests):
    """The three s3fs peers in one class (one class costs ~a minute of CI): every context the
    suite opens takes the next cache type in turn, with blocks small enough that reads cross
    block edges, so each mode meets every kind of test."""

    name = "s3fs-readahead"
    covers = ("s3fs-blockcache", "s3fs-background")
    modes = itertools.cycle(
        [
            {"cache_type": "readahead", "block_size": 7},
            {"cache_type": "blockcache", "block_size": 4096},
            {"cache_type": "background", "block_size": 4096},
        ]
    )

    @property
    def open_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(next(self.modes))


def tiny_cache(ctx: Context) -> Context:
    """A cache small enough to evict constantly, with blocks that straddle everything."""
    return CachedContext(ctx, max_bytes=4_000, block_lines=3)


class TestCachedMemory(ContextTests):
    name = "memory"
    wrap = staticmethod(tiny_cache)


class TestCachedSequential(ContextTests):
    name = "s3-sequential"
    wrap = staticmethod(tiny_cache)


def tiny_prefetch(ctx: Context) -> Context:
    """Read-ahead with a tiny budget and blocks: every sequential read races a prefetch."""
    return PrefetchingContext(ctx, max_bytes=6_000, block_lines=2, max_window_blocks=4)


class TestPrefetchMemory(ContextTests):
    name = "memory"
    wrap = staticmethod(tiny_prefetch)


def recording(ctx: Context) -> Context:
    """Every call logged in memory (no file), answers passed through."""
    recorder: Context = contexts.RecordingContext(ctx)
    return recorder


class TestRecordingMemory(ContextTests):
    name = "memory"
    wrap = staticmethod(recording)


def test_every_registered_context_has_a_conformance_class() -> None:
    tested = {cls.name for cls in ContextTests.__subclasses__()}
    tested |= {name for cls in ContextTests.__subclasses__() for name in getattr(cls, "covers", ())}
    missing = sorted(set(contexts.available()) - tested)
    assert not missing, f"add a ContextTests subclass in {__file__} for: {missing}"
