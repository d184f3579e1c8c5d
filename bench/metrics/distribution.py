"""FID, KID, IS and precision/recall from features.

KID, IS and precision/recall call torch-fidelity's own feature-to-metric functions (the reference); FID uses
:mod:`bench.metrics.frechet` and is tested equal to torch-fidelity to 1e-6 relative. Conventions follow
torch-fidelity: the first set is GENERATED, the second is REAL. Precision = fraction of generated samples inside
the real manifold; recall = fraction of real samples inside the generated manifold.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from pydantic import Field
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import prc_features_to_metric

from bench.features import Features
from bench.metrics.base import Metric, MetricContext, MetricValue, Options, OutputInfo
from bench.metrics.frechet import frechet_distance, gaussian_stats


class FID(Metric):
    name = "fid"
    task_kinds = frozenset({"generation", "translation"})  # translation: translations vs the target domain
    description = "Fréchet distance between Gaussian fits of generated and reference features"
    outputs = {"fid": OutputInfo(higher_is_better=False)}
    reference_stats_ok = True

    def compute(self, gen: Features, ref: Features | None, *, layer: str, seed: int,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        g = gen[layer]
        if ref is None:  # a statistics-only reference (bench.refstats): its Gaussian fit is all FID needs
            assert ctx is not None and ctx.ref_stats is not None
            sr = ctx.ref_stats
        else:
            sr = gaussian_stats(ref[layer])
        sg = gaussian_stats(g)
        res = frechet_distance(sg.mu, sg.sigma, sr.mu, sr.sigma)
        notes = list(res.warnings)
        d = g.shape[1]
        for label, n in (("generated", sg.n), ("reference", sr.n)):
            if 0 < n < d:  # n = 0: a statistics reference that did not record its sample count
                notes.append(f"{label} set has n={n} < feature dimension {d}: its covariance is singular")
        for msg in notes:
            warnings.warn(f"FID: {msg}", stacklevel=2)
        return [MetricValue("fid", res.value, extras={"clipped_eigenvalues": res.clipped_eigenvalues, "warnings": notes})]


class KIDOpts(Options):
    subsets: int = Field(default=100, gt=0)
    subset_size: int = Field(default=1000, gt=1)
    degree: int = 3
    gamma: float | None = None
    coef0: float = 1.0


class KID(Metric):
    name = "kid"
    task_kinds = frozenset({"generation", "translation"})  # translation: translations vs the target domain
    description = "Kernel distance (unbiased MMD², cubic polynomial kernel), mean and std over seeded subsets"
    outputs = {"kid": OutputInfo(higher_is_better=False)}
    Opts = KIDOpts

    def compute(self, gen: Features, ref: Features | None, *, layer: str, seed: int,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        assert ref is not None
        o: KIDOpts = self.opts  # type: ignore[assignment]
        g, r = gen[layer], ref[layer]
        size = min(o.subset_size, len(g), len(r))  # torch-fidelity fails when a set is smaller than the subset
        out = kid_features_to_metric(
            torch.from_numpy(g), torch.from_numpy(r),
            kid_subsets=o.subsets, kid_subset_size=size, kid_kernel="poly", kid_kernel_poly_degree=o.degree,
            kid_kernel_poly_gamma=o.gamma, kid_kernel_poly_coef0=o.coef0, rng_seed=seed % (2**32), verbose=False,
        )
        mean, std = out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]
        return [MetricValue("kid", mean, extras={"std": std, "subsets": o.subsets, "subset_size": size})]


class ISOpts(Options):
    splits: int = Field(default=10, gt=0)


class InceptionScore(Metric):
    name = "isc"
    description = "Inception Score: exp E[KL(p(y|x) || p(y))], mean and std over splits (on the backbone's classifier)"
    outputs = {"isc": OutputInfo(higher_is_better=True)}
    Opts = ISOpts
    layer_kind = "logits"
    needs_reference = False

    def compute(self, gen: Features, ref: Features | None, *, layer: str, seed: int,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        o: ISOpts = self.opts  # type: ignore[assignment]
        out = isc_features_to_metric(torch.from_numpy(gen[layer]), splits=o.splits, shuffle=True, rng_seed=seed % (2**32))
        return [MetricValue("isc", out["inception_score_mean"], extras={"std": out["inception_score_std"], "splits": o.splits})]


class PRCOpts(Options):
    neighborhood: int = Field(default=3, gt=0)
    batch_size: int = Field(default=10000, gt=0)


class PrecisionRecall(Metric):
    name = "prc"
    task_kinds = frozenset({"generation", "translation"})  # translation: translations vs the target domain
    description = "Improved precision and recall (Kynkäänniemi et al. 2019), k-NN manifolds"
    outputs = {
        "precision": OutputInfo(higher_is_better=True, description="fraction of generated samples on the real manifold"),
        "recall": OutputInfo(higher_is_better=True, description="fraction of real samples on the generated manifold"),
        "f_score": OutputInfo(higher_is_better=True),
    }
    Opts = PRCOpts

    def compute(self, gen: Features, ref: Features | None, *, layer: str, seed: int,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        assert ref is not None
        o: PRCOpts = self.opts  # type: ignore[assignment]
        g, r = gen[layer], ref[layer]
        out = prc_features_to_metric(
            torch.from_numpy(np.ascontiguousarray(g)), torch.from_numpy(np.ascontiguousarray(r)),
            prc_neighborhood=o.neighborhood, prc_batch_size=o.batch_size,
            save_cpu_ram=len(g) * len(r) > 20000 * 20000, verbose=False,
        )
        extras = {"neighborhood": o.neighborhood}
        return [
            MetricValue("precision", out["precision"], extras=extras),
            MetricValue("recall", out["recall"], extras=extras),
            MetricValue("f_score", out["f_score"], extras=extras),
        ]


warnings.filterwarnings("default", message="FID: .*")
