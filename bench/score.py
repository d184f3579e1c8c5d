"""One-shot scoring (``genbench score images A B``) on the same engine as suites.

The command builds a one-task suite in memory — A as a data-only model, B as the reference — and runs it through
the same planner, runner, feature cache and metrics as ``genbench run``: same protocols, same numbers, same error
messages. No second code path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import InputError
from bench.images import list_image_files

METRIC_FLAGS = {"fid": "fid", "kid": "kid", "isc": "isc", "prc": "prc"}


def _source(spec: str) -> tuple[str, dict[str, Any], int]:
    """(kind, args, number of samples) for a folder or .npz/.npy path."""
    p = Path(spec).expanduser()
    if p.is_dir():
        return "folder", {"path": str(p.resolve())}, len(list_image_files(p))
    if p.suffix in (".npz", ".npy"):
        if not p.is_file():
            raise InputError(f"{p}: file does not exist")
        try:
            if p.suffix == ".npy":
                n = int(np.load(p, mmap_mode="r", allow_pickle=False).shape[0])
            else:
                with np.load(p, allow_pickle=False) as z:
                    key = next((k for k in ("samples", "images", "arr_0", "x") if k in z.files), z.files[0])
                    n = int(z[key].shape[0])
        except Exception as exc:
            raise InputError(f"{p}: cannot read ({exc.__class__.__name__}: {exc})") from None
        return "npz", {"path": str(p.resolve())}, n
    if not p.exists():
        raise InputError(f"{p}: no such folder or file")
    raise InputError(f"{p}: not a folder of images or an .npz/.npy file")


def score_images(input1: str, input2: str, metrics: list[str], *, backbone: str = "digits", weights: str | None = None,
                 n: int | None = None, out: str | None = None, seed: int = 0, progress: bool = True,
                 cache: bool = True) -> dict[str, Any]:
    """Score generated samples ``input1`` against reference ``input2``; returns the documented JSON shape."""
    from bench.features import FeatureStore
    from bench.plan import check_suite
    from bench.results import RunDir
    from bench.runner import Runner
    from bench.suite import LoadedSuite, Suite

    kind1, args1, n1 = _source(input1)
    kind2, args2, _ = _source(input2)
    n = n or n1
    if n > n1:
        raise InputError(f"{input1}: holds {n1} samples, fewer than --n {n}")
    suite = Suite.model_validate({
        "name": "score-images",
        "seed": seed,
        "datasets": {"input2": {"kind": kind2, "path": args2["path"]}},
        "models": {"input1": {"adapter": kind1, "args": args1}},
        "tasks": [{"name": "score", "reference": "input2", "n": n, "batch_size": max(1, min(n, 1000)),
                   "backbone": backbone, "weights": weights, "metrics": {m: {} for m in metrics}}],
        "output": {"grid": 0},
    })
    loaded = LoadedSuite(suite, Path.cwd() / "<genbench score images>", {})
    plan = check_suite(loaded)
    base = Path(out) if out else Path(tempfile.mkdtemp(prefix="genbench-score-"))
    run_dir = RunDir(base / suite.name / RunDir.new_id(suite.spec_hash()))
    outcome = Runner(plan, run_dir=run_dir, store=FeatureStore("default" if cache else None, progress=progress),
                     progress=progress, log=lambda m: None).run()
    if outcome.errors:
        raise InputError("; ".join(outcome.errors))
    rows = outcome.rows
    first = rows[0]
    return {
        "input1": input1,
        "input2": input2,
        "n": first["n"],
        "n_ref": first["protocol"]["n_ref"],
        "protocol_id": first["protocol_id"],
        "protocol": first["protocol"],
        "metrics": {r["metric"]: {"value": r["value"], "higher_is_better": r["higher_is_better"],
                                  "ci_low": r["ci_low"], "ci_high": r["ci_high"], "extras": r["extras"]} for r in rows},
        "run_dir": str(outcome.run_dir.path),
    }
