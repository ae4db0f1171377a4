"""One conformance class per registered context (keep them all in this file: the last test
checks that none is missing)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import contexts
from contexts import Context
from contexts.policies import CachedContext, PrefetchingContext
from tests.conformance import ContextTests, s3fs_mode


class TestMemory(ContextTests):
    name = "memory"


class TestAuto(ContextTests):
    name = "auto"
    speculative_requests = 11  # at open, unwaited: 8 MiB of head in 9 parts, tail, segment 1


class TestAutoBoto3(ContextTests):
    """``auto`` where obstore is not installed: the same context over boto3."""

    name = "auto"
    open_options: ClassVar[dict[str, Any]] = {"client": "boto3"}
    speculative_requests = 11


class TestAutoOverBudget(ContextTests):
    """``auto`` over a context larger than its budget: the LRU cache + read-ahead path."""

    name = "auto"
    open_options: ClassVar[dict[str, Any]] = {"max_bytes": 64}
    speculative_requests = 11
    reads_per_thread = 15  # each read goes through the cache and the network: 8 x 40 is slow


class TestAutoTinyReads(ContextTests):
    """Speculative reads and parts of a few bytes, small load requests: answers are stitched
    from held and fetched bytes across UTF-8 characters, lines and objects."""

    name = "auto"
    open_options: ClassVar[dict[str, Any]] = {
        "head_bytes": 7,
        "tail_bytes": 5,
        "part_bytes": 4,
        "load_part_bytes": 1000,
    }
    speculative_requests = 3  # 7 bytes of head in one part, tail, segment 1

    def test_megabyte_line(self, build: Any) -> None:
        pytest.skip("4-byte parts make 2.4 MB a million requests; TestAuto reads it")


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
    """The three s3fs peers in one class (one class costs ~a minute of CI), with blocks small
    enough that reads cross block edges. Which mode a context gets depends only on the test that
    opens it: the first open of a test takes the mode its node id hashes to, each further open
    of the same test the next one. So a test meets the same modes whatever runs before it,
    with ``-k`` or on any xdist worker, and the suite's tests spread over all three."""

    name = "s3fs-readahead"
    covers = ("s3fs-blockcache", "s3fs-background")
    _opened: ClassVar[dict[str, int]] = {}

    @property
    def open_options(self) -> dict[str, Any]:  # type: ignore[override]
        return dict(s3fs_mode(self._opened))


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


def test_s3fs_modes_depend_only_on_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    def modes_of(test: str, opens: int, opened: dict[str, int]) -> list[str]:
        monkeypatch.setenv("PYTEST_CURRENT_TEST", f"{test} (call)")
        return [s3fs_mode(opened)["cache_type"] for _ in range(opens)]

    alone = modes_of("t.py::TestS3fsPeers::test_a", 4, {})
    shared: dict[str, int] = {}
    modes_of("t.py::TestS3fsPeers::test_b", 5, shared)
    assert modes_of("t.py::TestS3fsPeers::test_a", 4, shared) == alone
    assert set(alone) == {"readahead", "blockcache", "background"}
    firsts = {modes_of(f"t.py::TestS3fsPeers::test_{n}", 1, {})[0] for n in range(30)}
    assert len(firsts) == 3


def test_every_registered_context_has_a_conformance_class() -> None:
    tested = {cls.name for cls in ContextTests.__subclasses__()}
    tested |= {name for cls in ContextTests.__subclasses__() for name in getattr(cls, "covers", ())}
    missing = sorted(set(contexts.available()) - tested)
    assert not missing, f"add a ContextTests subclass in {__file__} for: {missing}"
