"""``python -m bench.client_cost``: each client's GETs on the embedded server, one line per size
and client (the figures are the command's to print, not the test's to judge)."""

from __future__ import annotations

import re

import pytest

from bench import client_cost


def test_prints_wall_and_cpu_per_get_for_each_client_and_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client_cost.main(["--requests", "3", "--warm-up", "1", "--sizes", "10,1000"])
    lines = capsys.readouterr().out.splitlines()
    pattern = re.compile(r"\s*([\d,]+) B\s+(boto3|obstore)\s+wall\s+[\d.]+ ms/GET, CPU .* ms/GET")
    found = [match.groups() for match in map(pattern.match, lines) if match]
    assert found == [("10", "boto3"), ("10", "obstore"), ("1,000", "boto3"), ("1,000", "obstore")]


def test_a_get_that_returns_nothing_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no bytes"):
        client_cost.per_request(lambda: b"", requests=1, warm_up=0)
