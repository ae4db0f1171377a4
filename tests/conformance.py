"""The conformance suite: every registered context must answer exactly like the in-memory oracle.

Subclass :class:`ContextTests` in ``tests/test_conformance.py`` with ``name = "<registry name>"``.
The suite stores each generated text with raw boto3 (or plain file writes) in every layout the
context declares, opens it through ``contexts.open_context`` and compares every answer with an
independent reference (``tests/reference.py``).
"""

from __future__ import annotations

import math
import os
import random
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contexts
from contexts import Context, ContextClosedError, ContextStats, StrView, registry
from tests.reference import reference_lines, seed_joined_text, upload_segments, upload_single
from tests.strategies import index_keys, nasty_texts, slice_keys
from tests.threads import run_in_threads

conformance_settings = settings(
    max_examples=20,
    deadline=None,
    # Each subclass runs the same inherited test (the zarr StoreTests pattern), so
    # differing executors are by design; the builder fixture makes fresh storage per example.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
    ],
)

str_view_settings = settings(conformance_settings, max_examples=8)
"""The str view reads through the line interface tested above, so fewer examples suffice."""

GREP_PATTERNS = ["a", "^\r", "é$", "\u2028", ".", "^$", r"\s$", "中|€", "(?i)z", "a a|ZZZZ+$"]


@dataclass(frozen=True)
class Variant:
    """How a test text is stored."""

    layout: str
    """``segments`` (lines keep their newline), ``seed-joined`` (the seed uploader's
    ``"\\n".join``), ``single`` (object + index), or ``memory``."""
    size: int = 3
    """Lines per segment, or the index stride."""
    prefixed: bool = False
    """Segment names in the manifest carry the key prefix (as some seed manifests do)."""
    chunk_lines: int | None = None
    """Override ``ctx.chunk_lines`` so iteration, grep, text and strides cross chunk edges."""
    char_offsets: bool = False
    """The layout records character offsets (manifest ``char_count``, index version 2)."""


class Built(NamedTuple):
    """An opened context and the text it must hold."""

    ctx: Context
    expected: str
    objects: int
    """Data objects it was stored as (segments, or 1)."""


Builder = Callable[[str, Variant], Built]


class ContextTests:
    """Subclass with ``name = "<registered name>"``; add ``open_options`` for extra knobs."""

    name: ClassVar[str]
    open_options: ClassVar[dict[str, Any]] = {}
    wrap: ClassVar[Callable[[Context], Context] | None] = None
    """A policy wrapper (cache, prefetch...) to put around every context the suite opens."""
    slice_sizes: ClassVar[tuple[int, ...]] = (1, 2, 3)
    """Segment sizes / strides of the exhaustive slice test (a slower server runs fewer)."""
    reads_per_thread: ClassVar[int] = 40
    """Random slices each of the eight threads of the thread-safety test reads."""
    speculative_requests: ClassVar[int] = 0
    """Requests a context may send at open and not wait for (``auto``'s speculative reads)."""

    # -- fixtures ------------------------------------------------------------------------------

    @pytest.fixture
    def build(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Builder]:
        spec = registry.spec(self.name)
        env = request.getfixturevalue("s3") if spec.storage == "s3" else None
        opened: list[Context] = []

        def build(text: str, variant: Variant) -> Built:
            if spec.storage == "memory":
                ctx = self._wrapped(registry.context_class(self.name)(text))  # type: ignore[call-arg]
                opened.append(ctx)
                if variant.chunk_lines:
                    ctx.chunk_lines = variant.chunk_lines
                return Built(ctx, text, 0)
            if env is not None:
                url = env.new_url()
                name_prefix = url.split("/", 3)[3]

                def put(name: str, data: bytes) -> None:
                    env.put(url, name, data)

                options = {"endpoint_url": env.endpoint_url, **self.open_options}
            else:
                root = tmp_path / uuid.uuid4().hex[:12]
                root.mkdir()
                url, name_prefix, options = str(root), "", dict(self.open_options)

                def put(name: str, data: bytes) -> None:
                    (root / name).write_bytes(data)

            expected, objects = _store(put, text, variant, name_prefix)
            ctx = self._wrapped(contexts.open_context(self.name, url, **options))
            opened.append(ctx)
            if variant.chunk_lines:
                ctx.chunk_lines = variant.chunk_lines
            return Built(ctx, expected, objects)

        yield build
        for ctx in opened:
            ctx.close()

    def variants(self) -> st.SearchStrategy[Variant]:
        """Every storage variant this context claims to read."""
        spec = registry.spec(self.name)
        chunks = st.sampled_from([None, 1, 2, 3])
        if spec.storage == "memory":
            return st.builds(Variant, st.just("memory"), chunk_lines=chunks)
        kinds = []
        if "segments" in spec.layouts:
            kinds += ["segments", "seed-joined"]
        if "single" in spec.layouts:
            kinds.append("single")
        return st.builds(
            Variant,
            st.sampled_from(kinds),
            st.integers(min_value=1, max_value=5),
            st.booleans(),
            chunks,
            st.booleans(),
        )

    # -- answers ---------------------------------------------------------------------------------

    @conformance_settings
    @given(data=st.data())
    def test_len_index_and_slices_match_oracle(self, build: Builder, data: st.DataObject) -> None:
        built = build(data.draw(nasty_texts(), "text"), data.draw(self.variants(), "variant"))
        lines = reference_lines(built.expected)
        ctx = built.ctx
        assert len(ctx) == len(lines)
        for key in data.draw(st.lists(slice_keys(len(lines)), min_size=1, max_size=8), "slices"):
            assert ctx[key] == "".join(lines[key]), key
        for index in data.draw(st.lists(index_keys(len(lines)), max_size=6), "indices"):
            if -len(lines) <= index < len(lines):
                assert ctx[index] == lines[index]
            else:
                with pytest.raises(IndexError):
                    ctx[index]

    @conformance_settings
    @given(data=st.data())
    def test_text_iteration_grep_and_batches_match_oracle(
        self, build: Builder, data: st.DataObject
    ) -> None:
        built = build(data.draw(nasty_texts(), "text"), data.draw(self.variants(), "variant"))
        lines = reference_lines(built.expected)
        ctx = built.ctx
        assert ctx.text() == built.expected
        assert list(ctx) == lines
        pattern = data.draw(st.sampled_from(GREP_PATTERNS), "pattern")
        expected_hits = [(i, line) for i, line in enumerate(lines) if re.search(pattern, line)]
        assert ctx.grep(pattern) == expected_hits
        assert ctx.grep(pattern, max_hits=1) == expected_hits[:1]
        bound = st.none() | st.integers(min_value=-len(lines) - 2, max_value=len(lines) + 2)
        ranges = data.draw(st.lists(st.tuples(bound, bound), max_size=6), "ranges")
        assert ctx.read_many(ranges) == ["".join(lines[a:b]) for a, b in ranges]
        if ranges:
            assert ctx.read(*ranges[0]) == "".join(lines[slice(*ranges[0])])

    @str_view_settings
    @given(data=st.data())
    def test_str_view_matches_the_string(self, build: Builder, data: st.DataObject) -> None:
        """``ctx.as_str()`` answers like the text as a ``str``: characters as the unit."""
        variant = data.draw(self.variants(), "variant")
        built = build(data.draw(nasty_texts(max_lines=16), "text"), variant)
        text = built.expected
        view = StrView(
            built.ctx,
            # Small pieces cross segment and stride edges; streaming itself is tested (with
            # pieces of one character) in tests/test_str_view.py.
            piece_chars=data.draw(st.sampled_from([16, 1 << 20]), "piece_chars"),
            pipeline_pieces=data.draw(st.sampled_from([1, 8]), "pipeline_pieces"),
        )
        assert len(view) == len(text)
        # Offsets the layout records are used (contexts that hold the text in memory know
        # them anyway); without them the view scans (tests/test_str_view.py checks that).
        assert view.char_offsets == "layout" if variant.char_offsets else view.char_offsets
        for key in data.draw(st.lists(slice_keys(len(text)), min_size=1, max_size=6), "slices"):
            assert view[key] == text[key], key
        for index in data.draw(st.lists(index_keys(len(text)), max_size=4), "indices"):
            if -len(text) <= index < len(text):
                assert view[index] == text[index]
            else:
                with pytest.raises(IndexError):
                    view[index]
        bound = st.none() | st.integers(min_value=-len(text) - 2, max_value=len(text) + 2)
        for _ in range(3):
            start, stop = data.draw(bound, "start"), data.draw(bound, "stop")
            a, b = sorted(data.draw(st.tuples(st.integers(0, len(text)), st.integers(0, 4))))
            sub = data.draw(st.sampled_from([text[a : a + b], "\n", "\r\n", "zq"]), "sub")
            for method in ("find", "rfind", "count", "startswith", "endswith"):
                assert getattr(view, method)(sub, start, stop) == getattr(text, method)(
                    sub, start, stop
                ), (method, sub, start, stop)
            assert (sub in view) == (sub in text)
        assert str(view) == text and "".join(view) == text
        assert view.splitlines(True) == text.splitlines(True)

    @pytest.mark.parametrize("final", ["", "\n", "tail", "\n\n"])
    def test_every_slice_of_a_multi_segment_text(self, build: Builder, final: str) -> None:
        """Exhaustive: all ``[a:b]`` of a 10-line text whose multibyte characters and odd line
        ends straddle every segment and stride boundary, in every layout variant."""
        body = "€a\n\n\r\n中\u2028\n\x0c\n\U0001d11e\r\n\n\x85é\n\u2029\n\n"
        text = body + final
        for size in self.slice_sizes:
            for variant in self._fixed_variants(size):
                built = build(text, variant)
                lines = reference_lines(built.expected)
                bounds = range(-len(lines) - 1, len(lines) + 2)
                pairs = [(a, b) for a in bounds for b in bounds]
                want = ["".join(lines[a:b]) for a, b in pairs]
                assert built.ctx.read_many(pairs) == want, variant
                sample = pairs[::7]
                assert [built.ctx[a:b] for a, b in sample] == [
                    "".join(lines[a:b]) for a, b in sample
                ]

    @pytest.mark.parametrize("text", ["", "\n", "x", "\n\n\n", "a\r\nb\rc\u2028d\x0ce\n"])
    def test_edge_texts(self, build: Builder, text: str) -> None:
        for variant in self._fixed_variants():
            built = build(text, variant)
            lines = reference_lines(built.expected)
            assert len(built.ctx) == len(lines)
            assert built.ctx[:] == built.expected
            assert built.ctx[::-1] == "".join(reversed(lines))
            assert list(built.ctx) == lines
            with pytest.raises(IndexError):
                built.ctx[len(lines)]

    def test_megabyte_line(self, build: Builder) -> None:
        long_line = "x€𝄞" * 150_000 + "\n"  # 1.2 MB of UTF-8 in one line
        text = "first\n" + long_line + "middle\r\n" + long_line + "last"
        for variant in self._fixed_variants():
            built = build(text, variant)
            lines = reference_lines(built.expected)
            assert built.ctx[1] == long_line
            assert built.ctx[0:3] == "".join(lines[0:3])
            assert built.ctx[-1] == lines[-1]
            assert built.ctx.text() == built.expected

    # -- the interface ------------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "key", [1.0, "1", None, (0, 1), [0], b"0", slice(0.5, 2), slice(0, "2")]
    )
    def test_bad_keys_raise_type_error(self, build: Builder, key: Any) -> None:
        ctx = build("a\nb\nc\n", self._fixed_variants()[0]).ctx
        with pytest.raises(TypeError):
            ctx[key]

    def test_strides_grep_and_iteration_across_chunks(self, build: Builder) -> None:
        text = "".join(f"{i}{'a' if i % 3 == 0 else 'b'}\u2028é\n" for i in range(41)) + "end"
        for variant in self._fixed_variants():
            built = build(text, variant)
            built.ctx.chunk_lines = 4
            lines = reference_lines(built.expected)
            for step in (2, 3, 4, 5, 9, -1, -2, -3, -4, -7):
                for bounds in ((None, None), (1, 40), (-5, 3), (38, 2), (40, None)):
                    key = slice(*bounds, step)
                    assert built.ctx[key] == "".join(lines[key]), key
            expected_hits = [(i, line) for i, line in enumerate(lines) if "a" in line]
            assert built.ctx.grep("a") == expected_hits
            assert list(built.ctx) == lines and built.ctx.text() == built.expected

    def test_zero_step_and_index_protocol(self, build: Builder) -> None:
        ctx = build("a\nb\nc\n", self._fixed_variants()[0]).ctx

        class LineNumber:
            def __index__(self) -> int:
                return 1

        with pytest.raises(ValueError, match="step"):
            ctx[::0]
        assert ctx[LineNumber()] == "b\n"
        assert ctx[True] == "b\n"  # bool is an int, as for a list
        assert ctx[slice(LineNumber(), None)] == "b\nc\n"

    def test_iteration_fetches_in_chunks(self, build: Builder) -> None:
        text = "".join(f"line {i} é\n" for i in range(300))
        for variant in self._fixed_variants():
            built = build(text, variant)
            before = built.ctx.stats.requests
            assert list(built.ctx) == reference_lines(built.expected)
            chunks = math.ceil(300 / built.ctx.chunk_lines)
            allowed = built.objects + chunks + self.speculative_requests
            stats = built.ctx.stats  # retries: a busy machine's hedged copies, say
            assert stats.requests - before <= allowed + stats.retries

    def test_stats_count_fetched_bytes(self, build: Builder) -> None:
        text = "".join(f"{i}\n" for i in range(50))
        for variant in self._fixed_variants():
            built = build(text, variant)
            assert built.ctx.text() == built.expected
            stats = built.ctx.stats
            assert isinstance(stats, ContextStats)
            assert stats.wait_seconds >= 0 and stats.cache_hits >= 0 and stats.cache_misses >= 0
            if registry.spec(self.name).storage != "memory":
                assert stats.requests >= 1
                assert stats.bytes_fetched >= len(built.expected.encode("utf-8"))

    def test_threads_share_one_context(self, build: Builder) -> None:
        text = "".join(f"{i}: {'é' * (i % 7)}\u2028\n" for i in range(400))
        built = build(text, self._fixed_variants(50)[0])
        lines = reference_lines(built.expected)
        failures: list[str] = []

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(self.reads_per_thread):
                a, b = sorted(rng.randrange(-450, 450) for _ in range(2))
                if built.ctx[a:b] != "".join(lines[a:b]):
                    failures.append(f"[{a}:{b}]")

        run_in_threads(worker, 8)
        assert failures == []

    def test_close_is_idempotent_and_final(self, build: Builder) -> None:
        built = build("a\nb\n", self._fixed_variants()[0])
        with built.ctx as ctx:
            assert ctx[0] == "a\n"
        assert ctx.closed
        ctx.close()
        for use in (len, lambda c: c[0], lambda c: c[0:1], lambda c: c.text(), list):
            with pytest.raises(ContextClosedError, match="closed"):
                use(ctx)
        assert "closed" in repr(ctx)

    # -- helpers ---------------------------------------------------------------------------------

    def _wrapped(self, ctx: Context) -> Context:
        wrap = type(self).wrap
        return wrap(ctx) if wrap is not None else ctx

    def _fixed_variants(self, size: int | None = None) -> list[Variant]:
        """One variant per layout; ``size`` overrides the segment size / stride."""
        spec = registry.spec(self.name)
        if spec.storage == "memory":
            return [Variant("memory"), Variant("memory", chunk_lines=2)]
        variants = []
        if "segments" in spec.layouts:
            variants += [
                Variant("segments", size or 7),
                Variant("seed-joined", size or 2, prefixed=True, chunk_lines=3),
            ]
        if "single" in spec.layouts:
            variants.append(Variant("single", size or 3, chunk_lines=2))
        return variants


def _store(
    put: Callable[[str, bytes], None], text: str, variant: Variant, name_prefix: str
) -> tuple[str, int]:
    """Store ``text`` as ``variant`` with raw writes; return the expected text and object count."""
    if variant.layout == "single":
        upload_single(put, text, variant.size, char_offsets=variant.char_offsets)
        return text, 1
    joined = variant.layout == "seed-joined"
    upload_segments(
        put,
        text,
        variant.size,
        joined=joined,
        name_prefix=name_prefix if variant.prefixed else "",
        char_counts=variant.char_offsets,
    )
    objects = math.ceil(len(reference_lines(text)) / variant.size)
    return (seed_joined_text(text) if joined else text), objects


S3FS_MODES = (
    {"cache_type": "readahead", "block_size": 7},
    {"cache_type": "blockcache", "block_size": 4096},
    {"cache_type": "background", "block_size": 4096},
)


def s3fs_mode(opened: dict[str, int]) -> dict[str, Any]:
    """The s3fs mode of the next open by the running test (counted in ``opened``)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    count = opened.get(test, 0)
    opened.clear()  # only the running test's count is kept
    opened[test] = count + 1
    return S3FS_MODES[(zlib.crc32(test.encode()) + count) % len(S3FS_MODES)]
