"""The numbers of a dissection: per-unit thresholds, unit × concept IoU, concept pixel fractions and the
bootstrap of a relative change. Plain tensors in, plain numbers out: no model, no run.

Conventions (gandissect's, Bau et al. 2019, §3.1): a unit's threshold ``t_u`` is the level its activations exceed
with probability ``quantile`` over every sample and location of the layer's own resolution; its activation map is
upsampled (bilinear) to the masks' size and thresholded there; the IoU of unit ``u`` and concept ``c`` is pooled
over the whole sample set: ``Σ_n |{a_u,n > t_u} ∩ M_c,n| / Σ_n |{a_u,n > t_u} ∪ M_c,n|``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.metrics.bootstrap import bootstrap_interval


def unit_thresholds(acts: torch.Tensor, quantile: float) -> torch.Tensor:
    """``t_u`` [U]: the ``1 − quantile`` quantile of unit ``u``'s activations over samples and locations.

    ``acts`` [N, U, h, w] (or [N, U]). Uses ``torch.quantile``'s linear interpolation, in float64, on at most 2^24
    values a unit (a seeded subsample above that: torch.quantile's input limit)."""
    flat = acts.transpose(0, 1).reshape(acts.shape[1], -1).double()
    limit = 2 ** 24 - 1
    if flat.shape[1] > limit:
        g = torch.Generator().manual_seed(0)
        flat = flat[:, torch.randperm(flat.shape[1], generator=g)[:limit]]
    return torch.quantile(flat, 1.0 - quantile, dim=1)


def unit_levels(acts: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """[U]: each unit's mean activation over the samples and locations where it exceeds its threshold (the
    threshold itself where it never does): the "on" level an insertion sets. The threshold alone is too low for
    a sparse unit: a ReLU unit active at fewer than ``quantile`` of its locations has threshold 0."""
    flat = acts.transpose(0, 1).reshape(acts.shape[1], -1).double()
    above = flat > thresholds.double()[:, None]
    count = above.sum(1)
    mean = torch.where(above, flat, torch.zeros_like(flat)).sum(1) / count.clamp(min=1)
    return torch.where(count > 0, mean, thresholds.double())


def unit_masks(acts: torch.Tensor, thresholds: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """bool [N, U, H, W]: bilinear upsampling of ``acts`` [N, U, h, w] to ``size``, above each unit's threshold.
    A layer without locations ([N, U]) is one location covering the whole image."""
    if acts.dim() == 2:
        acts = acts[:, :, None, None]
    up = F.interpolate(acts.float(), size=size, mode="bilinear", align_corners=False) if acts.shape[-2:] != size \
        else acts.float()
    return up > thresholds.to(up.dtype).view(1, -1, 1, 1)


class IoUTable:
    """Pooled intersections and unions of unit masks with concept masks, accumulated batch by batch."""

    def __init__(self, units: int, concepts: int) -> None:
        self.inter = torch.zeros(units, concepts, dtype=torch.float64)
        self.unit_area = torch.zeros(units, dtype=torch.float64)
        self.concept_area = torch.zeros(concepts, dtype=torch.float64)

    def add(self, units: torch.Tensor, concepts: torch.Tensor) -> None:
        """``units`` bool [N, U, H, W], ``concepts`` bool [N, C, H, W] of the same samples."""
        # counts of 0/1 products: exact in float32 up to 2^24 pixels a batch (4x less memory traffic than float64)
        dtype = torch.float32 if units[:, 0].numel() <= 2 ** 24 else torch.float64
        u = units.transpose(0, 1).reshape(units.shape[1], -1).to(dtype)
        c = concepts.transpose(0, 1).reshape(concepts.shape[1], -1).to(dtype)
        self.inter += (u @ c.T).double()
        self.unit_area += u.sum(1, dtype=torch.float64)
        self.concept_area += c.sum(1, dtype=torch.float64)

    def iou(self) -> torch.Tensor:
        """[U, C]; 0 where both masks are empty."""
        union = self.unit_area[:, None] + self.concept_area[None, :] - self.inter
        return torch.where(union > 0, self.inter / union.clamp(min=1), torch.zeros_like(union))


def iou(units: torch.Tensor, concepts: torch.Tensor) -> torch.Tensor:
    """Pooled IoU [U, C] of bool masks ``units`` [N, U, H, W] and ``concepts`` [N, C, H, W]."""
    t = IoUTable(units.shape[1], concepts.shape[1])
    t.add(units, concepts)
    return t.iou()


def concept_fractions(concepts: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """float64 [N, C]: the fraction of each sample's pixels (of ``region`` [N, H, W] bool, when given) that each
    concept's mask covers."""
    c = concepts.double()
    if region is None:
        return c.mean(dim=(2, 3))
    r = region[:, None].double()
    return (c * r).sum(dim=(2, 3)) / r.sum(dim=(2, 3)).clamp(min=1)


def relative_drop(before: np.ndarray, after: np.ndarray) -> float:
    """``1 − Σ after / Σ before``: the relative drop of a concept's pixel count over the sample set (NaN if it
    never appears before)."""
    b = float(np.sum(before))
    return float("nan") if b == 0 else 1.0 - float(np.sum(after)) / b


def bootstrap_drop(before: np.ndarray, after: np.ndarray, resamples: int, confidence: float,
                   seed: int) -> tuple[float, float | None, float | None, dict[str, Any]]:
    """:func:`relative_drop` and its bootstrap interval: samples (pairs of before and after) resampled with
    replacement, through bench.metrics.bootstrap's bias-shifted percentile interval."""
    point = relative_drop(before, after)
    if resamples <= 1 or not np.isfinite(point):
        return point, None, None, {}
    pairs = np.stack([before, after], 1)

    def stat(p: np.ndarray, _b: int) -> float:
        s = p[:, 0].sum()
        return 0.0 if s == 0 else 1.0 - p[:, 1].sum() / s

    lo, hi, info = bootstrap_interval(stat, pairs, resamples, confidence, seed, point)
    return point, lo, hi, {**info, "resampled": "samples (pairs of before and after)"}


def bootstrap_mean(values: np.ndarray, resamples: int, confidence: float,
                   seed: int) -> tuple[float, float | None, float | None, dict[str, Any]]:
    """The mean of per-sample ``values`` and its bootstrap interval (samples resampled with replacement)."""
    point = float(np.mean(values)) if len(values) else float("nan")
    if resamples <= 1 or not len(values):
        return point, None, None, {}
    lo, hi, info = bootstrap_interval(lambda v, _b: float(v.mean()), np.asarray(values), resamples, confidence,
                                      seed, point)
    return point, lo, hi, {**info, "resampled": "samples"}
