"""Stored presets as values: a :class:`Composition` names a transport, the layout reader's
options and a policy; :func:`build` assembles the context it describes.

Every stored preset of the registry (``s3-threaded``, ``obstore``, ``s3-byte-range``,
``s3-cached-prefetch``, ``volume``...) is one :class:`~contexts.stored.StoredContext` built from
its composition, wrapped in its policy if it has one. The options a preset takes, with their
defaults, come from its parts (:meth:`Composition.options`), so an option it does not take is a
``TypeError`` that lists those it does, raised before any request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from contexts.base import Context
from contexts.errors import InvalidURLError, MissingDependencyError
from contexts.layouts.segments import DEFAULT_PARTIAL_MAX_FRACTION, check_partial_fraction
from contexts.location import LocalLocation, Location, S3Location
from contexts.policies.cache import CACHE_BUDGET_BYTES, DEFAULT_BLOCK_LINES
from contexts.policies.ram import RAM_LIMIT_BYTES, RamContext
from contexts.ranges import DEFAULT_COALESCE_BYTES, DEFAULT_PART_BYTES, check_sizes
from contexts.stats import StatsRecorder
from contexts.stored import StoredContext
from contexts.transport.base import Transport
from contexts.transport.options import S3_CLIENT_DEFAULTS, S3Options

TransportKind = Literal["boto3", "boto3-pooled", "aiobotocore", "obstore", "s3fs", "local-pooled"]
"""How the storage is read: boto3 one GET at a time or on a thread pool, aiobotocore on an event
loop, obstore (Rust), an s3fs file (the peer), or a directory on a thread pool."""

PolicyKind = Literal["cache-prefetch", "ram"]
"""What wraps the stored context: a byte-bounded LRU with read-ahead, or a load into memory."""

Defaults = tuple[tuple[str, Any], ...]

TRANSPORT_OPTIONS: Mapping[TransportKind, Defaults] = {
    "obstore": (("coalesce_bytes", DEFAULT_COALESCE_BYTES), ("part_bytes", DEFAULT_PART_BYTES)),
    "s3fs": (("cache_type", "readahead"), ("block_size", None)),
}
"""Options a transport kind takes besides its concurrency, with their defaults."""

READER_OPTIONS: Mapping[str, Defaults] = {
    "single": (("coalesce_bytes", DEFAULT_COALESCE_BYTES), ("part_bytes", DEFAULT_PART_BYTES)),
    "segments": (
        ("partial_reads", True),
        ("partial_max_fraction", DEFAULT_PARTIAL_MAX_FRACTION),
        ("coalesce_bytes", DEFAULT_COALESCE_BYTES),
        ("part_bytes", DEFAULT_PART_BYTES),
    ),
}
"""The planning options of each layout's reader, for compositions that expose them."""

POLICY_OPTIONS: Mapping[PolicyKind, Defaults] = {
    "cache-prefetch": (
        ("max_bytes", CACHE_BUDGET_BYTES),
        ("block_lines", DEFAULT_BLOCK_LINES),
        ("initial_window_blocks", 2),
        ("max_window_blocks", 64),
    ),
    "ram": (("max_bytes", RAM_LIMIT_BYTES),),
}
"""Options of each policy, with their defaults."""


@dataclass(frozen=True)
class Composition:
    """A stored context as a value: how the storage is read, what the layout reader may be told,
    and the policy on top. A registry entry holding one is a preset; no subclass is involved."""

    public_name: str
    """The name ``from contexts import ...`` gives (``ThreadedS3Context``)."""
    transport: TransportKind
    concurrency: str | None = "max_workers"
    """The option that sets how many requests run at once (also the HTTP pool); ``None``: one."""
    default_concurrency: int = 64
    tuned_reader: bool = False
    """Exposes the planning options of its (single) layout's reader (``READER_OPTIONS``)."""
    policy: PolicyKind | None = None
    chunk_lines: int = 50_000
    """Lines per batch of iteration, ``grep`` and ``text``."""

    @property
    def reads_s3(self) -> bool:
        """Reads ``s3://`` URLs (with the S3 client options)."""
        return self.transport != "local-pooled"

    @property
    def reads_directories(self) -> bool:
        """Reads a directory (a Modal Volume, a bucket mount)."""
        return self.transport in ("boto3", "local-pooled")

    def options(self, layouts: tuple[str, ...]) -> dict[str, Any]:
        """Every option this composition takes for ``layouts`` (its registry entry's), with its
        default."""
        taken: dict[str, Any] = {}
        if self.concurrency is not None:
            taken[self.concurrency] = self.default_concurrency
        taken.update(TRANSPORT_OPTIONS.get(self.transport, ()))
        if self.tuned_reader:
            taken.update(READER_OPTIONS[layouts[0]])
        if self.policy is not None:
            taken.update(POLICY_OPTIONS[self.policy])
        taken["layout"] = layouts[0] if len(layouts) == 1 else "auto"
        if self.reads_s3:
            taken.update(S3_CLIENT_DEFAULTS)
        return taken


def build(
    name: str,
    composition: Composition,
    layouts: tuple[str, ...],
    url: str,
    options: Mapping[str, Any],
    *,
    extra: str | None = None,
) -> Context:
    """Open the preset ``name`` (``composition`` over ``layouts``) at ``url`` with ``options``
    (the caller's, over the composition's defaults). ``extra`` names the pip extra whose absence
    becomes a ``MissingDependencyError``."""
    defaults = composition.options(layouts)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(
            f"{name} takes no option {', '.join(map(repr, unknown))}; it takes: "
            f"{', '.join(sorted(defaults))}"
        )
    values = {**defaults, **options}
    layout = _layout(name, layouts, values.pop("layout"))
    concurrency = 1
    if composition.concurrency is not None:
        concurrency = values.pop(composition.concurrency)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(
                f"{name}: {composition.concurrency} must be a positive integer, not {concurrency!r}"
            )
    transport_options = _take(values, TRANSPORT_OPTIONS.get(composition.transport, ()))
    reader_options = _take(values, READER_OPTIONS[layout] if composition.tuned_reader else ())
    policy_options = _take(values, POLICY_OPTIONS[composition.policy] if composition.policy else ())
    _check_planning({**transport_options, **reader_options})
    pool = max(concurrency, 10)  # botocore's default pool of 10 would serialise a wider fan-out
    s3 = S3Options(max_pool_connections=pool, **values) if composition.reads_s3 else None

    def make_transport(location: Location, stats: StatsRecorder) -> Transport:
        _check_location(name, composition, location, url)
        try:
            return _transport(
                composition.transport, location, stats, s3, concurrency, transport_options
            )
        except ImportError as exc:
            raise missing_dependency(name, extra, exc) from exc

    detail = (
        f"s3fs cache {transport_options['cache_type']}" if composition.transport == "s3fs" else ""
    )
    stored = StoredContext(
        url,
        make_transport=make_transport,
        layout=layout,
        reader_options=reader_options,
        name=name,
        chunk_lines=composition.chunk_lines,
        detail=detail,
    )
    if composition.policy is None:
        return stored
    try:
        wrapped = _policy(composition.policy)(stored, **policy_options)
    except BaseException:
        stored.close()
        raise
    wrapped.name = name
    return wrapped


def missing_dependency(name: str, extra: str | None, exc: ImportError) -> MissingDependencyError:
    """The error for context ``name`` when importing what it needs failed: the package, and
    the pip extra that provides it."""
    hint = f"pip install 'rlm-context-lab[{extra}]'" if extra else "reinstall"
    return MissingDependencyError(
        f"context {name!r} needs {exc.name or 'an optional package'}: {hint}"
    )


def _layout(name: str, layouts: tuple[str, ...], layout: str) -> str:
    """The layout to open: a preset made for one layout refuses another, by name."""
    if len(layouts) == 1 and layout != layouts[0]:
        (only,) = layouts
        raise ValueError(
            f"{name} reads the {'single-object' if only == 'single' else only} layout only, not "
            f"{layout!r}; write it with contexts.write_layout(text, url, layout={only!r}) or "
            "choose a context that reads both layouts (s3-threaded)"
        )
    return layout


def _take(values: dict[str, Any], defaults: Defaults) -> dict[str, Any]:
    """Remove and return the options named in ``defaults``."""
    return {key: values.pop(key) for key, _ in defaults}


def _check_planning(options: Mapping[str, Any]) -> None:
    """Refuse bad planning sizes before any request."""
    if "part_bytes" in options or "coalesce_bytes" in options:
        check_sizes(options.get("coalesce_bytes"), options.get("part_bytes"))
    if "partial_max_fraction" in options:
        check_partial_fraction(options["partial_max_fraction"])


def _check_location(name: str, composition: Composition, location: Location, url: str) -> None:
    if isinstance(location, S3Location) and not composition.reads_s3:
        raise InvalidURLError(
            f"{name} reads a directory, not {url!r}; use s3-threaded or contexts.open for s3:// URLs"
        )
    if isinstance(location, LocalLocation) and not composition.reads_directories:
        raise InvalidURLError(
            f"{name} reads s3:// URLs, not {url!r}; use the 'volume' context for a directory"
        )


def _transport(
    kind: TransportKind,
    location: Location,
    stats: StatsRecorder,
    s3: S3Options | None,
    concurrency: int,
    options: Mapping[str, Any],
) -> Transport:
    """The transport of ``kind`` for ``location`` (optional libraries imported here, on use)."""
    if isinstance(location, LocalLocation):
        from contexts.transport.local import LocalTransport, PooledLocalTransport

        if kind == "local-pooled":
            return PooledLocalTransport(location, stats, concurrency)
        return LocalTransport(location, stats)
    assert isinstance(location, S3Location) and s3 is not None
    if kind == "boto3":
        from contexts.transport.s3 import S3Transport

        return S3Transport(location, s3, stats)
    if kind == "boto3-pooled":
        from contexts.transport.s3 import ThreadedS3Transport

        return ThreadedS3Transport(location, s3, stats, concurrency)
    if kind == "aiobotocore":
        from contexts.transport.aio import AioS3Transport

        return AioS3Transport(location, s3, stats, max_concurrency=concurrency)
    if kind == "obstore":
        from contexts.transport.obstore import ObstoreTransport

        return ObstoreTransport(location, s3, stats, max_concurrency=concurrency, **options)
    if kind == "s3fs":
        from contexts.layouts.single import TEXT_NAME
        from contexts.transport.s3fs import S3fsTransport

        return S3fsTransport(location, s3, stats, file_name=TEXT_NAME, **options)
    raise AssertionError(f"no transport kind {kind!r}")


def _policy(kind: PolicyKind) -> Callable[..., Context]:
    """The wrapper class of policy ``kind``."""
    if kind == "cache-prefetch":
        from contexts.policies.prefetch import PrefetchingContext

        return PrefetchingContext
    return RamContext
