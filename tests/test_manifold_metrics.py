"""Density/coverage equal the prdc reference formulas; blockwise k-NN equals brute force; class coverage/KL,
the bootstrap interval and the FID curve on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from bench.errors import ConfigError
from bench.metrics.base import on_features
from bench.metrics.classes import ClassCoverage, class_stats
from bench.metrics.distribution import FID, KID, FIDCurve
from bench.metrics.frechet import frechet_distance, gaussian_stats
from bench.metrics.manifold import DensityCoverage, density_coverage
from bench.metrics.neighbours import knn, kth_nn_radii


def _feats(seed: int, n: int, d: int = 16, shift: float = 0.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, d)) + shift).astype(np.float32)


def prdc_density_coverage(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The prdc package's formulas (Naeem et al.'s code), with full distance matrices."""
    real, fake = real.astype(np.float64), fake.astype(np.float64)
    d_rr = cdist(real, real)
    radii = np.partition(d_rr, k, axis=-1)[:, k]  # index 0 is the point itself
    d_rf = cdist(real, fake)
    density = (1.0 / k) * (d_rf < radii[:, None]).sum(axis=0).mean()
    coverage = (d_rf.min(axis=1) < radii).mean()
    return float(density), float(coverage)


@pytest.mark.parametrize("shift,k,block", [(0.0, 5, 7), (0.5, 3, 64), (2.0, 5, 1024)])
def test_density_coverage_equal_prdc_formulas(shift: float, k: int, block: int) -> None:
    real, fake = _feats(1, 300), _feats(2, 250, shift=shift)
    ours = density_coverage(fake, real, k, block)
    ref = prdc_density_coverage(real, fake, k)
    assert ours[0] == pytest.approx(ref[0], abs=1e-9) and ours[1] == pytest.approx(ref[1], abs=1e-9)
    if shift == 0.0:
        assert 0.8 < ours[0] < 1.2 and ours[1] > 0.8  # same distribution: density ≈ 1, high coverage
    if shift == 2.0:
        assert ours[1] < 0.2


def test_density_coverage_ties_of_copied_samples_decided_like_prdc() -> None:
    """A copier puts samples exactly at real points, hence exactly at the radius of their neighbours' balls:
    systematic ties that a fast matrix-product distance would decide at random."""
    real = _feats(11, 400, 32) * 30  # large norms: the most round-off in |x|² + |y|² − 2x·y
    idx = np.random.default_rng(0).integers(0, 400, 300)
    fake = real[idx]
    ours = density_coverage(fake, real, 5, block=64)
    ref = prdc_density_coverage(real, fake, 5)
    assert ours == (pytest.approx(ref[0], abs=1e-12), pytest.approx(ref[1], abs=1e-12))
    d, i = knn(fake, real, 1)
    assert (d[:, 0] == 0).all() and (real[i[:, 0]] == fake).all()  # copies found at distance exactly 0


def test_density_coverage_metric_rows() -> None:
    real, fake = _feats(3, 200), _feats(4, 150)
    rows = {v.metric: v.value for v in on_features(DensityCoverage({"neighborhood": 5, "block": 13}),
        {"pool": fake}, {"pool": real}, layer="pool", seed=0)}
    assert rows == pytest.approx(dict(zip(("density", "coverage"), prdc_density_coverage(real, fake, 5), strict=True)), abs=1e-9)


def test_blockwise_knn_equals_brute_force() -> None:
    x, y = _feats(5, 123, 8), _feats(6, 77, 8)
    d, i = knn(x, y, 4, block=10)
    full = cdist(x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(d, np.sort(full, 1)[:, :4], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(i, np.argsort(full, 1, kind="stable")[:, :4])
    self_full = cdist(x.astype(np.float64), x.astype(np.float64))
    np.fill_diagonal(self_full, np.inf)
    np.testing.assert_allclose(kth_nn_radii(x, 3, block=16), np.sort(self_full, 1)[:, 2], atol=1e-12)


def test_class_coverage_and_kl() -> None:
    ref = np.eye(10)[np.arange(1000) % 10] * 5  # balanced reference
    three = np.eye(10)[np.arange(600) % 3] * 5  # three classes only
    cov, kl, hist = class_stats(three, ref, min_share=0.25, eps=1e-9)
    assert cov == pytest.approx(0.3) and kl == pytest.approx(np.log(10 / 3), rel=1e-6)
    assert hist["generated"][:3] == [200, 200, 200] and hist["generated"][3] == 0
    rows = {v.metric: v.value for v in on_features(ClassCoverage({}), {"logits": ref[:500]}, {"logits": ref}, layer="logits", seed=0)}
    assert rows["class_coverage"] == 1.0 and rows["class_kl"] == pytest.approx(0.0, abs=1e-12)
    # a class with a fifth of its expected share is not covered at min_share 0.25
    skew = np.eye(10)[np.r_[np.arange(900) % 9, np.full(20, 9)]] * 5
    assert class_stats(skew, ref)[0] == pytest.approx(0.9)


def test_fid_bootstrap_interval_is_seeded_and_brackets_the_value() -> None:
    g, r = _feats(7, 400, 8, 0.3), _feats(8, 500, 8)
    a = on_features(FID({"bootstrap": 50}), {"pool": g}, {"pool": r}, layer="pool", seed=11)[0]
    b = on_features(FID({"bootstrap": 50}), {"pool": g}, {"pool": r}, layer="pool", seed=11)[0]
    plain = on_features(FID({}), {"pool": g}, {"pool": r}, layer="pool", seed=11)[0]
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high) and plain.ci_low is None
    assert a.value == plain.value and a.ci_low < a.value < a.ci_high
    boot = a.extras["bootstrap"]
    assert boot["resamples"] == 50 and boot["bias"] > 0  # duplicates bias bootstrap FID upward
    assert a.ci_high - a.ci_low == pytest.approx(boot["percentile"][1] - boot["percentile"][0])
    k = on_features(KID({"subsets": 5, "subset_size": 100, "bootstrap": 10}), {"pool": g}, {"pool": r}, layer="pool", seed=3)[0]
    assert k.ci_low is not None and k.ci_low < k.ci_high and k.extras["bootstrap"]["resamples"] == 10


def test_fid_curve_rows_and_extrapolation() -> None:
    g, r = _feats(9, 400, 8, 0.2), _feats(10, 800, 8)
    rows = on_features(FIDCurve({"ns": [50, 100, 200, 400], "repeats": 2}), {"pool": g}, {"pool": r}, layer="pool", seed=1)
    by = {v.metric: v for v in rows}
    assert [v.metric for v in rows] == ["fid@n50", "fid@n100", "fid@n200", "fid@n400", "fid_inf"]
    assert by["fid@n400"].n == 400 and by["fid@n50"].n == 50
    sg, sr = gaussian_stats(g), gaussian_stats(r)
    assert by["fid@n400"].value == pytest.approx(frechet_distance(sg.mu, sg.sigma, sr.mu, sr.sigma).value, rel=1e-12)
    curve = by["fid_inf"].extras["curve"]
    assert curve["n"] == [50, 100, 200, 400] and curve["fid"][0] > curve["fid"][-1]  # FID is biased upward at small N
    ns = np.array(curve["n"], float)
    a, b = np.polyfit(1 / ns, curve["fid"], 1)[::-1]
    assert by["fid_inf"].value == pytest.approx(a, rel=1e-9) and by["fid_inf"].value < by["fid@n400"].value
    with pytest.raises(ConfigError, match="sample counts"):
        on_features(FIDCurve({"ns": [10, 500]}), {"pool": g}, {"pool": r}, layer="pool", seed=1)
