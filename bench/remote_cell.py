"""One bench cell as a plain function, for running next to the storage (``bench/modal_app.py``).

``run_remote_cell(spec)`` writes the corpus the cell needs (a directory such as a Modal Volume
mounted at ``/data``, or an S3 prefix), opens a cold context, replays the scenario with the same
runner and oracle checks as ``ctxlab bench``, and returns a *fragment*: a complete results JSON
(schema ``bench/RESULTS.md``) holding that one cell. ``merge_fragments`` joins fragments from
many containers into one results JSON. Nothing here imports Modal, so it runs and is tested
anywhere.

A ``CloudBucketMount`` is read-mostly (no renames), so with ``bucket_root`` directory contexts
read a corpus that was uploaded through the S3 API to ``s3_url``, at the same relative path
under the mount.
"""

from __future__ import annotations

import platform
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.results import CellResult, RunResults, results_from_json, run_metadata
from bench.runner import BenchConfig, run_cell
from bench.targets import DirectTarget
from contexts import registry
from contexts.layouts.manifest import MANIFEST_NAME
from contexts.layouts.single import INDEX_NAME
from contexts.location import S3Location, parse_location

MODAL_VOLUME = "modal-volume"
"""Profile label of directory cells read from a Modal Volume (no simulated network)."""
BUCKET_MOUNT = "cloud-bucket-mount"
"""Profile label of directory cells read through a ``modal.CloudBucketMount``."""
REAL_S3 = "real"
"""Profile label of S3 cells measured against the real endpoint."""


@dataclass(frozen=True)
class CellSpec:
    """One cell to run remotely (plain data: it travels to the container as a dict)."""

    context: str
    """Registry name."""
    scenario: str
    """Scenario name."""
    lines: int
    """Corpus size."""
    root: str = "/data/ctxlab"
    """Directory for directory layouts (the Volume mount); created if missing."""
    s3_url: str | None = None
    """``s3://bucket/prefix/`` for S3 layouts (credentials from the environment)."""
    bucket_root: str | None = None
    """A CloudBucketMount of ``s3_url``: directory contexts read the corpus there."""
    endpoint_url: str | None = None
    """S3-compatible endpoint for ``s3_url`` (``None``: AWS)."""
    region_name: str | None = None
    """Region of ``s3_url``'s bucket."""
    seed: int = 0
    """Corpus and scenario seed."""
    think_scale: float = 0.01
    """Multiplies think pauses."""
    segment_lines: int = 1000
    """Lines per segment."""
    where: str = "local"
    """Where the cell ran, for the results (``modal`` inside a container)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellSpec:
        """The spec from :meth:`to_dict` output."""
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``Function.map``."""
        return asdict(self)

    @property
    def label(self) -> str:
        """The cell's profile label: what the traffic really went through."""
        if registry.spec(self.context).storage == "local":
            return BUCKET_MOUNT if self.bucket_root else MODAL_VOLUME
        return REAL_S3 if registry.spec(self.context).storage == "s3" else "none"


class MountTarget(DirectTarget):
    """:class:`DirectTarget` for a container: directory layouts already on the mount are read
    as they are (the oracle still checks every answer), and with ``bucket_root`` they are
    uploaded through S3 and read through the bucket mount."""

    def __init__(self, spec: CellSpec) -> None:
        options = {"endpoint_url": spec.endpoint_url, "region_name": spec.region_name}
        super().__init__(spec.s3_url or "", options, spec.seed, Path(spec.root))
        self.bucket_root = Path(spec.bucket_root) if spec.bucket_root else None

    def _stored(self, lines: int, layout: str, options: dict[str, Any], *, local: bool) -> str:
        if not local:
            return super()._stored(lines, layout, options, local=False)
        if self.bucket_root is not None:
            uploaded = super()._stored(lines, layout, options, local=False)
            # The mount shows the whole bucket: the object's key, prefix included, is its path.
            location = parse_location(uploaded)
            assert isinstance(location, S3Location)
            return str(self.bucket_root / location.prefix)
        folder = self.workdir / self.layout_name(lines, layout, options)
        if any((folder / name).exists() for name in (MANIFEST_NAME, INDEX_NAME)):
            return str(folder)  # written by prepare_remote (or an earlier run)
        return super()._stored(lines, layout, options, local=True)


def prepare_remote(specs: Iterable[CellSpec | Mapping[str, Any]]) -> list[str]:
    """Write every corpus layout the specs need (once each); the URLs / folders written.

    On Modal this runs in one container before the fan-out, followed by ``Volume.commit()``, so
    the cells read a Volume they did not write themselves.
    """
    written: list[str] = []
    targets: dict[tuple[Any, ...], MountTarget] = {}
    for raw in specs:
        spec = raw if isinstance(raw, CellSpec) else CellSpec.from_dict(raw)
        key = (spec.root, spec.s3_url, spec.bucket_root, spec.seed)
        target = targets.setdefault(key, MountTarget(spec))
        url = target.prepare(spec.context, spec.lines, spec.segment_lines)
        if url is not None and url not in written:
            written.append(url)
    return written


def run_remote_cell(spec: CellSpec | Mapping[str, Any]) -> dict[str, Any]:
    """Run one cell where this process runs; a results JSON holding that one cell."""
    if not isinstance(spec, CellSpec):
        spec = CellSpec.from_dict(spec)
    storage = registry.spec(spec.context).storage
    if storage == "s3" and not spec.s3_url:
        raise ValueError(f"{spec.context} reads S3: give the cell an s3_url (s3://bucket/prefix/)")
    if storage == "local" and spec.bucket_root and not spec.s3_url:
        raise ValueError("bucket_root needs the s3_url of the mounted bucket to upload through")
    Path(spec.root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ctxlab-cell-") as out:
        config = BenchConfig(
            contexts=(spec.context,),
            scenarios=(spec.scenario,),
            profiles=(spec.label,),
            lines=(spec.lines,),
            out=Path(out),
            seed=spec.seed,
            think_scale=spec.think_scale,
            segment_lines=spec.segment_lines,
        )
        target = MountTarget(spec)
        cell = run_cell(target, config, spec.context, spec.scenario, spec.label, spec.lines)
    meta = run_metadata(
        target=spec.where,
        network="real (no simulated network)",
        seed=spec.seed,
        think_scale=spec.think_scale,
        segment_lines=spec.segment_lines,
        profiles={},
        corpora=[corpus.info for corpus in target.corpora.values()],
        interrupted=False,
        host=platform.node(),
    )
    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return RunResults(meta, [cell]).to_json()


def matrix(
    contexts: Iterable[str], scenarios: Iterable[str], sizes: Iterable[int], **common: Any
) -> list[CellSpec]:
    """Every (context, scenario, size) as a spec sharing ``common`` options."""
    scenarios, sizes = tuple(scenarios), tuple(sizes)
    return [
        CellSpec(context=name, scenario=scenario, lines=lines, **common)
        for lines in sizes
        for scenario in scenarios
        for name in contexts
    ]


def merge_fragments(fragments: Iterable[Mapping[str, Any]]) -> RunResults:
    """One results JSON from per-cell fragments (same seed, think scale and segment size)."""
    runs = [results_from_json(dict(raw), source="fragment") for raw in fragments]
    if not runs:
        raise ValueError("no fragments to merge")
    first = runs[0].meta
    for run in runs[1:]:
        for key in ("seed", "think_scale", "segment_lines"):
            if run.meta.get(key) != first.get(key):
                raise ValueError(
                    f"fragments disagree on {key} ({first.get(key)!r} vs {run.meta.get(key)!r}); "
                    "merge only cells of one matrix"
                )
    corpora = {json_key(c): c for run in runs for c in run.meta.get("corpora", [])}
    meta = {
        **first,
        "started_at": min(run.meta["started_at"] for run in runs),
        "finished_at": max(run.meta.get("finished_at", run.meta["started_at"]) for run in runs),
        "corpora": list(corpora.values()),
        "hosts": sorted({str(run.meta.get("host")) for run in runs}),
        "fragments": len(runs),
    }
    meta.pop("host", None)
    return RunResults(meta, [cell for run in runs for cell in run.cells])


def json_key(corpus: Mapping[str, Any]) -> tuple[Any, ...]:
    """Identity of a corpus description (size, seed, content hash)."""
    return (corpus.get("lines"), corpus.get("seed"), corpus.get("sha256"))


def fan_out(
    specs: Iterable[CellSpec],
    mapper: Callable[[Iterable[dict[str, Any]]], Iterable[dict[str, Any] | BaseException]],
) -> RunResults:
    """Run every spec through ``mapper`` (``Function.map(..., return_exceptions=True)`` on
    Modal, ``map`` with :func:`run_remote_cell` locally) and merge the fragments. A
    container that died (an exception instead of a fragment) becomes a failed cell: shown,
    never dropped, and it does not cost the other cells their results."""
    specs = list(specs)
    outputs = list(mapper(spec.to_dict() for spec in specs))
    fragments = [out for out in outputs if not isinstance(out, BaseException)]
    if fragments:
        results = merge_fragments(fragments)
    else:
        first = specs[0] if specs else CellSpec("memory", "peek", 0)
        results = RunResults(
            run_metadata(
                seed=first.seed, think_scale=first.think_scale, segment_lines=first.segment_lines
            )
        )
    for spec, out in zip(specs, outputs, strict=True):
        if isinstance(out, BaseException):
            results.cells.append(
                CellResult(
                    spec.context,
                    spec.scenario,
                    "",
                    spec.label,
                    spec.lines,
                    status="failed",
                    error=f"the container failed: {type(out).__name__}: {out}",
                )
            )
    return results
