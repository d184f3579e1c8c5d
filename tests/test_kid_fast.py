"""KID from precomputed kernel matrices equals torch-fidelity's kid_features_to_metric on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from bench.metrics import distribution
from bench.metrics.distribution import KIDOpts, kid_subsets


def _features(n: int, d: int, seed: int, shift: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.maximum(rng.standard_normal((n, d)), 0) + shift).astype(np.float32)


@pytest.mark.parametrize("n1,n2,size,subsets", [(120, 90, 90, 20), (200, 200, 50, 7), (64, 64, 64, 100)])
def test_gathered_kernels_equal_torch_fidelity(n1: int, n2: int, size: int, subsets: int) -> None:
    g, r = _features(n1, 256, 0, 0.0), _features(n2, 256, 1, 0.05)
    o = KIDOpts(subsets=subsets, subset_size=size)
    ours = kid_subsets(g, r, o, size, seed=1234)
    ref = kid_features_to_metric(torch.from_numpy(g), torch.from_numpy(r), kid_subsets=subsets, kid_subset_size=size,
                                 kid_kernel="poly", kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                 kid_kernel_poly_coef0=1.0, rng_seed=1234, verbose=False)
    # the same float32 dot products and torch-fidelity's own mmd2: equal to the last bit on this BLAS; 1e-12 allows
    # a BLAS that blocks sub-matrices differently
    assert ours[0] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-12, abs=1e-15)
    assert ours[1] == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-12, abs=1e-15)


def test_large_sets_fall_back_to_torch_fidelity(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = distribution.kid_features_to_metric

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(distribution, "kid_features_to_metric", spy)
    monkeypatch.setattr(distribution, "KID_FULL_KERNEL_MAX", 1000)
    g, r = _features(40, 16, 0, 0.0), _features(40, 16, 1, 0.1)
    kid_subsets(g, r, KIDOpts(subsets=5, subset_size=20), 20, seed=0)
    assert calls == [1]
