"""Vendi score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning"),
through the ``vendi-score`` package (optional extra ``genbench[vendi]``).

VS_q(X) = exp of the order-q Rényi entropy of the eigenvalues of K/n, K the cosine-similarity kernel of the
rows of X (the package's ``score_X`` L2-normalises rows, then K = X Xᵀ): the effective number of distinct samples,
1 for n copies of one sample and n for n orthogonal ones. Order q weighs rare vs common modes (q = 1: Shannon;
q → ∞: dominated by the largest mode; q < 1: rare modes count more).

The trap (the package's ``score_X(X, q)`` accepts q but computes ``score_K(K, q=1)``): genbench calls
``score_K(K, q=q)`` on the same normalised kernel, or, when n exceeds the feature dimension, the package's
``score_dual(X, q)`` (eigenvalues of Xᵀ X / n, d x d: the same non-zero spectrum without an n x n matrix; 50,000
samples would need a 20 GB kernel). Both are the package's own functions; tests/test_vendi.py holds them equal.
The order q is recorded in every row, so values of different orders never compare silently.

Rows: ``vendi`` (raw, shown beside the ranking: noise maximises it) and ``vendi_ratio``, the generated set's
score over the reference's on as many reference rows (the first n, or all when fewer): ≈ 1 for real-like variety,
well below 1 for mode collapse.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from pydantic import Field

from bench.errors import ConfigError
from bench.metrics.base import (
    ArtifactSink,
    Metric,
    MetricValue,
    Options,
    OutputInfo,
    Reference,
    Resources,
    SampleSet,
)


def _package() -> Any:
    try:
        from vendi_score import vendi
    except ImportError:
        raise ConfigError("the vendi metric needs the vendi-score package: pip install 'genbench[vendi]'") from None
    return vendi


def vendi_score(x: np.ndarray, q: float = 1.0) -> float:
    """The package's Vendi score of order ``q`` on the rows of ``x`` (cosine kernel), n x n or d x d form."""
    vendi = _package()
    x = np.asarray(x, np.float64)
    if len(x) < 2:
        raise ConfigError("vendi: needs at least 2 samples")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its scipy.sparse.csr type check (scipy >= 1.14)
        if len(x) > x.shape[1]:
            return float(vendi.score_dual(x, q=q, normalize=True))
        from sklearn import preprocessing

        xn = preprocessing.normalize(x, axis=1)  # what score_X does before its kernel
        return float(vendi.score_K(xn @ xn.T, q=q))


class VendiOpts(Options):
    q: float = Field(default=1.0, ge=0, description="order of the Rényi entropy (1: Shannon, the paper's default)")


class Vendi(Metric[VendiOpts]):
    name = "vendi"
    description = "Vendi score: effective number of distinct samples (exp Rényi entropy of the cosine-kernel spectrum)"
    outputs = {
        "vendi": OutputInfo(higher_is_better=True, unit="samples", ranked=False,
                            description="effective number of distinct samples (raw: noise maximises it)"),
        "vendi_ratio": OutputInfo(higher_is_better=True, unit="× real",
                                  description="Vendi score over the reference's on as many samples (≈1 real-like)"),
    }
    Opts = VendiOpts

    def fit(self, ref: Reference, resources: Resources) -> Any:
        return {}  # reference scores by sample count, filled on first use

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        g, r = samples.x, ref.x
        m = min(len(g), len(r))
        cache = state if isinstance(state, dict) else {}
        if m not in cache:
            cache[m] = vendi_score(r[:m], o.q)
        value = vendi_score(g, o.q)
        extras = {"q": o.q, "kernel": "cosine (rows L2-normalised)", "layer": samples.layer}
        gm = value if m == len(g) else vendi_score(g[:m], o.q)
        return [MetricValue("vendi", value, extras=extras),
                MetricValue("vendi_ratio", gm / cache[m], extras={**extras, "reference_vendi": cache[m], "n_compared": m})]
