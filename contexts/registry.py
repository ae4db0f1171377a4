"""Named context presets with lazy imports: ``available()``, ``open_context()``, ``context_class()``.

Adding a context = one module with a ``Context`` subclass + one ``ContextSpec`` line here + a
three-line conformance test class.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

from contexts.base import Context
from contexts.errors import MissingDependencyError, UnknownContextError


@dataclass(frozen=True)
class ContextSpec:
    """How to find, import and test one registered context."""

    name: str
    """Registry name (``s3-sequential``)."""
    target: str
    """``module:Class`` to import lazily."""
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
        """The class name, importable as ``from contexts import <class_name>``."""
        return self.target.partition(":")[2]


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
            "contexts.sequential:SequentialS3Context",
            "baseline: one GET per segment, in order, no cache",
            storage="s3",
            layouts=("segments", "single"),
        ),
        ContextSpec(
            "s3-threaded",
            "contexts.threaded:ThreadedS3Context",
            "boto3 GETs of a batch all at once on a thread pool",
            storage="s3",
            layouts=("segments", "single"),
        ),
        ContextSpec(
            "s3-async",
            "contexts.async_s3:AsyncS3Context",
            "aioboto3 on a background event loop: a batch's GETs at once; works inside Jupyter",
            storage="s3",
            layouts=("segments", "single"),
            extra="async",
        ),
        ContextSpec(
            "obstore",
            "contexts.obstore_context:ObstoreContext",
            "Rust object_store bindings: concurrent GETs, coalesced byte ranges",
            storage="s3",
            layouts=("segments", "single"),
            extra="obstore",
        ),
        ContextSpec(
            "s3-byte-range",
            "contexts.byte_range:ByteRangeS3Context",
            "single object by byte ranges: nearby ranges coalesced, large ones split into parts",
            storage="s3",
            layouts=("single",),
        ),
        ContextSpec(
            "s3-large-chunk",
            "contexts.large_chunk:LargeChunkS3Context",
            "50,000-line segments on parallel GETs; a few lines by byte range (segment indexes)",
            storage="s3",
            layouts=("segments",),
            write_options=(("lines_per_segment", 50_000), ("segment_index_stride", 64)),
        ),
        ContextSpec(
            "s3-ram",
            "contexts.ram:RamS3Context",
            "everything fetched in parallel at open, then slices in memory (memory limit)",
            storage="s3",
            layouts=("segments", "single"),
        ),
        ContextSpec(
            "s3-cached-prefetch",
            "contexts.presets:CachedPrefetchS3Context",
            "s3-threaded + byte-bounded LRU cache + sequential read-ahead in think time",
            storage="s3",
            layouts=("segments", "single"),
        ),
        *(
            ContextSpec(
                f"s3fs-{cache}",
                "contexts.s3fs_context:S3fsContext",
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
            "contexts.volume:VolumeContext",
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


def context_class(name: str) -> type[Context]:
    """Import and return the class registered as ``name``."""
    entry = spec(name)
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"pip install 'rlm-context-lab[{entry.extra}]'" if entry.extra else "reinstall"
        raise MissingDependencyError(
            f"context {name!r} needs {exc.name or 'an optional package'}: {hint}"
        ) from exc
    cls: type[Context] = getattr(module, class_name)
    return cls


def open_context(name: str, url: str, **options: Any) -> Context:
    """Open the context stored at ``url`` with the registered context ``name``.

    ``url`` is ``s3://bucket/prefix/`` or a directory path; ``options`` go to the class, e.g.
    ``endpoint_url``, ``region_name``, ``layout`` and per-context knobs.
    """
    return context_class(name).open(url, **{**dict(spec(name).open_options), **options})
