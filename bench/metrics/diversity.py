"""LPIPS diversity: mean perceptual distance between seeded pairs of samples, and its ratio to real data.

Why: a collapsed generator produces near-identical samples that can each look fine, so sample-quality metrics
miss it; the mean pairwise perceptual distance drops. The raw number depends on the data, so the headline is
the **ratio** to the same statistic on the reference (real) images: ≈ 1 for real-like variety, well below 1 for
mode collapse (above 1 for noise: diversity alone is not quality).

Pairs: ``pairs`` index pairs (i, j), i ≠ j, drawn uniformly by a generator seeded only by the set size
(``numpy_rng("lpips-pairs", n, pairs)``): the same pairs for every model of a task and every rerun. The interval
is mean ± 1.96 standard errors over the pairs.

Distances (option ``distance``):

* ``lpips-alex`` / ``lpips-vgg``: the ``lpips`` package's own ``LPIPS`` module (learned linear weights, shipped in
  its wheel) on torchvision's ImageNet backbone, whose weights are resolved by :mod:`bench.weights` (explicit
  ``weights`` path, then the cache, then a verified download) and loaded offline (``pnet_rand=True`` builds the
  net without torchvision's downloader; the file is then copied into its slices). Images are converted to RGB
  and resized to ``size`` px (bilinear, antialias) before LPIPS' own [-1, 1] scaling; 8 px digits are far
  below what AlexNet can see, hence the resize. A missing file is an error (exit 2) naming the URL and path.
* ``digits-features``: an LPIPS-style distance on the embedded digits network, with *no learned weights*: the
  ReLU maps ``conv1``, ``conv2`` and the ``pool`` vector are unit-normalised across channels at each position
  (``lpips.normalize_tensor``), squared differences are summed over channels, averaged over positions
  (``lpips.spatial_average``) and summed over the three layers — LPIPS' own ``lpips=False`` formulation with
  the digits net as backbone. Works on every image (the digits preprocessing resizes to 8×8 grey).
* ``auto`` (default): ``digits-features`` when the task's backbone is ``digits``; otherwise ``lpips-alex`` when
  its weights are present, falling back to ``digits-features`` (the reason is in extras).

Every row records the distance used in ``extras["distance"]``: values under different distances never compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.backbones.lpips_nets import NETS, load_lpips
from bench.backbones.lpips_nets import WEIGHTS_FILES as LPIPS_WEIGHTS
from bench.errors import InputError, WeightsError
from bench.images import match_channels
from bench.metrics.base import (
    ArtifactSink,
    Metric,
    MetricValue,
    NoSuite,
    Options,
    OutputInfo,
    Reference,
    Resources,
    SampleSet,
    subset_size,
)
from bench.seeding import numpy_rng
from bench.weights import resolve

PairDistance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # uint8 NCHW × uint8 NCHW → [N] distances


# -- the distances ---------------------------------------------------------------------------------------------
def digits_feature_distance(net: torch.nn.Module) -> PairDistance:
    """LPIPS(lpips=False)-style distance on the digits net's conv1, conv2 and pool activations."""
    from lpips import normalize_tensor, spatial_average

    from bench.backbones.digits import to_input

    device = next(net.parameters()).device

    @torch.no_grad()
    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa = net.features(to_input(a).to(device), spatial=True)  # type: ignore[operator]
        fb = net.features(to_input(b).to(device), spatial=True)  # type: ignore[operator]
        total = torch.zeros(a.shape[0], dtype=torch.float64, device=device)
        for layer in ("conv1", "conv2", "pool"):
            xa, xb = fa[layer], fb[layer]
            if xa.ndim == 2:
                xa, xb = xa[:, :, None, None], xb[:, :, None, None]
            d = (normalize_tensor(xa) - normalize_tensor(xb)) ** 2
            total += spatial_average(d.sum(1, keepdim=True)).flatten().double()
        return total.cpu()

    return dist


def lpips_distance(model: torch.nn.Module, size: int) -> PairDistance:
    device = next(model.parameters()).device

    @torch.no_grad()
    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        def prep(x: torch.Tensor) -> torch.Tensor:
            y = match_channels(x, 3).float() / 255.0
            if y.shape[-2:] != (size, size):
                y = F.interpolate(y, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            return (y * 2 - 1).to(device)  # LPIPS expects [-1, 1]

        return model(prep(a), prep(b)).flatten().double().cpu()

    return dist


# -- the statistic ---------------------------------------------------------------------------------------------
def pair_indices(n: int, pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """``pairs`` seeded index pairs (i, j) with i ≠ j in [0, n): a fixed function of (n, pairs)."""
    if n < 2:
        raise InputError(f"pairwise diversity needs at least 2 samples (got {n})")
    rng = numpy_rng("lpips-pairs", n, pairs)
    i = rng.integers(0, n, pairs)
    j = (i + rng.integers(1, n, pairs)) % n  # uniform over j ≠ i
    return i, j


def pairwise_distances(images: torch.Tensor, dist: PairDistance, pairs: int, batch: int = 512) -> np.ndarray:
    i, j = pair_indices(int(images.shape[0]), pairs)
    out = [dist(images[i[s: s + batch]], images[j[s: s + batch]]).numpy() for s in range(0, pairs, batch)]
    return np.concatenate(out)


def mean_ci(d: np.ndarray) -> tuple[float, float, float]:
    m = float(d.mean())
    half = 1.96 * float(d.std(ddof=1)) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    return m, m - half, m + half


class DiversityOpts(Options):
    distance: Literal["auto", "digits-features", "lpips-alex", "lpips-vgg"] = "auto"
    pairs: int = Field(default=1000, gt=0, description="number of seeded sample pairs")
    size: int = Field(default=64, ge=32, description="side in px that images are resized to for lpips-* nets")
    weights: str | None = Field(default=None, description="explicit path of the torchvision backbone file (lpips-*)")
    images: int | None = Field(default=None, ge=2, description=(
        "pairs are drawn among the first this many samples (and reference images); default: as many as fit in "
        "1 GiB (all of any digits-sized set; 5,461 RGB images at 256 px), so memory is bounded at any n"))


class LPIPSDiversity(Metric[DiversityOpts]):
    name = "lpips_diversity"
    description = "Mean perceptual distance over seeded sample pairs, and its ratio to the reference (mode collapse)"
    outputs = {
        "lpips_diversity": OutputInfo(higher_is_better=True, description="mean pairwise perceptual distance"),
        "lpips_diversity_ratio": OutputInfo(higher_is_better=True, unit="× real",
                                            description="≈1 like real data; well below 1 = mode collapse"),
        # the offline stand-in distance (the digits network's features, not LPIPS) carries its own name
        "perceptual_diversity_digits": OutputInfo(higher_is_better=True, description=(
            "mean pairwise LPIPS-style distance on the digits network (offline stand-in for LPIPS)")),
        "perceptual_diversity_digits_ratio": OutputInfo(higher_is_better=True, unit="× real", description=(
            "the stand-in diversity relative to the reference's: ≈1 like real data; well below 1 = mode collapse")),
    }
    Opts = DiversityOpts

    requires = frozenset({"images", "backbone"})
    uses = frozenset({"reference.images"})  # the reference's own diversity gives the ratio
    weights_files = LPIPS_WEIGHTS

    def _distance(self, backbone: Any) -> tuple[str, PairDistance, dict[str, Any]]:
        o = self.opts
        choice, extras = o.distance, {}
        if choice == "auto":
            choice = "digits-features" if getattr(backbone, "name", None) == "digits" else "lpips-alex"
            if choice == "lpips-alex":
                try:
                    resolve(NETS["alex"][1], o.weights, download=False)
                except WeightsError as exc:
                    choice, extras = "digits-features", {"fallback_reason": str(exc)}
        if choice == "digits-features":
            if getattr(backbone, "name", None) == "digits":
                net = backbone.net
            else:
                from bench.backbones.digits import DigitsBackbone

                b = DigitsBackbone()
                b.load()
                net = b.net
            return choice, digits_feature_distance(net), extras
        model = load_lpips(choice.split("-", 1)[1], o.weights).to(getattr(backbone, "device", "cpu"))
        return choice, lpips_distance(model, o.size), {**extras, "size": o.size}

    def images_needed(self, n: int, item_bytes: int) -> int:
        return subset_size(n, item_bytes, self.opts.images)

    def fit(self, ref: Reference, resources: Resources) -> Any:
        """The distance and the reference's own diversity (on its first images_needed images): once per task."""
        o = self.opts
        name, dist, extras = self._distance(resources.backbone)
        ref_stat = None
        if ref.images is not None:
            m = self.images_needed(int(ref.images.shape[0]), int(ref.images[0].numel()))
            ref_stat = mean_ci(pairwise_distances(ref.images[:m], dist, o.pairs))
        return name, dist, extras, ref_stat

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        if samples.images is None:
            raise InputError("lpips_diversity needs the generated images")
        o = self.opts
        name, dist, extras, ref_stat = state if state is not None else self.fit(ref, NoSuite(samples.backbone))
        m, lo, hi = mean_ci(pairwise_distances(samples.images, dist, o.pairs))
        ex = {"distance": name, "pairs": o.pairs, "images": int(samples.images.shape[0]), **extras}
        value = "lpips_diversity" if name.startswith("lpips") else "perceptual_diversity_digits"
        rows = [MetricValue(value, m, lo, hi, extras=ex)]
        if ref_stat is not None:
            rm = ref_stat[0]
            rows.append(MetricValue(f"{value}_ratio", m / rm, lo / rm, hi / rm,
                                    extras={**ex, "reference_diversity": rm}))
        return rows
