"""The target during a real run: corpora on storage reached directly, no simulated network."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.network import NetworkProfile
from bench.runner import BenchConfig, BenchTarget, Corpus, TargetKind
from bench.targets.preflight import delete_prefix
from bench.targets.real import RealTarget


class DirectTarget(BenchTarget):
    """Corpora on storage reached directly, with no simulated network: S3 layouts under
    ``s3_root`` (setup and measured traffic go to the same endpoint), directory layouts under
    ``workdir``. Used for real buckets and inside Modal containers."""

    def __init__(
        self, s3_root: str, layout_options: dict[str, Any], seed: int, workdir: Path
    ) -> None:
        self.s3_root = s3_root
        self.layout_options = layout_options
        self.seed = seed
        self.workdir = workdir
        self.corpora: dict[int, Corpus] = {}

    def write_options(self) -> dict[str, Any]:
        return dict(self.layout_options)

    def read_options(self) -> dict[str, Any]:
        return dict(self.layout_options)

    def set_profile(self, profile: str, seed: int) -> bool:
        """There is no simulated network to configure (and no fault is injected)."""
        return False

    def fault_counts(self) -> dict[str, int] | None:
        """Nothing is injected on a real network."""
        return None

    def network_model(self, label: str) -> NetworkProfile | None:
        """A real network has no model (its cells get no lower bound)."""
        return None


def real_target_kind(target: RealTarget, report: Callable[[str], None]) -> TargetKind:
    """The :class:`TargetKind` for ``run_bench``: uploads under the run prefix, cleans up."""

    @contextmanager
    def open_target(config: BenchConfig) -> Iterator[BenchTarget]:
        try:
            with tempfile.TemporaryDirectory(prefix="ctxlab-bench-") as workdir:
                yield DirectTarget(
                    target.run_url, target.layout_options(), config.seed, Path(workdir)
                )
        finally:
            if target.keep:
                report(f"kept the corpora under {target.run_url} (--keep)")
            else:
                report(f"deleted {delete_prefix(target):,} objects under {target.run_url}")

    meta = {
        "target": f"s3://{target.location.bucket}/{target.location.prefix}",
        "network": "real (no simulated network: profiles are off, cells are labelled 'real')",
        "endpoint": target.endpoint_url or "AWS S3",
        "region": target.region_name,
        "run_prefix": target.run_url,
        "kept": target.keep,
    }
    return TargetKind(meta, open_target, simulated=False)
