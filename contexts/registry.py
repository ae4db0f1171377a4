"""Named contexts: ``available()``, ``open_context()``, ``opener()``.

A registry entry opens either a class (``module:Class``, imported lazily: ``auto``, ``memory``)
or a :class:`~contexts.compose.Composition`, a stored preset given as a value (transport, reader
options, policy). Adding a composition = one ``ContextSpec`` here + a three-line conformance
test class; a new kind of context = a module with its class + the same two.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from contexts.base import Context
from contexts.compose import Composition, build, missing_dependency
from contexts.errors import UnknownContextError


@dataclass(frozen=True)
class ContextSpec:
    """How to find, import and test one registered context."""

    name: str
    """Registry name (``s3-sequential``)."""
    target: str | Composition
    """What it opens: ``module:Class`` (imported lazily) or a composition."""
    summary: str
    """One line for listings and reports."""
    storage: Literal["memory", "s3", "local"]
    """What the context reads: a string, an S3 URL or a directory."""
    layouts: tuple[str, ...] = ()
    """Layouts it can read (empty for in-memory)."""
    extra: str | None = None
    """The pip extra that provides its optional dependencies."""
    write_options: tuple[tuple[str, Any], ...] = ()
    """``write_layout`` options of the layout it is meant for (e.g. 50,000-line segments)."""
    open_options: tuple[tuple[str, Any], ...] = ()
    """Constructor options this preset passes (the caller's options override them)."""
    peer: bool = False
    """Not a lab design: a library a user would otherwise reach for, run for comparison."""

    @property
    def class_name(self) -> str:
        """The public name, importable as ``from contexts import <class_name>``."""
        if isinstance(self.target, Composition):
            return self.target.public_name
        return self.target.partition(":")[2]


LARGE_CHUNK_WRITE = (("lines_per_segment", 50_000), ("segment_index_stride", 64))
"""The large-chunk layout: 50,000-line segments (~5 MB of chat transcript), each with a line
index sidecar of a checkpoint every 64 lines (a few KB), so a peek reads a few lines by range."""

REGISTRY: dict[str, ContextSpec] = {
    spec.name: spec
    for spec in (
        ContextSpec(
            "auto",
            "contexts.auto:AutoContext",
            "contexts.open(url): open in one round trip, cold reads in one more, loads into RAM",
            storage="s3",
            layouts=("single", "segments"),
        ),
        ContextSpec(
            "memory",
            "contexts.memory:InMemoryContext",
            "the whole text in RAM: the oracle",
            storage="memory",
        ),
        ContextSpec(
            "s3-sequential",
            Composition("SequentialS3Context", "boto3", concurrency=None),
            "baseline: one GET per segment, in order, no cache",
            storage="s3",
            layouts=("segments", "single"),
        ),
        ContextSpec(
            "s3-threaded",
            Composition("ThreadedS3Context", "boto3-pooled"),
            "boto3 GETs of a batch all at once on a thread pool",
            storage="s3",
            layouts=("segments", "single"),
        ),
        ContextSpec(
            "s3-async",
            Composition("AsyncS3Context", "aiobotocore", concurrency="max_concurrency"),
            "aioboto3 on a background event loop: a batch's GETs at once; works inside Jupyter",
            storage="s3",
            layouts=("segments", "single"),
            extra="async",
        ),
        ContextSpec(
            "obstore",
            Composition("ObstoreContext", "obstore", concurrency="max_concurrency"),
            "Rust object_store bindings: concurrent GETs, coalesced byte ranges",
            storage="s3",
            layouts=("segments", "single"),
            extra="obstore",
        ),
        ContextSpec(
            "s3-byte-range",
            Composition("ByteRangeS3Context", "boto3-pooled", tuned_reader=True),
            "single object by byte ranges: nearby ranges coalesced, large ones split into parts",
            storage="s3",
            layouts=("single",),
        ),
        ContextSpec(
            "s3-large-chunk",
            Composition("LargeChunkS3Context", "boto3-pooled", tuned_reader=True),
            "50,000-line segments on parallel GETs; a few lines by byte range (segment indexes)",
            storage="s3",
            layouts=("segments",),
            write_options=LARGE_CHUNK_WRITE,
        ),
        ContextSpec(
            "s3-ram",
            Composition("RamS3Context", "boto3-pooled", policy="ram"),
            "everything fetched in parallel at open, then slices in memory (memory limit)",
            storage="s3",
            layouts=("segments", "single"),
        ),
        ContextSpec(
            "s3-cached-prefetch",
            Composition("CachedPrefetchS3Context", "boto3-pooled", policy="cache-prefetch"),
            "s3-threaded + byte-bounded LRU cache + sequential read-ahead in think time",
            storage="s3",
            layouts=("segments", "single"),
        ),
        *(
            ContextSpec(
                f"s3fs-{cache}",
                Composition("S3fsContext", "s3fs", concurrency="max_pool_connections"),
                f"peer: s3fs file with fsspec's {cache!r} cache over the single object + index",
                storage="s3",
                layouts=("single",),
                extra="s3fs",
                open_options=(("cache_type", cache),),
                peer=True,
            )
            for cache in ("readahead", "blockcache", "background")
        ),
        ContextSpec(
            "volume",
            Composition("VolumeContext", "local-pooled", default_concurrency=16),
            "a directory (Modal Volume, bucket mount): parallel reads, os.pread ranges",
            storage="local",
            layouts=("segments", "single"),
        ),
    )
}


def available() -> list[str]:
    """Names of every registered context, for ``open_context``."""
    return list(REGISTRY)


def spec(name: str) -> ContextSpec:
    """The registry entry for ``name``."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownContextError(
            f"no context named {name!r}; registered: {', '.join(REGISTRY)}"
        ) from None


class ContextOpener(Protocol):
    """What ``opener(name)`` gives: ``opener(name)(url, **options)`` or ``.open(url, ...)``."""

    def __call__(self, *args: Any, **options: Any) -> Context: ...

    def open(self, url: str, **options: Any) -> Context: ...


class Preset:
    """A registered composition under its public name, used like a class:
    ``ThreadedS3Context(url, max_workers=64)``, ``.open(url)``, ``.write(text, url)``.

    Its options and their defaults are :meth:`options` (and its signature, for ``help()``);
    one it does not take is a ``TypeError`` that lists them.
    """

    def __init__(self, name: str) -> None:
        entry = spec(name)
        if not isinstance(entry.target, Composition):
            raise TypeError(f"{name!r} is a class, not a composition: use opener({name!r})")
        self.name = name
        self.spec = entry
        self.composition = entry.target
        self.__name__ = self.__qualname__ = entry.class_name
        self.__doc__ = f"``{name}``: {entry.summary}."

    def __call__(self, url: str, **options: Any) -> Context:
        """Open the context stored at ``url`` (options over the preset's own)."""
        entry = self.spec
        given = {**dict(entry.open_options), **options}
        return build(self.name, self.composition, entry.layouts, url, given, extra=entry.extra)

    def open(self, url: str, **options: Any) -> Context:
        """The same as calling the preset."""
        return self(url, **options)

    def options(self) -> dict[str, Any]:
        """Every option it takes, with the default this preset uses."""
        entry = self.spec
        return {**self.composition.options(entry.layouts), **dict(entry.open_options)}

    @property
    def __signature__(self) -> inspect.Signature:
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [inspect.Parameter("url", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        parameters += [
            inspect.Parameter(key, keyword, default=value) for key, value in self.options().items()
        ]
        return inspect.Signature(parameters)

    def write(self, text: str, url: str, **options: Any) -> Any:
        """Store ``text`` at ``url`` in the layout this preset is made for (``options`` go to
        :func:`contexts.write_layout`, e.g. ``endpoint_url``, over the preset's own)."""
        from contexts.writer import write_layout

        entry = self.spec
        layout = entry.layouts[0]
        return write_layout(text, url, layout, **{**dict(entry.write_options), **options})

    def __repr__(self) -> str:
        return f"<preset {self.__name__} ({self.name!r})>"


def opener(name: str) -> ContextOpener:
    """What opens the context registered as ``name``: its class, imported on first use, or the
    :class:`Preset` of its composition."""
    entry = spec(name)
    if isinstance(entry.target, Composition):
        return Preset(name)
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise missing_dependency(name, entry.extra, exc) from exc
    cls: type[Context] = getattr(module, class_name)
    return cls


context_class: Callable[[str], ContextOpener] = opener
"""The older name of :func:`opener`."""


def open_context(name: str, url: str, **options: Any) -> Context:
    """Open the context stored at ``url`` with the registered context ``name``.

    ``url`` is ``s3://bucket/prefix/`` or a directory path; ``options`` go to the class, e.g.
    ``endpoint_url``, ``region_name``, ``layout`` and per-context knobs.
    """
    entry = spec(name)
    if isinstance(entry.target, Composition):
        return Preset(name)(url, **options)
    return opener(name).open(url, **{**dict(entry.open_options), **options})
