"""CMMD (Jayasumana et al. 2024, "Rethinking FID: Towards a Better Evaluation Metric for Image Generation").

As google-research's ``cmmd/distance.py`` computes it: the squared MMD between reference and generated CLIP
embeddings with a Gaussian (RBF) kernel k(x, y) = exp(-||x - y||² / (2σ²)), σ = 10, by the *biased* all-pairs
estimator (every mean includes the diagonal), times 1000:

    CMMD = 1000 · ( mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y) ).

The reference builds the three full matrices in float32 (jax); genbench sums them in float64 blocks of rows, so
30,000 samples need ~1 GB at most rather than 3 x 3.6 GB, and the value is the float64 formula's to round-off. The
float32 reference loses ~7 digits to cancellation (kernel means near 1 minus each other): at CMMD ~0.09 its own
round-off is ~1e-3 relative, the tolerance tests/test_cmmd.py holds it to. Unlike FID, CMMD assumes no Gaussian.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet

#: rows of one kernel block (x all columns): 2,048 x 50,000 float64 = 0.8 GB at most, usually far less
BLOCK_ROWS = 2048


def _kernel_mean(x: torch.Tensor, y: torch.Tensor, gamma: float) -> float:
    """mean over all pairs of exp(-gamma ||x_i - y_j||²), in float64 blocks of rows."""
    xx = (x * x).sum(1)
    yy = (y * y).sum(1)
    total = 0.0
    for i in range(0, len(x), BLOCK_ROWS):
        d = xx[i: i + BLOCK_ROWS, None] + yy[None, :] - 2 * x[i: i + BLOCK_ROWS] @ y.T
        total += float(torch.exp(-gamma * d).sum())
    return total / (len(x) * len(y))


def mmd_rbf_biased(x: np.ndarray, y: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """cmmd's ``distance.mmd``: scale · (mean k_xx + mean k_yy − 2 mean k_xy), Gaussian kernel of width sigma."""
    tx, ty = torch.from_numpy(np.asarray(x, np.float64)), torch.from_numpy(np.asarray(y, np.float64))
    gamma = 1.0 / (2 * sigma**2)
    return scale * (_kernel_mean(tx, tx, gamma) + _kernel_mean(ty, ty, gamma) - 2 * _kernel_mean(tx, ty, gamma))


class CMMDOpts(Options):
    sigma: float = Field(default=10.0, gt=0, description="Gaussian kernel bandwidth (cmmd's _SIGMA)")
    scale: float = Field(default=1000.0, gt=0, description="multiplier of the reported value (cmmd's _SCALE)")


class CMMD(Metric[CMMDOpts]):
    name = "cmmd"
    description = "CLIP-MMD: biased MMD² with a Gaussian kernel (σ=10) on CLIP embeddings, x1000 (Jayasumana et al. 2024)"
    outputs = {"cmmd": OutputInfo(higher_is_better=False)}
    Opts = CMMDOpts
    layer = "embed"

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        # reference first, as cmmd's compute_cmmd(ref_dir, eval_dir) calls mmd(ref_embs, eval_embs) (symmetric)
        value = mmd_rbf_biased(ref.x, samples.x, o.sigma, o.scale)
        return [MetricValue("cmmd", value, extras={"sigma": o.sigma, "scale": o.scale, "estimator": "biased (all pairs)"})]
