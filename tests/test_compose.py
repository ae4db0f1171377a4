"""Presets are compositions: their options come from their parts, an unknown one is a TypeError
that lists them, each opens one ``StoredContext`` (in its policy), and the public names behave
like the classes they replaced."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

import contexts
from contexts import registry
from contexts.compose import Composition
from contexts.policies.prefetch import PrefetchingContext
from contexts.policies.ram import RamContext
from contexts.stored import StoredContext
from tests.conftest import S3Env
from tests.reference import reference_lines

TEXT = "".join(f"{i:04d} é€ composed line {'x' * (i % 7)}\n" for i in range(600))
LINES = reference_lines(TEXT)

COMPOSED = [
    name for name, spec in registry.REGISTRY.items() if isinstance(spec.target, Composition)
]


def test_every_stored_preset_is_a_composition() -> None:
    classes = {name for name in registry.REGISTRY if name not in COMPOSED}
    assert classes == {"auto", "memory"}


@pytest.mark.parametrize("name", COMPOSED)
def test_an_unknown_option_is_a_type_error_listing_the_options_taken(name: str) -> None:
    taken = registry.Preset(name).options()
    with pytest.raises(TypeError, match="takes no option 'max_worker'") as caught:
        contexts.open_context(name, "s3://bucket/p/", max_worker=8)  # before any request
    listed = str(caught.value).partition("it takes: ")[2].split(", ")
    assert listed == sorted(taken)


@pytest.mark.parametrize("name", COMPOSED)
def test_every_default_given_explicitly_opens_the_same_context(
    name: str, s3: S3Env, tmp_path: Path
) -> None:
    spec = registry.spec(name)
    layout = spec.layouts[0]
    if spec.storage == "local":
        url = str(tmp_path / "ctx")
        contexts.write_layout(TEXT, url, layout, lines_per_segment=100)
    else:
        url = s3.new_url()
        options = {"lines_per_segment": 100, **dict(spec.write_options)}
        contexts.write_layout(TEXT, url, layout, endpoint_url=s3.endpoint_url, **options)
    given: dict[str, Any] = registry.Preset(name).options()
    if spec.storage == "s3":
        given["endpoint_url"] = s3.endpoint_url
    with contexts.open_context(name, url, **given) as ctx:
        assert ctx.name == name
        assert ctx[:] == TEXT and ctx[590:] == "".join(LINES[590:])


def test_a_preset_is_called_like_the_class_it_replaced(s3: S3Env) -> None:
    preset = contexts.ThreadedS3Context
    assert isinstance(preset, registry.Preset) and preset.__name__ == "ThreadedS3Context"
    assert "ThreadedS3Context" in repr(preset) and "s3-threaded" in repr(preset)
    parameters = inspect.signature(preset).parameters
    assert parameters["max_workers"].default == 64 and parameters["layout"].default == "auto"
    assert parameters["endpoint_url"].kind is inspect.Parameter.KEYWORD_ONLY
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    with preset(url, max_workers=4, endpoint_url=s3.endpoint_url) as ctx:
        assert isinstance(ctx, StoredContext) and ctx.reader.layout == "segments"
        assert ctx.transport.max_workers == 4  # type: ignore[attr-defined]
        assert ctx[10:20] == "".join(LINES[10:20])
    with preset.open(url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx[-1] == LINES[-1]


def test_a_preset_writes_the_layout_it_is_made_for(s3: S3Env) -> None:
    url = s3.new_url()
    written = contexts.LargeChunkS3Context.write(TEXT, url, endpoint_url=s3.endpoint_url)
    assert written.layout == "segments"
    with contexts.LargeChunkS3Context(url, endpoint_url=s3.endpoint_url) as ctx:
        assert ctx[5:7] == "".join(LINES[5:7])


def test_policies_wrap_the_stored_context(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    with contexts.open_context("s3-cached-prefetch", url, endpoint_url=s3.endpoint_url) as ahead:
        assert isinstance(ahead, PrefetchingContext) and ahead.name == "s3-cached-prefetch"
        assert isinstance(ahead.inner, StoredContext) and ahead[3] == LINES[3]
    with contexts.open_context("s3-ram", url, endpoint_url=s3.endpoint_url) as loaded:
        assert isinstance(loaded, RamContext) and loaded.name == "s3-ram"
        assert loaded.text() == TEXT


def test_a_policy_that_refuses_its_options_closes_the_stored_context(
    s3: S3Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, lines_per_segment=100, endpoint_url=s3.endpoint_url)
    opened: list[StoredContext] = []
    original = StoredContext.__init__

    def remember(self: StoredContext, *args: Any, **options: Any) -> None:
        original(self, *args, **options)
        opened.append(self)

    monkeypatch.setattr(StoredContext, "__init__", remember)
    with pytest.raises(ValueError, match="initial_window_blocks"):
        contexts.open_context(
            "s3-cached-prefetch", url, endpoint_url=s3.endpoint_url, initial_window_blocks=0
        )
    assert len(opened) == 1 and opened[0].closed


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "8"])
def test_concurrency_must_be_a_positive_integer(bad: object) -> None:
    for name, option in (("s3-threaded", "max_workers"), ("obstore", "max_concurrency")):
        with pytest.raises(ValueError, match=f"{option} must be a positive integer"):
            contexts.open_context(name, "s3://bucket/p/", **{option: bad})


def test_a_preset_made_for_one_layout_refuses_another_before_any_request() -> None:
    for name, wrong in (("s3-byte-range", "segments"), ("s3-large-chunk", "single")):
        with pytest.raises(ValueError, match=f"layout only, not '{wrong}'"):
            contexts.open_context(name, "s3://no-such-bucket/p/", layout=wrong)


def test_every_stored_context_has_awaitable_forms(s3: S3Env) -> None:
    url = s3.new_url()
    contexts.write_layout(TEXT, url, "single", endpoint_url=s3.endpoint_url)

    async def session(ctx: StoredContext) -> tuple[int, str, list[str]]:
        return await ctx.alen(), await ctx.aslice(-3), await ctx.aread_many([(0, 2), (5, 5)])

    with contexts.open_context("s3-byte-range", url, endpoint_url=s3.endpoint_url) as ctx:
        assert isinstance(ctx, StoredContext)
        count, tail, many = asyncio.run(session(ctx))
    assert count == len(LINES) and tail == "".join(LINES[-3:])
    assert many == ["".join(LINES[0:2]), ""]
