"""Our metric math equals torch-fidelity's on the same features (the reference), and is numerically safe."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from bench.metrics.base import on_features
from bench.metrics.distribution import FID, KID, InceptionScore, PrecisionRecall
from bench.metrics.frechet import frechet_distance, gaussian_stats


def _features(seed: int, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ a + shift).astype(np.float32)


@pytest.mark.parametrize("shift", [0.0, 0.3, 2.0])
def test_fid_equals_torch_fidelity(shift: float) -> None:
    g, r = _features(1, 600, 64, shift), _features(2, 800, 64)
    ours = on_features(FID(), {"pool": g}, {"pool": r}, layer="pool", seed=0)[0].value
    ref = fid_statistics_to_metric(fid_features_to_statistics(torch.from_numpy(g)),
                                   fid_features_to_statistics(torch.from_numpy(r)), verbose=False)
    ref_v = ref["frechet_inception_distance"]
    assert ours == pytest.approx(ref_v, rel=1e-6)
    assert ours > 0


def test_fid_on_real_singular_features_is_within_round_off_of_torch_fidelity() -> None:
    """Digits features have dead ReLU units, so covariances are singular; there torch-fidelity's non-symmetric
    eigvals(S1 S2), scipy's sqrtm and our symmetric form all differ at round-off (~1e-6 relative): on
    well-conditioned features they agree to 1e-6 and better (tests above)."""
    from bench.backbones.digits import DigitsBackbone
    from bench.data import digits

    b = DigitsBackbone()
    g = b.extract(digits.load("test")[0][:300])["pool"]
    r = b.extract(digits.load("train")[0])["pool"]
    ref = fid_statistics_to_metric(fid_features_to_statistics(torch.from_numpy(g)),
                                   fid_features_to_statistics(torch.from_numpy(r)), verbose=False)
    ours = on_features(FID(), {"pool": g}, {"pool": r}, layer="pool", seed=0)[0].value
    assert ours == pytest.approx(ref["frechet_inception_distance"], rel=1e-5)
    sg, sr = gaussian_stats(g), gaussian_stats(r)
    covmean = scipy.linalg.sqrtm(sg.sigma @ sr.sigma).real
    d = sg.mu - sr.mu
    exact = float(d @ d + np.trace(sg.sigma) + np.trace(sr.sigma) - 2 * np.trace(covmean))
    assert ours == pytest.approx(exact, rel=1e-5)


def test_frechet_equals_scipy_sqrtm() -> None:
    """Well-conditioned 512-d statistics (the 2048-d speed comparison is in benchmarks/)."""
    rng = np.random.default_rng(0)
    d = 512
    def spd(seed: int) -> np.ndarray:
        r = np.random.default_rng(seed)
        q, _ = np.linalg.qr(r.standard_normal((d, d)))
        return (q * r.uniform(0.1, 2.0, d)) @ q.T
    s1, s2 = spd(1), spd(2)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
    assert frechet_distance(mu1, s1, mu2, s2).value == pytest.approx(expected, abs=1e-9 * abs(expected))


def test_frechet_of_identical_stats_is_zero_and_singular_is_safe() -> None:
    x = _features(3, 40, 64)  # n < d: singular covariance
    st = gaussian_stats(x)
    res = frechet_distance(st.mu, st.sigma, st.mu, st.sigma)
    assert abs(res.value) < 1e-7 * np.trace(st.sigma)
    with pytest.warns(UserWarning, match="n=40 < feature dimension 64"):
        on_features(FID(), {"pool": x}, {"pool": _features(4, 40, 64)}, layer="pool", seed=0)


def test_gaussian_stats_match_numpy_and_are_chunked() -> None:
    x = _features(5, 1000, 16, 1.0)
    st = gaussian_stats(x, chunk=77)
    np.testing.assert_allclose(st.mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(st.sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12)


def test_kid_is_prc_equal_torch_fidelity() -> None:
    g, r = _features(6, 300, 32, 0.2), _features(7, 400, 32)
    kid = on_features(KID({"subsets": 20, "subset_size": 100}), {"pool": g}, {"pool": r}, layer="pool", seed=2020)[0]
    ref = kid_features_to_metric(torch.from_numpy(g), torch.from_numpy(r), kid_subsets=20, kid_subset_size=100,
                                 rng_seed=2020, verbose=False)
    assert kid.value == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-6)
    assert kid.extras["std"] == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-6)

    logits = _features(8, 500, 10) * 3
    isc = on_features(InceptionScore({"splits": 10}), {"logits": logits}, None, layer="logits", seed=2020)[0]
    ref_is = isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=True, rng_seed=2020)
    assert isc.value == pytest.approx(ref_is["inception_score_mean"], rel=1e-9)

    pr = {v.metric: v.value for v in on_features(PrecisionRecall({}), {"pool": g}, {"pool": r}, layer="pool", seed=0)}
    ref_pr = prc_features_to_metric(torch.from_numpy(g), torch.from_numpy(r), prc_neighborhood=3,
                                    prc_batch_size=10000, save_cpu_ram=False, verbose=False)
    assert pr["precision"] == ref_pr["precision"] and pr["recall"] == ref_pr["recall"]
    # a small distance block (what large n gets by default, to bound memory) gives the same values
    small = {v.metric: v.value for v in on_features(PrecisionRecall({"batch_size": 64}), {"pool": g}, {"pool": r}, layer="pool", seed=0)}
    assert small["precision"] == ref_pr["precision"] and small["recall"] == ref_pr["recall"]


def test_kid_subset_larger_than_set_is_clamped() -> None:
    """torch-fidelity raises when a set is smaller than kid_subset_size (1000 by default); we clamp and record."""
    g, r = _features(9, 50, 8), _features(10, 60, 8)
    kid = on_features(KID({}), {"pool": g}, {"pool": r}, layer="pool", seed=1)[0]
    assert kid.extras["subset_size"] == 50
