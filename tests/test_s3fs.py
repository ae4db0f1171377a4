"""The s3fs peers: named errors, fsspec's caches really used, honest request counts, no threads
left behind."""

from __future__ import annotations

import threading
import time

import pytest

from contexts import (
    EndpointUnreachableError,
    IntegrityError,
    LayoutNotFoundError,
    open_context,
)
from tests.conftest import S3Env, SilentServer
from tests.reference import upload_single

TEXT = "".join(f"line {i} é\n" for i in range(2_000))
LINES = TEXT.splitlines(keepends=True)


def stored(s3: S3Env, text: str = TEXT) -> str:
    url = s3.new_url()
    upload_single(lambda name, data: s3.put(url, name, data), text, 16)
    return url


def loop_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith("S3fsTransport-loop") or t.name == "fsspecIO"
    ]


@pytest.mark.parametrize("cache", ["readahead", "blockcache", "background"])
def test_cache_serves_rereads_and_close_leaves_no_thread(s3: S3Env, cache: str) -> None:
    before = loop_threads()
    url = stored(s3)
    with open_context(f"s3fs-{cache}", url, endpoint_url=s3.endpoint_url, block_size=4096) as ctx:
        assert ctx[10:20] == "".join(LINES[10:20])
        requests = ctx.stats.requests
        assert ctx[11:19] == "".join(LINES[11:19])  # inside the cached block: no new GET
        assert ctx.stats.requests == requests
        assert ctx[-5:] == "".join(LINES[-5:])
        assert ctx.stats.requests > requests and ctx.stats.bytes_fetched > 0
        assert ctx.stats.cache_hits + ctx.stats.cache_misses > 0
    deadline = time.monotonic() + 5
    while loop_threads() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loop_threads() == before


def test_missing_layout_and_short_object(s3: S3Env) -> None:
    with pytest.raises(LayoutNotFoundError, match=r"context\.idx"):
        open_context("s3fs-readahead", s3.new_url(), endpoint_url=s3.endpoint_url)
    url = stored(s3, "alpha\nbeta\ngamma\n")
    s3.put(url, "context.txt", b"alpha\nbeta\n")  # truncated after indexing
    with (
        open_context("s3fs-blockcache", url, endpoint_url=s3.endpoint_url) as ctx,
        pytest.raises(IntegrityError),
    ):
        ctx[0:3]


def test_bad_options_are_named(s3: S3Env) -> None:
    url = stored(s3)
    with pytest.raises(ValueError, match="cache_type"):
        open_context("s3fs-readahead", url, endpoint_url=s3.endpoint_url, cache_type="lru")
    with pytest.raises(ValueError, match="block_size"):
        open_context("s3fs-readahead", url, endpoint_url=s3.endpoint_url, block_size=0)
    with pytest.raises(ValueError, match="single-object layout"):
        open_context("s3fs-readahead", url, endpoint_url=s3.endpoint_url, layout="segments")


@pytest.mark.timeout(60)
def test_dead_endpoint_fails_fast(silent_server: SilentServer) -> None:
    """A named error after one attempt (one connection), never a hang (the test's timeout)."""
    with pytest.raises(EndpointUnreachableError):
        open_context(
            "s3fs-background",
            "s3://bucket/p/",
            endpoint_url=silent_server.url,
            connect_timeout_s=0.3,
            read_timeout_s=0.3,
            max_attempts=1,
        )
    assert silent_server.connections == 1
