"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models").

Why beside precision/recall: improved precision/recall build k-NN balls around *both* sets, so a few outliers in
the generated set inflate recall and the real set's outliers inflate precision. Density and coverage use balls
around REAL samples only (radius = distance to the k-th nearest other real sample):

* density = (1 / (k·M)) Σ_j Σ_i 1[ ||fake_j − real_i|| < r_i ]  — how many real balls each fake sample falls in,
  normalised so that samples distributed like the real data score ≈ 1 (it is unbounded above);
* coverage = (1 / N) Σ_i 1[ min_j ||real_i − fake_j|| < r_i ]  — the fraction of real balls holding at least
  one fake sample, in [0, 1]; it drops when modes are missing even when every sample is sharp.

The formulas, the strict ``<`` and the leave-one-out radii are those of the authors' ``prdc`` package; the
distances are computed blockwise (:mod:`bench.metrics.neighbours`): no N × M matrix is ever held in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet
from bench.metrics.neighbours import DEFAULT_BLOCK, distance_blocks, kth_nn_radii, pair_distances


def density_coverage(gen: np.ndarray, real: np.ndarray, k: int = 5, block: int = DEFAULT_BLOCK) -> tuple[float, float]:
    """(density, coverage) of generated features ``gen`` against real features ``real``.

    Tiles come from the fast matrix-product distances; every entry within round-off of its radius is
    recomputed directly (:func:`pair_distances`, as the radii are), so ties decide ``<`` exactly.
    """
    radii = kth_nn_radii(real, k, block)
    tg, tr = torch.from_numpy(np.ascontiguousarray(gen, np.float64)), torch.from_numpy(np.ascontiguousarray(real, np.float64))
    sq_g, sq_r = tg.pow(2).sum(1), tr.pow(2).sum(1)
    inside = 0
    nearest_fake = np.full(len(real), np.inf)
    for i0, j0, d in distance_blocks(gen, real, block):  # d: [gen block, real block]
        rows, cols = d.shape
        r = torch.from_numpy(radii[j0: j0 + cols])
        band = 1e-12 * (sq_g[i0: i0 + rows, None] + sq_r[None, j0: j0 + cols]) + 1e-300  # ≫ matmul round-off
        near = ((d.pow(2) - r.pow(2)[None, :]).abs() <= band).nonzero()
        if len(near):
            d[near[:, 0], near[:, 1]] = pair_distances(tg[i0 + near[:, 0]], tr[j0 + near[:, 1]])
        dn = d.numpy()
        inside += int((dn < r.numpy()[None, :]).sum())
        np.minimum(nearest_fake[j0: j0 + cols], dn.min(0), out=nearest_fake[j0: j0 + cols])
    density = inside / (k * len(gen))
    coverage = float((nearest_fake < radii).mean())
    return float(density), coverage


class DCOpts(Options):
    neighborhood: int = Field(default=5, gt=0, description="k of the k-NN radii (the paper recommends 5)")
    block: int = Field(default=DEFAULT_BLOCK, gt=0, description="rows per distance tile (memory, not results)")


class DensityCoverage(Metric[DCOpts]):
    name = "density_coverage"
    description = "Density and coverage (Naeem et al. 2020): k-NN balls around real samples only"
    outputs = {
        "density": OutputInfo(higher_is_better=True, description="≈1 for samples distributed like the reference; "
                              "above 1 when samples crowd dense real regions"),
        "coverage": OutputInfo(higher_is_better=True, description="fraction of real k-NN balls that hold a sample"),
    }
    Opts = DCOpts

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        density, coverage = density_coverage(samples.x, ref.x, o.neighborhood, o.block)
        extras = {"neighborhood": o.neighborhood, "real": "reference"}
        return [MetricValue("density", density, extras=extras), MetricValue("coverage", coverage, extras=extras)]
