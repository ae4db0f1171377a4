"""One conformance class per registered context (keep them all in this file: the last test
checks that none is missing)."""

from __future__ import annotations

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
    missing = sorted(set(contexts.available()) - tested)
    assert not missing, f"add a ContextTests subclass in {__file__} for: {missing}"
