"""Faults from the simulated network: cut bodies are re-read, 503s are retried by botocore, and
every attempt shows in ``ctx.stats``; persistent faults raise a named error, never wrong text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import boto3
import pytest

import contexts
from bench.network import S3Server
from bench.network.profiles import FaultRates, NetworkProfile
from tests.reference import reference_lines

TEXT = "".join(f"{i} é€ line of the fault test\n" for i in range(2000))


def faulty(name: str, **rates: float) -> NetworkProfile:
    return NetworkProfile(name, "test", "test", faults=FaultRates(**rates))


@pytest.fixture(scope="module", params=["middleware", "proxy"])
def server(request: pytest.FixtureRequest) -> Iterator[S3Server]:
    """Faults injected inside moto's process, and by the proxy that shapes any other server."""
    with ExitStack() as stack:
        started = stack.enter_context(S3Server(profile="none", seed=7, in_process=True))
        if request.param == "proxy":
            started = stack.enter_context(
                S3Server(profile="none", seed=7, in_process=True, upstream=started.raw_endpoint)
            )
        client = boto3.client("s3", endpoint_url=started.raw_endpoint)
        client.create_bucket(Bucket="faults")
        client.close()
        contexts.write_layout(
            TEXT, "s3://faults/ctx/", lines_per_segment=100, endpoint_url=started.raw_endpoint
        )
        yield started


def open_shaped(server: S3Server, **options: object) -> contexts.Context:
    return contexts.open_context(
        "s3-sequential", "s3://faults/ctx/", endpoint_url=server.shaped_endpoint, **options
    )


@pytest.mark.timeout(120)
def test_cut_bodies_are_read_again_and_counted(server: S3Server) -> None:
    server.set_profile(faulty("resets", reset=0.3), seed=3)
    with open_shaped(server, max_attempts=6) as ctx:
        assert ctx.text() == TEXT
        stats = ctx.stats
    injected = server.fault_counts()["reset"]
    assert injected > 0, "the profile injected no reset; pick another seed"
    assert (
        stats.retries >= injected - 1
    )  # every cut body was fetched again (one may be the manifest... counted too)
    assert stats.requests == 21 + stats.retries  # manifest + 20 segments + every repeat


@pytest.mark.timeout(120)
def test_slowdown_retries_by_botocore_are_counted(server: S3Server) -> None:
    server.set_profile(faulty("slowdown", slowdown=0.3), seed=5)
    with open_shaped(server, max_attempts=8) as ctx:
        assert ctx[0:2000] == "".join(reference_lines(TEXT))
        stats = ctx.stats
    injected = server.fault_counts()["slowdown"]
    assert injected > 0
    assert stats.retries == injected and stats.requests == 21 + injected


@pytest.mark.timeout(120)
def test_persistent_cuts_raise_a_named_error(server: S3Server) -> None:
    server.set_profile("none")
    with open_shaped(server, max_attempts=3) as ctx:
        server.set_profile(faulty("always-reset", reset=1.0), seed=1)
        with pytest.raises(contexts.StorageError, match="cut off") as caught:
            ctx[0:10]
        assert not isinstance(caught.value, contexts.IntegrityError)
        assert ctx.stats.requests == 1 + 3 and ctx.stats.retries == 2
    server.set_profile("none")
