"""KID from precomputed kernel matrices equals torch-fidelity's kid_features_to_metric on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kernel_poly, kid_features_to_metric

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
    # Same arithmetic, not the same bits: torch-fidelity multiplies each subset's features, genbench the whole sets
    # once, and a BLAS may block matrices of other shapes differently, so a float32 kernel entry can differ in its
    # last bits (seen: 1.2e-8 apart on another build, bit-equal here). MMD² is sum(Kxx)/m(m-1) + sum(Kyy)/m(m-1)
    # - 2 sum(Kxy)/m², summed by the same mmd2 in the same order on both sides: each mean moves by at most a couple
    # of ulps of the typical entry, so |Δ| <= 8 float32 ulps of the mean kernel entry bounds mean and std alike
    # (~1.6e-6 here, 100x the difference seen; the next seed's subsets move KID by 2e-4 and 3e-3 in the first two
    # cases; in the third every subset is the whole set, so any draw gives the same value up to round-off).
    k_mean = float(np.mean(np.abs(kernel_poly(g, r, kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                              kid_kernel_poly_coef0=1.0))))
    tol = 8 * float(np.finfo(np.float32).eps) * k_mean
    assert ours[0] == pytest.approx(ref["kernel_inception_distance_mean"], rel=0, abs=tol)
    assert ours[1] == pytest.approx(ref["kernel_inception_distance_std"], rel=0, abs=tol)


def test_large_sets_fall_back_to_torch_fidelity(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    import torch_fidelity.metric_kid as tf_kid

    real = tf_kid.kid_features_to_metric

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(tf_kid, "kid_features_to_metric", spy)  # imported where KID runs
    monkeypatch.setattr(distribution, "KID_FULL_KERNEL_MAX", 1000)
    g, r = _features(40, 16, 0, 0.0), _features(40, 16, 1, 0.1)
    kid_subsets(g, r, KIDOpts(subsets=5, subset_size=20), 20, seed=0)
    assert calls == [1]


@pytest.mark.parametrize("gamma,degree,coef0", [(None, 3, 1.0), (0.01, 2, 0.5)])
def test_restated_kernel_and_mmd_are_torch_fidelitys_bit_for_bit(gamma: float | None, degree: int,
                                                                  coef0: float) -> None:
    """genbench's kernel_poly and mmd2_unbiased (restated so KID does not import torch-fidelity and torchvision)
    give torch-fidelity's exact bits: the kernel matrices array-equal, every subset's MMD² == on gathered blocks,
    and kid_subsets the same floats as with torch-fidelity's functions in their place."""
    from torch_fidelity.metric_kid import mmd2

    g, r = _features(150, 64, 3, 0.0), _features(120, 64, 4, 0.1)
    o = KIDOpts(subsets=30, subset_size=60, gamma=gamma, degree=degree, coef0=coef0)
    kw = dict(kid_kernel_poly_degree=degree, kid_kernel_poly_gamma=gamma, kid_kernel_poly_coef0=coef0)
    for a, b in ((g, g), (r, r), (g, r)):
        ours_k, ref_k = distribution.kernel_poly(a, b, o), kernel_poly(a, b, **kw)
        assert ours_k.dtype == ref_k.dtype and np.array_equal(ours_k, ref_k)
    kxx, kyy, kxy = kernel_poly(g, g, **kw), kernel_poly(r, r, **kw), kernel_poly(g, r, **kw)
    rng = np.random.default_rng(5)
    for _ in range(20):
        a, b = rng.choice(150, 60, replace=False), rng.choice(120, 60, replace=False)
        blocks = (kxx.take(a, 0).take(a, 1), kxy.take(a, 0).take(b, 1), kyy.take(b, 0).take(b, 1))
        assert distribution.mmd2_unbiased(*blocks) == mmd2(*blocks)
    ours = kid_subsets(g, r, o, 60, seed=7)
    with pytest.MonkeyPatch.context() as m:  # torch-fidelity's own functions in the same places
        m.setattr(distribution, "kernel_poly", lambda x, y, o: kernel_poly(x, y, **kw))
        m.setattr(distribution, "mmd2_unbiased", mmd2)
        assert kid_subsets(g, r, o, 60, seed=7) == ours
