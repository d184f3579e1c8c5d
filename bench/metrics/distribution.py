"""FID, KID, IS and precision/recall from features.

KID, IS and precision/recall call torch-fidelity's own feature-to-metric functions (the reference); FID uses
:mod:`bench.metrics.frechet` and is tested equal to torch-fidelity to 1e-6 relative. Conventions follow
torch-fidelity: the first set is GENERATED, the second is REAL. FID and KID take ``bootstrap: B`` (default 0,
off) to fill ci_low/ci_high from B resamples of the generated features (:mod:`bench.metrics.bootstrap`); it is
an option of the metric itself rather than a separate metric so the interval sits on the very row it
qualifies, computed with the same options. Precision = fraction of generated samples inside
the real manifold; recall = fraction of real samples inside the generated manifold.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any

import numpy as np
import torch
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet
from bench.metrics.bootstrap import bootstrap_interval
from bench.metrics.frechet import (
    cached_psd_sqrt,
    frechet_distance,
    frechet_distance_from_features,
    frechet_distance_to_features,
    gaussian_stats,
)


class BootstrapOpts(Options):
    bootstrap: int = Field(default=0, ge=0, description="bootstrap resamples for ci_low/ci_high (0: off)")
    confidence: float = Field(default=0.95, gt=0, lt=1)


class FIDOpts(BootstrapOpts):
    pass


class FID(Metric[FIDOpts]):
    name = "fid"
    description = "Fréchet distance between Gaussian fits of generated and reference features"
    outputs = {"fid": OutputInfo(higher_is_better=False)}
    Opts = FIDOpts
    reference_stats_ok = True

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        name = next(iter(self.outputs))
        g = samples.x
        stored = (ref.stored_stats or {}).get(samples.layer)  # an ADM reference batch's own mu/sigma: used as is
        r = None if ref.features is None or stored is not None else ref.x  # None: use a Gaussian fit
        if stored is not None and len(stored.mu) != g.shape[1]:
            raise InputError(f"reference '{ref.name}': its stored statistics of layer '{samples.layer}' are "
                             f"{len(stored.mu)}-d, the features {g.shape[1]}-d (made by another network?)")
        small = None if r is None else frechet_distance_from_features(g, r)
        if small is not None:  # both sets small: exact through their n1 x n2 cross-product, no d x d matrix
            res, n_ref = small, len(r)  # type: ignore[arg-type]
        else:
            if r is None:  # its Gaussian fit is all FID needs
                sr = stored if stored is not None else ref.stats
                assert sr is not None
            else:
                sr = gaussian_stats(r)
            # the reference is fixed across models: its square root comes from the content-keyed cache, and the
            # generated set's covariance is never formed when it has fewer samples than dimensions
            res = frechet_distance_to_features(sr.mu, sr.sigma, cached_psd_sqrt(sr.sigma), g)
            n_ref = sr.n
        notes = list(res.warnings)
        d = g.shape[1]
        for label, n in (("generated", len(g)), ("reference", n_ref)):
            if 0 < n < d:  # n = 0: a statistics reference that did not record its sample count
                notes.append(f"{label} set has n={n} < feature dimension {d}: its covariance is singular")
        for msg in notes:
            warnings.warn(f"{name.upper()}: {msg}", stacklevel=2)
        out = MetricValue(name, res.value, extras={"clipped_eigenvalues": res.clipped_eigenvalues, "warnings": notes,
                                                    "method": "cross-product (n1*n2 <= d^2)" if small else "d x d"})
        if stored is not None:
            out.extras["reference_statistics"] = "stored in the reference file"
        if o.bootstrap:
            fixed = sr if r is None else gaussian_stats(r)
            assert fixed is not None
            root = cached_psd_sqrt(fixed.sigma)  # the reference is fixed: its square root is computed once

            def fid_of(x: np.ndarray, _b: int) -> float:
                return frechet_distance_to_features(fixed.mu, fixed.sigma, root, x).value

            out.ci_low, out.ci_high, info = bootstrap_interval(fid_of, g, o.bootstrap, o.confidence, seed, res.value,
                                                               sizing=True)
            out.extras.update(bootstrap=info, std=info["std"])  # std: shown as ± in tables
        return [out]


#: torch-fidelity's default ``rng_seed`` (KID subsets, IS split shuffling)
TORCH_FIDELITY_SEED = 2020
_SEED_DOC = ("the seed of the random draws: torch-fidelity's fixed default, so values equal torch-fidelity's on the "
             "same features; null: genbench's per-(task, model, metric) seed")


class SFID(FID):
    """sFID (Nash et al. 2021, "Generating images with sparse representations"), as ADM's evaluator computes it:
    the Fréchet distance on spatial features (the backbone's ``spatial`` layer: inception-v3-adm's first 7
    channels of mixed_6/conv, 2023-d), which sees spatial structure that the pooled 2048-d features average away."""

    name = "sfid"
    description = "Fréchet distance on spatial Inception features (mixed_6/conv[:7], ADM's evaluator)"
    outputs = {"sfid": OutputInfo(higher_is_better=False)}
    layer = "spatial"


class KIDOpts(BootstrapOpts):
    rng_seed: int | None = Field(default=TORCH_FIDELITY_SEED, description=_SEED_DOC)
    subsets: int = Field(default=100, gt=0)
    subset_size: int = Field(default=1000, gt=1)
    degree: int = 3
    gamma: float | None = None
    coef0: float = 1.0


#: largest full kernel matrix (entries) :func:`kid_subsets` precomputes; above it torch-fidelity's loop runs as is
KID_FULL_KERNEL_MAX = 100_000_000  # 3 float32 matrices of up to ~400 MB together


def kernel_poly(x: np.ndarray, y: np.ndarray, o: KIDOpts) -> np.ndarray:
    """torch-fidelity 0.4's ``metric_kid.kernel_poly``, operation for operation (bit-equal, tests/test_kid_fast.py):
    ``(x y^T * gamma + coef0) ** degree``, gamma = 1 / dim by default. Restated so that KID does not import the
    torch-fidelity package, which imports torchvision and with it torch._dynamo: ~4 s of CPU of a cold start, a
    third of a whole ``score images --fid --kid`` on the digits (scripts/bench_cold_start.py)."""
    gamma = 1.0 / x.shape[1] if o.gamma is None else o.gamma
    return (np.matmul(x, y.T) * gamma + o.coef0) ** o.degree  # type: ignore[no-any-return]


def mmd2_unbiased(kxx: np.ndarray, kxy: np.ndarray, kyy: np.ndarray) -> float:
    """torch-fidelity 0.4's ``metric_kid.mmd2`` with its defaults (``unit_diagonal=False``,
    ``mmd_est="unbiased"``), the same sums in the same order (bit-equal, tests/test_kid_fast.py)."""
    m = kxx.shape[0]
    diag_x, diag_y = np.diagonal(kxx), np.diagonal(kyy)
    kt_xx_sum = (kxx.sum(axis=1) - diag_x).sum()
    kt_yy_sum = (kyy.sum(axis=1) - diag_y).sum()
    k_xy_sum = kxy.sum(axis=0).sum()
    mmd2 = (kt_xx_sum + kt_yy_sum) / (m * (m - 1))
    mmd2 -= 2 * k_xy_sum / (m * m)
    return mmd2  # type: ignore[no-any-return]


def kid_subsets(g: np.ndarray, r: np.ndarray, o: KIDOpts, size: int, seed: int) -> tuple[float, float]:
    """torch-fidelity's KID (mean, std over ``o.subsets`` seeded subsets) with its functions and random draws.

    torch-fidelity computes three ``size x size`` float32 kernel matrices per subset. When the full kernel
    matrices are small enough and cheaper than the subsets' (e.g. 100 subsets of all 500 samples: 3 full matrices
    instead of 300), they are computed once with :func:`kernel_poly` and each subset's blocks are gathered from
    them: the same float32 dot products, so the same numbers up to the last bits of a kernel entry that a BLAS may
    round differently for other matrix shapes (tests/test_kid_fast.py states the bound), and the subsets' MMD comes
    from :func:`mmd2_unbiased` (both torch-fidelity's code restated bit for bit). Otherwise torch-fidelity's own
    ``kid_features_to_metric`` runs as is (imported only then).
    """
    n1, n2 = len(g), len(r)
    full = n1 * n1 + n2 * n2 + n1 * n2
    if full > KID_FULL_KERNEL_MAX or full >= 3 * o.subsets * size * size:
        from torch_fidelity.metric_kid import kid_features_to_metric

        out = kid_features_to_metric(torch.from_numpy(g), torch.from_numpy(r), kid_subsets=o.subsets,
                                     kid_subset_size=size, rng_seed=seed % (2**32), verbose=False,
                                     kid_kernel="poly", kid_kernel_poly_degree=o.degree,
                                     kid_kernel_poly_gamma=o.gamma, kid_kernel_poly_coef0=o.coef0)
        return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]
    x, y = np.asarray(g, np.float32), np.asarray(r, np.float32)  # torch-fidelity's dtype (it calls .numpy())
    kxx, kyy, kxy = kernel_poly(x, x, o), kernel_poly(y, y, o), kernel_poly(x, y, o)
    rng = np.random.RandomState(seed % (2**32))
    mmds = np.zeros(o.subsets)
    for i in range(o.subsets):  # the draws in torch-fidelity's order: subset of set 1, then of set 2
        a = rng.choice(n1, size, replace=False)
        b = rng.choice(n2, size, replace=False)
        # take rows, then columns: the same C-ordered block as np.ix_ (so mmd2 sums in the same order), ~3x faster
        mmds[i] = mmd2_unbiased(kxx.take(a, 0).take(a, 1), kxy.take(a, 0).take(b, 1), kyy.take(b, 0).take(b, 1))
    return float(np.mean(mmds)), float(np.std(mmds))


class KID(Metric[KIDOpts]):
    name = "kid"
    description = "Kernel distance (unbiased MMD², cubic polynomial kernel), mean and std over seeded subsets"
    outputs = {"kid": OutputInfo(higher_is_better=False)}
    Opts = KIDOpts

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        g, r = samples.x, ref.x
        size = min(o.subset_size, len(g), len(r))  # torch-fidelity fails when a set is smaller than the subset
        seed = seed if o.rng_seed is None else o.rng_seed
        mean, std = kid_subsets(g, r, o, size, seed)
        value = MetricValue("kid", mean, extras={"std": std, "subsets": o.subsets, "subset_size": size})
        if o.bootstrap:
            def kid_of(x: np.ndarray, b: int) -> float:
                return kid_subsets(x, r, o, size, seed + 1 + b)[0]

            value.ci_low, value.ci_high, value.extras["bootstrap"] = bootstrap_interval(kid_of, g, o.bootstrap, o.confidence, seed, mean)
        return [value]


class ISOpts(Options):
    splits: int = Field(default=10, gt=0, description="number of splits (torch-fidelity)")
    split_size: int | None = Field(default=None, gt=0, description="samples per split instead of a number of "
                                   "splits, the last one shorter (ADM's evaluator: 5000, in file order)")
    shuffle: bool = Field(default=True, description="shuffle before splitting (torch-fidelity); ADM does not")
    rng_seed: int | None = Field(default=TORCH_FIDELITY_SEED, description=_SEED_DOC)


def inception_score_in_blocks(logits: np.ndarray, split_size: int) -> tuple[float, float, int]:
    """OpenAI's ``compute_inception_score`` (guided-diffusion evaluations/evaluator.py, after improved-gan):
    softmax of the unbiased logits, then per consecutive block of ``split_size`` samples exp(mean KL(p(y|x) ||
    p(y))); returns the mean and std over blocks and their number. Computed in float64 (ADM: float32 numpy)."""
    from scipy.special import xlogy

    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=1, keepdims=True)
    p = np.exp(x)
    p /= p.sum(axis=1, keepdims=True)
    scores = []
    for i in range(0, len(p), split_size):
        part = p[i: i + split_size]
        # xlogy: 0 log 0 = 0 where a probability underflows (the evaluator's float32 np.log gives NaN there)
        kl = xlogy(part, part) - xlogy(part, part.mean(axis=0, keepdims=True))
        scores.append(float(np.exp(kl.sum(axis=1).mean())))
    return float(np.mean(scores)), float(np.std(scores)), len(scores)


class InceptionScore(Metric[ISOpts]):
    name = "isc"
    description = "Inception Score: exp E[KL(p(y|x) || p(y))], mean and std over splits (on the backbone's classifier)"
    outputs = {"isc": OutputInfo(higher_is_better=True)}
    Opts = ISOpts
    layer = "logits"
    requires = frozenset({"features"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        if o.split_size is not None:
            if o.shuffle:
                raise ConfigError("isc: split_size takes the samples in order (ADM); set shuffle: false with it")
            mean, std, k = inception_score_in_blocks(samples.x, o.split_size)
            return [MetricValue("isc", mean, extras={"std": std, "split_size": o.split_size, "splits": k,
                                                     "shuffle": False})]
        from torch_fidelity.metric_isc import isc_features_to_metric

        rng = seed if o.rng_seed is None else o.rng_seed
        out = isc_features_to_metric(torch.from_numpy(samples.x), splits=o.splits, shuffle=o.shuffle,
                                     rng_seed=rng % (2**32))
        return [MetricValue("isc", out["inception_score_mean"], extras={"std": out["inception_score_std"],
                                                                        "splits": o.splits, "shuffle": o.shuffle})]


class PRCOpts(Options):
    neighborhood: int = Field(default=3, gt=0)
    batch_size: int | None = Field(default=None, gt=0, description="rows per distance block; default keeps a "
                                   "block near 256 MiB (torch-fidelity's fixed 10000 needs 2 GB at n=50k)")


def _prc_block(n1: int, n2: int, budget_bytes: int = 256 * 2**20) -> int:
    """Rows per cdist block so that one float32 block of distances stays within ``budget_bytes``. The block size
    does not change torch-fidelity's values (tests/test_frechet_and_metrics.py compares them)."""
    return int(max(256, min(10000, budget_bytes // (4 * max(n1, n2)))))


def _full_matrices_bytes(n1: int, n2: int) -> int:
    """float32 bytes of torch-fidelity's "full" path: both within-set matrices and the cross matrix. Checking only
    n1 x n2 (as before) let 50,000 samples against a small reference build a 50k x 50k matrix (10 GB, OOM)."""
    return 4 * (n1 * n1 + n2 * n2 + n1 * n2)


class PrecisionRecall(Metric[PRCOpts]):
    name = "prc"
    description = "Improved precision and recall (Kynkäänniemi et al. 2019), k-NN manifolds"
    outputs = {
        "precision": OutputInfo(higher_is_better=True, description="fraction of generated samples on the real manifold"),
        "recall": OutputInfo(higher_is_better=True, description="fraction of real samples on the generated manifold"),
        "f_score": OutputInfo(higher_is_better=True),
    }
    Opts = PRCOpts

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        from torch_fidelity.metric_prc import prc_features_to_metric

        o = self.opts
        g, r = samples.x, ref.x
        out = prc_features_to_metric(
            torch.from_numpy(np.ascontiguousarray(g)), torch.from_numpy(np.ascontiguousarray(r)),
            prc_neighborhood=o.neighborhood, prc_batch_size=o.batch_size or _prc_block(len(g), len(r)),
            save_cpu_ram=_full_matrices_bytes(len(g), len(r)) > 512 * 2**20, verbose=False,
        )
        extras = {"neighborhood": o.neighborhood}
        return [
            MetricValue("precision", out["precision"], extras=extras),
            MetricValue("recall", out["recall"], extras=extras),
            MetricValue("f_score", out["f_score"], extras=extras),
        ]


class PrecisionRecallVGG16(PrecisionRecall):
    """torch-fidelity 0.4's default precision/recall: the same k-NN manifolds on VGG16 fc2 features (after ReLU),
    the network Kynkäänniemi et al. (2019) define it on (bench.backbones.vgg16). ``prc`` on an Inception protocol
    follows ADM instead (pool features); the rows are named apart so the two never meet in one column."""

    name = "prc_vgg16"
    description = "Improved precision and recall on VGG16 fc2 features (torch-fidelity's default network)"
    outputs = {f"{k}_vgg16": OutputInfo(higher_is_better=True, description=v.description)
               for k, v in PrecisionRecall.outputs.items()}
    own_backbone = "vgg16-fidelity"

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        rows = super().compute(samples, ref, seed=seed, state=state, sink=sink)
        for r in rows:
            r.metric = f"{r.metric}_vgg16"
        return rows


warnings.filterwarnings("default", message="S?FID: .*")


class FIDCurveOpts(Options):
    ns: list[Annotated[int, Field(ge=2)]] | None = Field(default=None, min_length=1,
                                                         description="sample counts (default: n/8, n/4, n/2, n)")
    repeats: int = Field(default=3, gt=0, description="seeded subsets averaged per sample count below n")


class FIDCurve(Metric[FIDCurveOpts]):
    """FID against the number of generated samples, and its extrapolation to infinitely many (FID∞).

    Why: FID is biased in N (its expected value falls as N grows), so a value is meaningful only with its
    sample count; the curve shows
    how far a value is from converged, and FID∞ (Chong & Forsyth 2020: least-squares fit of FID = a + b/N over
    the curve, reporting the intercept a) compares models evaluated at different N. Each point below n averages
    ``repeats`` seeded subsets drawn without replacement; the reference is always the whole reference set.
    Rows ``fid@n<N>`` (one per N, with ``n`` = N, so tables and plots read them directly) and ``fid_inf``; every
    row's extras holds the whole curve as ``{"n": [...], "fid": [...], "std": [...]}``.
    """

    name = "fid_curve"
    description = "FID at several sample counts (rows fid@n<N>) and the extrapolated FID∞"
    outputs = {"fid_inf": OutputInfo(higher_is_better=False, description="FID extrapolated to N → ∞ (fit a + b/N)")}
    Opts = FIDCurveOpts

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        g = samples.x
        n = len(g)
        ns = sorted({int(k) for k in (o.ns or [max(2, n // 8), max(2, n // 4), max(2, n // 2), n])})
        if ns[0] < 2 or ns[-1] > n:
            raise ConfigError(f"fid_curve: sample counts must lie in [2, n={n}] (got {ns})")
        sr = gaussian_stats(ref.x)
        rng = np.random.default_rng(seed % (2**63))
        means, stds = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small N: singular covariances are expected on the curve
            for k in ns:
                vals = []
                for _ in range(1 if k == n else o.repeats):
                    s = gaussian_stats(g[rng.choice(n, k, replace=False)] if k < n else g)
                    # generated first, as in FID: fid@n<all> equals the fid row exactly (on singular
                    # covariances the argument order changes round-off at ~1e-6 relative)
                    vals.append(frechet_distance(s.mu, s.sigma, sr.mu, sr.sigma).value)
                means.append(float(np.mean(vals)))
                stds.append(float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0)
        curve = {"n": ns, "fid": means, "std": stds, "repeats": o.repeats}
        rows = [MetricValue(f"fid@n{k}", v, extras={"curve": curve}, n=k) for k, v in zip(ns, means, strict=True)]
        if len(ns) >= 2:
            a, _b = np.linalg.lstsq(np.stack([np.ones(len(ns)), 1.0 / np.array(ns, float)], 1), np.array(means), rcond=None)[0]
            rows.append(MetricValue("fid_inf", float(a), extras={"curve": curve, "fit": "fid = a + b/N"}))
        return rows
