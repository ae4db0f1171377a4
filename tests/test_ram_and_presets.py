"""s3-ram refuses contexts over its memory limit and costs nothing after open;
s3-cached-prefetch reads ahead of a linear scan through a real (simulated) network."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import contexts
from bench.network import S3Server
from contexts import CachedPrefetchS3Context
from tests.conftest import S3Env
from tests.reference import reference_lines, upload_segments
from tests.servers import latency_server

TEXT = "".join(f"{i:05d} naïve ✓ line in RAM\n" for i in range(3000))
LINES = reference_lines(TEXT)


@pytest.mark.parametrize("layout", ["segments", "single"])
def test_ram_refuses_a_context_over_its_limit_before_loading(s3: S3Env, layout: str) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, layout, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    size = len(TEXT.encode())
    with pytest.raises(contexts.MemoryLimitError, match=f"{size:,} bytes") as caught:
        contexts.open_context("s3-ram", url, endpoint_url=s3.endpoint_url, max_bytes=size - 1)
    assert "max_bytes" in str(caught.value) and "s3-cached-prefetch" in str(caught.value)
    with contexts.open_context("s3-ram", url, endpoint_url=s3.endpoint_url, max_bytes=size) as ctx:
        assert ctx.text() == TEXT


def test_ram_counts_while_loading_when_the_manifest_has_no_sizes(s3: S3Env) -> None:
    url = s3.new_url()
    upload_segments(lambda name, data: s3.put(url, name, data), TEXT * 70, 1000)  # ~2.6 MB
    with pytest.raises(contexts.MemoryLimitError, match="at least"):
        contexts.open_context("s3-ram", url, endpoint_url=s3.endpoint_url, max_bytes=1_000_000)


def test_ram_slices_cost_no_requests_after_open(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    with contexts.open_context("s3-ram", url, endpoint_url=s3.endpoint_url) as ctx:
        opened = ctx.stats
        assert opened.requests == 1 + 30  # manifest + every segment, at open
        assert ctx[100:2500] == "".join(LINES[100:2500]) and ctx.grep("02999") == [
            (2999, LINES[2999])
        ]
        assert ctx.stats == opened


@pytest.fixture(scope="module")
def slow_server() -> Iterator[S3Server]:
    with latency_server(TEXT, "presets", first_byte_ms=50.0) as server:
        yield server


@pytest.mark.timeout(120)
def test_prefetch_serves_a_scan_from_read_ahead(slow_server: S3Server) -> None:
    """A linear scan of 300-line reads with think pauses, counted, not timed: the first two
    reads fetch their 6 blocks on demand (the second shows the scan is sequential); every later
    read finds its blocks read ahead (landed, or still in flight and waited for, never fetched
    twice), so each segment is fetched exactly once. How much stall that hides is the bench's
    to measure (``linear-scan``)."""
    url, endpoint = "s3://presets/ctx/", slow_server.shaped_endpoint
    with CachedPrefetchS3Context.open(url, endpoint_url=endpoint, block_lines=100) as ahead:
        for start in range(0, 3000, 300):
            assert ahead[start : start + 300] == "".join(LINES[start : start + 300])
            time.sleep(0.05)  # the model thinks
        ahead.wait_for_prefetch()
        stats = ahead.stats
        assert stats.cache_misses == 6, stats
        assert stats.cache_hits == 30 - 6, stats
        assert ahead.prefetched_blocks == 24
        assert ahead.prefetch_failures == 0
    assert stats.requests == 1 + 30  # every segment fetched once, ahead of time or not
