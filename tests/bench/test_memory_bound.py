"""``python -m bench.memory_bound``: auto over a text twice its budget, every answer checked,
the peak resident set and the threads left printed (the figures are the command's to print)."""

from __future__ import annotations

import re
import time

import pytest

from bench import memory_bound


def test_reads_a_text_twice_the_budget_and_prints_the_peak(
    capsys: pytest.CaptureFixture[str],
) -> None:
    memory_bound.main(
        ["--lines", "20000", "--max-bytes", "500000", "--profile", "none", "--random", "20"]
    )
    out = capsys.readouterr().out
    assert "loaded False" in out and ", 0 wrong;" in out
    assert re.search(r"peak resident set above the one before open: [\d.]+ MB", out)
    assert "threads left after close(): none" in out


def test_a_corpus_under_twice_the_budget_is_refused() -> None:
    with pytest.raises(SystemExit, match="raise --lines"):
        memory_bound.main(["--lines", "1000", "--max-bytes", "10000000"])


def test_the_sampler_keeps_the_peak() -> None:
    start = memory_bound.resident_bytes()
    with memory_bound.PeakSampler() as sampler:
        block = bytearray(64 * 1024 * 1024)  # zeroed: every page touched
        seen = sampler.samples
        deadline = time.monotonic() + 60
        while sampler.samples < seen + 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the sampler has looked at least once with the block alive
        del block
    assert sampler.peak - start >= 60 * 1024 * 1024
