"""The bench on Modal: cells run in containers next to the storage, fanned out with ``.map``.

    modal run bench/modal_app.py --contexts volume,s3-threaded --scenarios peek,head-50k \\
        --lines 100000 --s3-url s3://my-bucket/ctxlab/ --out reports/modal

* ``prepare`` (one container) writes the corpora the matrix needs into the Volume mounted at
  ``/data`` (and, for S3 contexts, under ``--s3-url``), then commits the Volume;
* ``run_cell`` (one container per cell, via ``run_cell.map``) reloads the Volume, opens a cold
  context, replays the scenario with the oracle checks of ``ctxlab bench`` and returns a results
  fragment; the local entrypoint merges the fragments into one ``results.json``.

Configuration read when the module is imported (Modal builds the App from it):
``CTXLAB_MODAL_VOLUME`` (Volume name, default ``ctxlab-bench``, created if missing),
``CTXLAB_MODAL_SECRET`` (a Modal Secret with ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``
[/ ``AWS_REGION``] for S3 contexts and the bucket mount), ``CTXLAB_MODAL_BUCKET`` (a bucket to
mount at ``/bucket`` with ``modal.CloudBucketMount``: the ``volume`` context then reads the
corpus through the mount; it must be the bucket of ``--s3-url``). The cell logic lives in
``bench/remote_cell.py``, which does not import Modal.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

try:
    import modal
except ImportError as exc:  # pragma: no cover - depends on the environment
    from contexts.errors import MissingDependencyError

    raise MissingDependencyError(
        "bench/modal_app.py needs Modal: pip install 'rlm-context-lab[modal]'"
    ) from exc

from bench.remote_cell import CellSpec, fan_out, matrix, prepare_remote, run_remote_cell

VOLUME_NAME = os.environ.get("CTXLAB_MODAL_VOLUME", "ctxlab-bench")
SECRET_NAME = os.environ.get("CTXLAB_MODAL_SECRET")
BUCKET_NAME = os.environ.get("CTXLAB_MODAL_BUCKET")
DATA = "/data"
"""Where the Volume is mounted."""
BUCKET = "/bucket"
"""Where ``CTXLAB_MODAL_BUCKET`` is mounted."""
ROOT = f"{DATA}/ctxlab"
"""Directory layouts live here on the Volume."""

image = (
    modal.Image.debian_slim(python_version="3.11")
    # the `bench` extra of pyproject.toml (its self-reference cannot be installed from PyPI)
    .pip_install("boto3>=1.34", "botocore>=1.34", "moto[server]>=5.0", "werkzeug>=3.0", "rich>=13")
    .add_local_python_source("contexts", "bench", "scenarios")
)
volume = modal.Volume.from_name(VOLUME_NAME, create_if_missing=True)
secrets = [modal.Secret.from_name(SECRET_NAME)] if SECRET_NAME else []
mounts: dict[str | PurePosixPath, modal.Volume | modal.CloudBucketMount] = {DATA: volume}
if BUCKET_NAME:
    mounts[BUCKET] = modal.CloudBucketMount(
        BUCKET_NAME, secret=secrets[0] if secrets else None, read_only=True
    )

app = modal.App("ctxlab-bench", image=image)


@app.function(volumes=mounts, secrets=secrets, timeout=3600)
def prepare(specs: list[dict[str, Any]]) -> list[str]:
    """Write the corpora of ``specs`` to the Volume (and S3), then commit the Volume."""
    written = prepare_remote(specs)
    if not modal.is_local():  # inside a container (`.local()` runs it here, e.g. in tests)
        volume.commit()
    return written


@app.function(volumes=mounts, secrets=secrets, timeout=3600)
def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """One cell in this container; a results fragment (one-cell results JSON)."""
    if not modal.is_local():
        volume.reload()  # see what `prepare` committed
    return run_remote_cell(spec)


def specs_for(
    contexts: str,
    scenarios: str,
    lines: str,
    *,
    s3_url: str = "",
    root: str = ROOT,
    think_scale: float = 0.01,
    seed: int = 0,
    where: str = "modal",
) -> list[CellSpec]:
    """The matrix of comma lists as cell specs."""
    return matrix(
        [name for name in contexts.split(",") if name],
        [name for name in scenarios.split(",") if name],
        [int(size) for size in lines.split(",") if size],
        root=root,
        s3_url=s3_url or None,
        bucket_root=BUCKET if BUCKET_NAME else None,
        think_scale=think_scale,
        seed=seed,
        where=where,
    )


@app.local_entrypoint()
def main(
    contexts: str = "volume",
    scenarios: str = "peek,head-50k,linear-scan",
    lines: str = "100000",
    s3_url: str = "",
    think_scale: float = 0.01,
    seed: int = 0,
    out: str = "reports/modal",
) -> None:
    """Prepare the corpora, fan the cells out with ``.map`` and write the merged results."""
    specs = specs_for(contexts, scenarios, lines, s3_url=s3_url, think_scale=think_scale, seed=seed)
    prepare.remote([spec.to_dict() for spec in specs])
    results = fan_out(specs, lambda items: run_cell.map(items, return_exceptions=True))
    path = Path(out) / "results.json"
    results.write(path)
    failed = [cell for cell in results.cells if cell.status != "ok"]
    print(f"{len(results.cells)} cells, {len(failed)} failed; results: {path}")
