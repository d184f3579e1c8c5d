"""bench.metrics.frechet equals the scipy.linalg.sqrtm formulation (clean-fid / pytorch-fid) on 2048-d stats."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from bench.metrics.frechet import frechet_distance


def well_conditioned_stats(d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two SPD covariances with eigenvalues in [0.5, 2] (condition number <= 4) and random means."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(2):
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        s = (q * rng.uniform(0.5, 2.0, d)) @ q.T
        out += [rng.standard_normal(d), (s + s.T) / 2]
    return out[0], out[1], out[2], out[3]


def frechet_sqrtm(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The reference formulation: tr(S1 + S2 - 2 sqrtm(S1 S2)), real part (pytorch-fid / clean-fid)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


@pytest.mark.parametrize("d", [64, pytest.param(2048, marks=pytest.mark.slow)])
def test_equals_sqrtm_formulation(d: int) -> None:
    mu1, s1, mu2, s2 = well_conditioned_stats(d, seed=d)
    ours = frechet_distance(mu1, s1, mu2, s2).value
    ref = frechet_sqrtm(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, abs=1e-9, rel=0)


def test_identical_gaussians_give_zero() -> None:
    mu, s, _, _ = well_conditioned_stats(128, seed=1)
    assert abs(frechet_distance(mu, s, mu, s).value) < 1e-9


@pytest.mark.parametrize("n1,n2,d", [(40, 60, 256), (300, 200, 512)])
def test_cross_product_path_equals_torch_fidelity_and_the_dxd_path(n1: int, n2: int, d: int) -> None:
    """Small sets (n1*n2 <= d^2): the nuclear norm of the n1 x n2 cross-product gives the same FID as the d x d
    eigendecomposition and as torch-fidelity's eigvals formulation, on singular covariances (n < d)."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    from bench.metrics.frechet import frechet_distance_from_features, gaussian_stats

    rng = np.random.default_rng(n1)
    x = np.maximum(rng.standard_normal((n1, d)), 0).astype(np.float32)  # ReLU-like features, as Inception's pool
    y = (np.maximum(rng.standard_normal((n2, d)), 0) * 1.2 + 0.1).astype(np.float32)
    small = frechet_distance_from_features(x, y)
    assert small is not None and small.clipped_eigenvalues == 0
    sx, sy = gaussian_stats(x), gaussian_stats(y)
    dxd = frechet_distance(sx.mu, sx.sigma, sy.mu, sy.sigma).value
    tf = fid_statistics_to_metric({"mu": sx.mu, "sigma": sx.sigma}, {"mu": sy.mu, "sigma": sy.sigma}, False)
    assert small.value == pytest.approx(dxd, rel=1e-7)
    assert small.value == pytest.approx(tf["frechet_inception_distance"], rel=1e-7)


def test_cross_product_path_is_skipped_for_large_sets() -> None:
    from bench.metrics.frechet import frechet_distance_from_features

    x = np.zeros((100, 8), np.float32)
    assert frechet_distance_from_features(x, x) is None  # 100*100 > 8*8: the d x d path is cheaper


def test_streaming_accumulator_equals_two_pass_whatever_the_batches_and_merges() -> None:
    """The float64 streaming statistics (what a streamed or distributed run accumulates) equal the two-pass mean and
    covariance to round-off, for any batch sizes and any merge order; FID from them equals FID from features."""
    from bench.metrics.frechet import GaussianAccumulator, frechet_distance, gaussian_stats

    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3000, 24)) * 2 + 5).astype(np.float32)  # offset mean: the case raw moments get wrong
    y = (rng.standard_normal((2000, 24)) * 1.5 + 4.8).astype(np.float32)
    ref_x = x.astype(np.float64)
    mu, cov = ref_x.mean(0), np.cov(ref_x, rowvar=False)
    for cuts in ([3000], [1, 999, 2000], [17] * 176 + [8]):
        acc = GaussianAccumulator()
        start = 0
        for k in cuts:
            acc.update(x[start: start + k])
            start += k
        s = acc.stats()
        assert s.n == 3000
        np.testing.assert_allclose(s.mu, mu, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(s.sigma, cov, rtol=1e-12, atol=1e-12)
    # three "ranks" merged in two different orders
    parts = [GaussianAccumulator().update(x[a:b]) for a, b in ((0, 1000), (1000, 1700), (1700, 3000))]
    ab = GaussianAccumulator().merge(parts[0]).merge(parts[1]).merge(parts[2]).stats()
    ba = GaussianAccumulator().merge(parts[2]).merge(parts[0]).merge(parts[1]).stats()
    np.testing.assert_allclose(ab.sigma, ba.sigma, rtol=1e-12, atol=1e-12)
    sy = gaussian_stats(y)
    fid_stream = frechet_distance(ab.mu, ab.sigma, sy.mu, sy.sigma).value
    two = gaussian_stats(x)
    assert fid_stream == pytest.approx(frechet_distance(two.mu, two.sigma, sy.mu, sy.sigma).value, rel=1e-9)


@pytest.mark.parametrize(("n2", "d"), [(50, 256), pytest.param(200, 2048, marks=pytest.mark.slow), (300, 256)])  # n2 < d: SVD of B; n2 >= d: d x d
def test_cached_reference_root_and_features_path_equal_the_float64_formula(n2: int, d: int, tmp_path) -> None:
    """A fixed reference (its square root from the content-keyed cache) against a new model's features equals the
    float64 formula to 1e-9 (relative), and the factor is read back bit for bit (a second process: the disk entry).

    For n2 < d the new set's covariance is singular: the d x d formula takes square roots of d - n2 + 1
    round-off eigenvalues (~1e-14 each, ~1e-7 after the root) and is itself off by ~1e-8 relative, so the exact
    float64 reference there is the same trace from the n2 x n2 Gram matrix ``B^T B`` (no spurious zeros)."""
    from bench.metrics import frechet as fr

    mu1, s1, _, _ = well_conditioned_stats(d, seed=d + n2)
    rng = np.random.default_rng(n2)
    y = (np.maximum(rng.standard_normal((n2, d)), 0) * 1.1 + 0.05).astype(np.float32)  # ReLU-like features
    sy = fr.gaussian_stats(y)
    want = frechet_distance(mu1, s1, sy.mu, sy.sigma).value
    fr._SQRT_MEMO.clear()
    root = fr.cached_psd_sqrt(s1, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    got = fr.frechet_distance_to_features(mu1, s1, root, y)
    if n2 < d:
        yc = y.astype(np.float64) - sy.mu
        b = fr.psd_sqrt(s1).a @ yc.T / np.sqrt(n2 - 1)
        tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(b.T @ b), 0, None)).sum()
        diff = mu1 - sy.mu
        exact = float(diff @ diff + np.trace(s1) + np.trace(sy.sigma) - 2 * tr_covmean)
        assert got.value == pytest.approx(exact, rel=1e-9)
        assert got.value == pytest.approx(want, rel=1e-7)  # the d x d formula's round-off, see above
    else:
        assert got.value == pytest.approx(want, rel=1e-9)
        assert got.value == pytest.approx(frechet_sqrtm(mu1, s1, sy.mu, sy.sigma), rel=1e-9)
    fr._SQRT_MEMO.clear()  # as a new process: the factor is read back from disk, bit for bit
    again = fr.cached_psd_sqrt(s1, tmp_path)
    assert np.array_equal(again.a, root.a) and again is not root
    assert fr.cached_psd_sqrt(s1, tmp_path) is again  # then from memory


def test_cached_root_is_keyed_by_content_and_survives_a_damaged_entry(tmp_path) -> None:
    from bench.metrics import frechet as fr

    _, s1, _, s2 = well_conditioned_stats(32, seed=4)
    fr._SQRT_MEMO.clear()
    r1 = fr.cached_psd_sqrt(s1, tmp_path)
    r2 = fr.cached_psd_sqrt(s2, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2 and not np.array_equal(r1.a, r2.a)
    np.testing.assert_allclose(r1.a @ r1.a, s1, atol=1e-12)
    for f in tmp_path.glob("*.npz"):
        f.write_bytes(b"not an npz")
    fr._SQRT_MEMO.clear()
    np.testing.assert_array_equal(fr.cached_psd_sqrt(s1, tmp_path).a, fr.psd_sqrt(s1).a)  # recomputed
    ro = tmp_path / "ro"
    ro.write_text("a file where the cache folder should be")  # an unwritable cache: computed, no error
    fr._SQRT_MEMO.clear()
    np.testing.assert_array_equal(fr.cached_psd_sqrt(s2, ro).a, r2.a)
