"""Bootstrap confidence intervals for set-level metrics (FID, KID) from cached features.

Why: FID and KID are one number per model, so their sampling noise is invisible in a table; two models 0.5 FID
apart may be indistinguishable. The interval here answers "how much would this number move with another draw
of n samples from the same model": the GENERATED features are resampled with replacement ``B`` times (the
reference is held fixed: it is the same for every model of a task, so its noise does not change rankings),
the metric is recomputed on each replicate, and a percentile interval is reported.

Resampling with replacement duplicates samples (a replicate holds ~63 % distinct ones), which shrinks the
sample covariance and biases FID *upward*: on 500 digits features the replicates averaged 11.5 for a point
estimate of 6.8, and the plain percentile interval [7.5, 17.4] did not even contain it. The interval is
therefore the percentile interval shifted by the bootstrap bias estimate (mean of replicates − point value),
i.e. centred on the point estimate with the bootstrap's spread; the raw percentiles and the bias are kept in
``extras["bootstrap"]``. Replicates are drawn from ``numpy.random.default_rng(seed)`` with the metric's derived
seed: the same suite gives the same interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def bootstrap_interval(stat: Callable[[np.ndarray, int], float], gen: np.ndarray, resamples: int,
                       confidence: float, seed: int, point: float) -> tuple[float, float, dict[str, Any]]:
    """Bias-shifted percentile interval of ``stat(gen[resampled], replicate_index)`` around ``point``."""
    rng = np.random.default_rng(seed % (2**63))
    n = len(gen)
    values = np.array([stat(gen[rng.integers(0, n, n)], b) for b in range(resamples)])
    alpha = 1.0 - confidence
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    bias = float(values.mean()) - point
    info = {"resamples": resamples, "confidence": confidence, "resampled": "generated (reference fixed)",
            "method": "percentile shifted by the bootstrap bias", "bias": bias,
            "percentile": [float(lo), float(hi)], "std": float(values.std(ddof=1)) if resamples > 1 else 0.0}
    return float(lo) - bias, float(hi) - bias, info
