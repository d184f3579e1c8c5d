"""The pinned environment still computes what docs/reproducibility.json recorded (scripts/repro_matrix.py):
a change of torch, numpy, scipy or Pillow in constraints.txt, or of genbench's preprocessing, that moves a
protocol's features or metric values fails here. On another torch than the recorded one (a user's machine) the
values must agree within the largest difference the matrix measured across torch releases, or 1e-4."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch

from tests.conftest import ROOT

DOC = json.loads((ROOT / "docs" / "reproducibility.json").read_text())


def _recompute(protocol: str, tmp_path: object) -> dict:
    from pathlib import Path

    from bench.backbones import get_backbone
    from bench.protocol import get_preset
    from bench.repro import random_weights
    from bench.selftest import array_sha256

    os.environ["REPRO_N_RGB"] = str(DOC["corpus"]["n_rgb"])
    import scripts.repro_matrix as rm

    rm.N_RGB = DOC["corpus"]["n_rgb"]
    data = rm.corpus()
    preset = get_preset(protocol)
    name, w = random_weights(preset.backbone, Path(str(tmp_path)), seed=0, size=rm.SIZE.get(protocol, "real"))
    b = get_backbone(name, weights=w)
    gen, ref = data["digits" if protocol == "digits" else "rgb"]
    # the matrix ran with rm.THREADS torch and BLAS threads: KID's float32 kernel sums move by ~3e-6 relative with
    # the BLAS thread count (measured on the digits protocol, 1 vs 2 threads), the features do not
    from threadpoolctl import threadpool_limits

    from bench.repro import feature_metrics, metric_values

    threads = torch.get_num_threads()
    torch.set_num_threads(rm.THREADS)
    limits = threadpool_limits(rm.THREADS)
    try:
        fg, fr = b.extract(gen), b.extract(ref)
        metrics = [(m, layer) for m, layer in feature_metrics(b) if m not in rm.SKIP
                   and not (m == "vendi" and fg[layer].shape[1] > rm.VENDI_MAX_DIM)]
        values = metric_values(b, fg, fr, metrics)
    finally:
        torch.set_num_threads(threads)
        limits.restore_original_limits()
    return {"features": {f"{s}/{k}": array_sha256(v) for s, f in (("gen", fg), ("ref", fr)) for k, v in f.items()},
            "metrics": values}


def _tolerance(protocol: str) -> float:
    seen = [r["protocols"].get(protocol, {}).get("metrics", {}) for r in DOC["matrix"].values()]
    worst = max((v for m in seen for v in m.values() if v is not None), default=0.0)
    return max(worst * 2, 1e-4)


@pytest.mark.parametrize("protocol", [pytest.param(p, marks=[] if p == "digits" else pytest.mark.slow)
                                      for p in sorted(DOC["pinned"]["protocols"])])
def test_pinned_values_are_reproduced(protocol: str, tmp_path: object) -> None:
    want = DOC["pinned"]["protocols"][protocol]
    if "error" in want:
        pytest.skip(f"{protocol} failed when the matrix was made: {want['error']}")
    got = _recompute(protocol, tmp_path)
    assert set(got["metrics"]) == set(want["metrics"])
    if torch.__version__ == DOC["pinned"]["environment"]["torch"] and np.__version__ == DOC["pinned"]["environment"]["numpy"]:
        assert got["features"] == want["features"], f"{protocol}: features are no longer bit-equal to the record"
        for m, v in want["metrics"].items():  # features bit-equal; metric values to float64 round-off of the
            # Fréchet computation order (the cached reference root changed it after the record: ~7e-8 on digits)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                assert got["metrics"][m] is None or math.isnan(got["metrics"][m]), (protocol, m)
            else:
                assert got["metrics"][m] == pytest.approx(v, rel=1e-6, abs=1e-12), (protocol, m)
    else:
        tol = _tolerance(protocol)
        for m, v in want["metrics"].items():
            assert got["metrics"][m] == pytest.approx(v, rel=tol, abs=1e-9), (protocol, m, tol)
