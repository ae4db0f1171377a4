"""Issue #2's done-when: 1M lines as 1000-line segments; ctx[0:50000] costs 1 + 50 GETs."""

from __future__ import annotations

import time

import pytest

import contexts
from tests.conftest import S3Env


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_million_lines_head_50k_costs_one_manifest_and_fifty_segment_gets(s3: S3Env) -> None:
    text = "".join(
        f"{i:07d} USER: line with naïve ünïcode € (chat transcript) and a bit more padding text realism, ok\n"
        for i in range(1_000_000)
    )
    assert 90_000_000 < len(text.encode()) < 110_000_000  # ~100 MB
    url = s3.new_url()
    started = time.perf_counter()
    written = contexts.write_layout(text, url, endpoint_url=s3.endpoint_url, lines_per_segment=1000)
    upload_s = time.perf_counter() - started
    assert written.line_count == 1_000_000 and len(written.objects) == 1001
    oracle = contexts.InMemoryContext(text)
    with contexts.open_context("s3-sequential", url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx.stats.requests == 1  # the manifest
        started = time.perf_counter()
        head = ctx[0:50000]
        read_s = time.perf_counter() - started
        assert head == oracle[0:50000]
        assert ctx.stats.requests == 51  # 1 manifest + 50 segments
        assert ctx.stats.bytes_fetched >= len(head.encode())
        assert ctx[-1] == oracle[-1] and ctx[499_999:500_001] == oracle[499_999:500_001]
    print(
        f"\nupload 1M lines: {upload_s:.1f} s; ctx[0:50000] (no simulated latency): {read_s:.2f} s"
    )
