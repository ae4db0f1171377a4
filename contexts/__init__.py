"""Line-sliceable RLM contexts on object storage, all answering exactly like an in-memory string.

    import contexts
    contexts.write_layout(text, "s3://bucket/ctx/", layout="single", endpoint_url=...)
    ctx = contexts.open("s3://bucket/ctx/", endpoint_url=...)   # the `auto` context
    ctx[0:50000]          # lines 0..49999, joined
    len(ctx), ctx[-1], ctx.grep(r"ERROR"), ctx.stats

``contexts.open_context(name, url)`` opens any registered context by name (``available()``).

Context classes import lazily (``from contexts import SequentialS3Context``) so that a missing
optional extra only matters for the context that needs it. ``from contexts import
RecordingContext`` (:mod:`contexts.policies.recording`) wraps a context to record an RLM run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from contexts.append import (
    AppendConflictError,
    Appender,
    AppendNotSupportedError,
    AppendResult,
    append_text,
)
from contexts.base import Context, GrepHit, LineRange
from contexts.char_view import StrView
from contexts.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    ContextClosedError,
    ContextError,
    CredentialsError,
    DeadlineExceededError,
    EndpointUnreachableError,
    IndexFormatError,
    IntegrityError,
    InvalidURLError,
    LayoutNotFoundError,
    ManifestError,
    ManifestNotFoundError,
    MemoryLimitError,
    MissingDependencyError,
    ObjectNotFoundError,
    StorageError,
    UnknownContextError,
    UnsafePathError,
)
from contexts.memory import InMemoryContext
from contexts.registry import REGISTRY, available, context_class, open_context, opener
from contexts.stats import ContextStats
from contexts.writer import WrittenLayout, write_layout

if TYPE_CHECKING:
    from contexts.auto import AutoContext

__all__ = [
    "AccessDeniedError",
    "AppendConflictError",
    "AppendNotSupportedError",
    "AppendResult",
    "Appender",
    "BucketNotFoundError",
    "Context",
    "ContextClosedError",
    "ContextError",
    "ContextStats",
    "CredentialsError",
    "DeadlineExceededError",
    "EndpointUnreachableError",
    "GrepHit",
    "InMemoryContext",
    "IndexFormatError",
    "IntegrityError",
    "InvalidURLError",
    "LayoutNotFoundError",
    "LineRange",
    "ManifestError",
    "ManifestNotFoundError",
    "MemoryLimitError",
    "MissingDependencyError",
    "ObjectNotFoundError",
    "StorageError",
    "StrView",
    "UnknownContextError",
    "UnsafePathError",
    "WrittenLayout",
    "append_text",
    "available",
    "context_class",
    "open",
    "open_context",
    "opener",
    "write_layout",
]


def open(url: str, **options: Any) -> AutoContext:
    """The context to use: :class:`contexts.auto.AutoContext` over ``url`` (``s3://bucket/prefix/``
    or a directory such as a Modal Volume mount). ``options``: ``endpoint_url``,
    ``region_name``, ``max_bytes`` (the in-memory budget) and the rest of ``AutoContext``'s."""
    return cast("AutoContext", open_context("auto", url, **options))


_LAZY_CLASSES: dict[str, str] = {}
for _name, _spec in REGISTRY.items():  # the first entry of a public name (s3fs-readahead)
    _LAZY_CLASSES.setdefault(_spec.class_name, _name)


def __getattr__(attribute: str) -> Any:
    """Registered contexts by public name on first use (``from contexts import X``): a class,
    imported then, or the preset of a composition."""
    if attribute in _LAZY_CLASSES:
        return opener(_LAZY_CLASSES[attribute])
    if attribute == "RecordingContext":  # a policy wrapper, imported on first use
        from contexts.policies.recording import RecordingContext

        return RecordingContext
    raise AttributeError(f"module 'contexts' has no attribute {attribute!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_LAZY_CLASSES, "RecordingContext"])
