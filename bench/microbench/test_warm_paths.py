"""CPU micro-benchmarks of the warm, in-memory paths (pytest-benchmark).

`make test` runs them once each as ordinary tests (`--benchmark-disable` in pytest's addopts);
each also checks its answer, so a fast wrong path fails. To measure for real and keep the numbers
with a bench run:

    pytest bench/microbench --benchmark-enable --benchmark-json reports/<run>/microbench.json
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import contexts
from bench.oracle import LineListOracle
from contexts import Context, InMemoryContext
from contexts.layouts.line_index import build_index
from contexts.lines import IndexedText, line_starts, split_lines
from contexts.policies import CachedContext
from scenarios.corpus import generate_corpus

LINES = 100_000
Benchmark = Callable[..., Any]


@pytest.fixture(scope="module")
def corpus() -> tuple[str, LineListOracle]:
    text = generate_corpus(LINES, seed=0)
    return text, LineListOracle(text)


@pytest.fixture(scope="module")
def warm_cache(corpus: tuple[str, LineListOracle]) -> CachedContext:
    """A byte-bounded LRU cache over the text with every block already loaded."""
    ctx = CachedContext(InMemoryContext(corpus[0]), max_bytes=1 << 30, block_lines=1000)
    ctx.text()
    return ctx


@pytest.mark.parametrize("size", [100, 50_000])
def test_cached_slice(
    benchmark: Benchmark, warm_cache: CachedContext, corpus: tuple[str, LineListOracle], size: int
) -> None:
    start = 12_345
    hits = warm_cache.stats.cache_hits
    answer = benchmark(lambda: warm_cache[start : start + size])
    assert answer == corpus[1].read(start, start + size)
    assert warm_cache.stats.cache_hits > hits  # served from the cache, not the inner context


def test_index_lookup(benchmark: Benchmark, corpus: tuple[str, LineListOracle]) -> None:
    data = corpus[0].encode("utf-8")
    index = build_index(line_starts(data), object_name="context.txt", stride=16)
    first, last, byte_start, byte_stop = benchmark(index.span, 54_321, 54_421)
    assert first <= 54_321 and last >= 54_421
    text = data[byte_start:byte_stop].decode("utf-8")
    assert corpus[1].read(54_321, 54_421) in text


def test_line_splitting(benchmark: Benchmark, corpus: tuple[str, LineListOracle]) -> None:
    lines = benchmark(split_lines, corpus[0])
    assert lines == corpus[1].lines


def test_indexed_cut(benchmark: Benchmark, corpus: tuple[str, LineListOracle]) -> None:
    indexed = IndexedText(corpus[0], LINES)
    assert benchmark(indexed.cut, 40_000, 40_100) == corpus[1].read(40_000, 40_100)


@pytest.fixture(scope="module")
def loaded_auto(
    corpus: tuple[str, LineListOracle], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Context]:
    """``contexts.open`` of the corpus in a directory, loaded into memory."""
    root = str(tmp_path_factory.mktemp("auto"))
    contexts.write_layout(corpus[0], root, "single")
    with contexts.open(root) as ctx:
        assert ctx.wait_loaded(60)
        # decoded (a whole read makes it one str, whose offsets the next read checks): warm
        assert ctx.text() == corpus[0] and ctx[0] == corpus[1].read(0, 1)
        yield ctx


@pytest.mark.parametrize("size", [100, 50_000])
def test_loaded_auto_slice(
    benchmark: Benchmark, loaded_auto: Context, corpus: tuple[str, LineListOracle], size: int
) -> None:
    """The warm path of ``contexts.open``: a string slice (the issue asks <= 50 us for 100
    lines, <= 5 ms for 50,000)."""
    start = 23_456
    requests = loaded_auto.stats.requests
    answer = benchmark(lambda: loaded_auto[start : start + size])
    assert answer == corpus[1].read(start, start + size)
    assert loaded_auto.stats.requests == requests


@pytest.mark.parametrize(
    "pattern",
    ["ERROR", r"^### session \d+ session_id=", "timeout|retry", r"\d{4}-\d\d"],
    ids=["literal", "anchored-regex", "alternation", "regex-without-literal"],
)
def test_loaded_auto_grep(
    benchmark: Benchmark, loaded_auto: Context, corpus: tuple[str, LineListOracle], pattern: str
) -> None:
    """A grep of the loaded text: the first three search only the lines holding their literals
    (``contexts.grep_filter``); the last searches every line."""
    answer = benchmark(loaded_auto.grep, pattern)
    assert answer == corpus[1].grep(pattern)
