"""One dissection of one generator layer: the measurements, independent of runs and suites.

The caller supplies ``generate(edit_for, into)``: the task's N samples (always the same seeds, so every edited set is
paired sample by sample with the unedited one) as uint8 images, with the layer's output replaced by
``edit_for(indices)(output)`` for the batch of sample ``indices`` when ``edit_for`` is given, and the layer's
unedited output appended to ``into`` when that is given. Everything else happens here:

1. **Dissection.** Unedited samples, their layer activations ``A [N, U, h, w]`` and their concept masks
   ``M [N, C, H, W]`` (the segmenter). Per unit the threshold ``t_u`` (top ``quantile`` of its activations), the
   unit masks ``upsample(A_u) > t_u`` and the pooled IoU of every unit with every concept (bench.dissection.measures).
   A unit is *interpretable* when its best IoU exceeds ``iou_threshold``; a concept's units are ranked by IoU.
2. **Ablation.** For each concept c present in the samples and each k of ``curve`` (and ``top_k``): the samples again
   with c's k best units set to 0 everywhere (``a = 1, r = 0``); the relative drop of c's pixel count,
   ``1 − Σ_n after / Σ_n before``. The baseline: ``random_sets`` sets of k units drawn at random from the layer
   (seeded; the same sets for every concept), each ablated the same way, the drop of their mean.
3. **Insertion.** For each concept: in every sample one ``insert_size`` × ``insert_size`` window of the layer's
   locations (its position drawn per sample, seeded), c's ``top_k`` units set to their "on" level there
   (``a = 1`` in the window, 0 elsewhere; ``r`` = the unit's mean activation above its threshold); the gain is the
   concept's share of the window's image pixels after minus before. The baseline: the same with ``top_k`` random
   units (their own levels).

Intervals: every drop and gain carries a bootstrap interval over samples (bench.metrics.bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from bench.dissection.hooks import UnitEdit
from bench.dissection.measures import (
    IoUTable,
    bootstrap_drop,
    bootstrap_mean,
    concept_fractions,
    unit_levels,
    unit_masks,
    unit_thresholds,
)
from bench.errors import InputError
from bench.seeding import derive_seed

EditFor = Callable[[range], UnitEdit | None]
Generate = Callable[[EditFor | None, list[torch.Tensor] | None], torch.Tensor]


class Segmenter(Protocol):
    @property
    def concepts(self) -> tuple[str, ...]: ...

    def masks(self, images: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class StudyConfig:
    quantile: float = 0.005
    iou_threshold: float = 0.05
    top_k: int = 4
    curve: tuple[int, ...] = (1, 2, 4, 8, 16)
    random_sets: int = 3
    insert_size: int = 2
    bootstrap: int = 200
    confidence: float = 0.95
    best_units: int = 3
    seed: int = 0


@dataclass
class Estimate:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConceptResult:
    """Everything measured for one concept."""

    name: str
    fraction: float  #: share of all generated pixels the segmenter gives it
    best_units: list[tuple[int, float]]  #: (unit, IoU), best first
    top_units: list[int]  #: the ``top_k`` units ablated and inserted
    drop: Estimate | None = None
    random_drop: Estimate | None = None
    gain: Estimate | None = None
    random_gain: Estimate | None = None
    curve: dict[int, float] = field(default_factory=dict)  #: k → targeted drop
    ablated: torch.Tensor | None = None  #: the samples with ``top_units`` ablated (uint8)
    inserted: torch.Tensor | None = None  #: the samples with ``top_units`` inserted (uint8)
    windows: torch.Tensor | None = None  #: bool [N, H, W]: each sample's insertion window in image pixels


@dataclass
class StudyResult:
    concepts: tuple[str, ...]
    units: int
    layer_shape: tuple[int, ...]  #: one sample's layer output, (U, h, w) or (U,)
    thresholds: torch.Tensor  #: [U]
    iou: torch.Tensor  #: [U, C]
    images: torch.Tensor  #: the unedited samples
    per_concept: dict[str, ConceptResult]
    random_curve: dict[int, dict[str, float]]  #: k → concept → drop for random units
    random_units: dict[int, list[list[int]]]  #: k → the random unit sets
    config: StudyConfig
    sample_fractions: np.ndarray  #: [N, C]: each unedited sample's share of pixels per concept

    @property
    def interpretable(self) -> torch.Tensor:
        """bool [U]: best IoU above the threshold."""
        return self.iou.max(dim=1).values > self.config.iou_threshold

    def best_concept(self) -> list[tuple[str, float]]:
        """Per unit: its best concept and IoU."""
        v, i = self.iou.max(dim=1)
        return [(self.concepts[int(c)], float(x)) for x, c in zip(v, i, strict=True)]


def _masks_in_chunks(segmenter: Segmenter, images: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    return torch.cat([segmenter.masks(images[s: s + chunk]) for s in range(0, images.shape[0], chunk)])


def run_study(generate: Generate, segmenter: Segmenter, cfg: StudyConfig,
              progress: Callable[[str], None] | None = None) -> StudyResult:
    """Dissect, ablate and insert as the module docstring says."""
    say = progress or (lambda _m: None)
    concepts = segmenter.concepts
    captured: list[torch.Tensor] = []
    images = generate(None, captured)
    acts = torch.cat(captured)
    if acts.shape[0] != images.shape[0]:
        raise InputError(f"the layer ran on {acts.shape[0]} samples for {images.shape[0]} images: dissection needs a "
                         "generator that runs the layer once per sample")
    n, units = acts.shape[0], acts.shape[1]
    say(f"dissecting {units} units on {n} samples")
    masks = _masks_in_chunks(segmenter, images)
    size = (int(masks.shape[-2]), int(masks.shape[-1]))
    thresholds = unit_thresholds(acts, cfg.quantile)
    table = IoUTable(units, len(concepts))
    for s in range(0, n, 250):
        table.add(unit_masks(acts[s: s + 250], thresholds, size), masks[s: s + 250])
    iou = table.iou()
    levels = unit_levels(acts, thresholds)
    before = concept_fractions(masks).numpy()  # [N, C]

    def fractions(edit_for: EditFor) -> tuple[torch.Tensor, np.ndarray]:
        imgs = generate(edit_for, None)
        return imgs, concept_fractions(_masks_in_chunks(segmenter, imgs)).numpy()

    def ablate(unit_list: list[int]) -> EditFor:
        return lambda _idx: UnitEdit(unit_list, 1.0, 0.0)

    ks = sorted({k for k in (*cfg.curve, cfg.top_k) if 1 <= k <= units})
    # random baseline: the same seeded sets for every concept
    random_units: dict[int, list[list[int]]] = {}
    random_after: dict[int, np.ndarray] = {}  # k → per-sample fractions [N, C], mean over the sets
    for k in ks:
        sets = [sorted(np.random.default_rng(derive_seed(cfg.seed, "random-units", k, r)).choice(units, k, replace=False)
                       .tolist()) for r in range(cfg.random_sets)]
        random_units[k] = sets
        say(f"ablating {cfg.random_sets} random sets of {k} units")
        random_after[k] = np.mean([fractions(ablate(u))[1] for u in sets], axis=0)

    # insertion windows: one per sample, seeded, in layer locations
    spatial = acts.dim() == 4
    h, w = (int(acts.shape[2]), int(acts.shape[3])) if spatial else (1, 1)
    s_in = min(cfg.insert_size, h, w)
    rng = np.random.default_rng(derive_seed(cfg.seed, "insert-windows"))
    pos = np.stack([rng.integers(0, h - s_in + 1, n), rng.integers(0, w - s_in + 1, n)], 1)
    layer_win = torch.zeros(n, h, w)
    for i, (y, x) in enumerate(pos):
        layer_win[i, y: y + s_in, x: x + s_in] = 1
    pixel_win = torch.nn.functional.interpolate(layer_win[:, None], size=size, mode="nearest")[:, 0] > 0
    before_win = concept_fractions(masks, pixel_win).numpy()

    def insert(unit_list: list[int]) -> EditFor:
        value = levels[unit_list].float()

        def edit_for(idx: range) -> UnitEdit:
            alpha: torch.Tensor = layer_win[idx.start: idx.stop] if spatial else torch.ones(len(idx))
            return UnitEdit(unit_list, alpha, value)
        return edit_for

    rand_ins = sorted(np.random.default_rng(derive_seed(cfg.seed, "random-insert", cfg.top_k))
                      .choice(units, min(cfg.top_k, units), replace=False).tolist())
    say(f"inserting {len(rand_ins)} random units")
    rand_imgs = generate(insert(rand_ins), None)
    rand_win_after = concept_fractions(_masks_in_chunks(segmenter, rand_imgs), pixel_win).numpy()

    per: dict[str, ConceptResult] = {}
    for ci, name in enumerate(concepts):
        order = torch.argsort(iou[:, ci], descending=True, stable=True).tolist()
        res = ConceptResult(name, float(before[:, ci].mean()),
                            [(u, float(iou[u, ci])) for u in order[: cfg.best_units]], order[: cfg.top_k])
        per[name] = res
        if before[:, ci].sum() == 0:
            continue
        cseed = derive_seed(cfg.seed, "concept", name)
        for k in ks:
            say(f"{name}: ablating its {k} best units")
            imgs, after = fractions(ablate(order[:k]))
            res.curve[k] = float(1 - after[:, ci].sum() / before[:, ci].sum())
            if k == cfg.top_k:
                res.ablated = imgs
                v, lo, hi, info = bootstrap_drop(before[:, ci], after[:, ci], cfg.bootstrap, cfg.confidence, cseed)
                res.drop = Estimate(v, lo, hi, {"bootstrap": info} if info else {})
                v, lo, hi, info = bootstrap_drop(before[:, ci], random_after[k][:, ci], cfg.bootstrap,
                                                 cfg.confidence, cseed + 1)
                res.random_drop = Estimate(v, lo, hi, {"bootstrap": info} if info else {})
        say(f"{name}: inserting its {cfg.top_k} best units")
        ins_imgs = generate(insert(res.top_units), None)
        after_win = concept_fractions(_masks_in_chunks(segmenter, ins_imgs), pixel_win).numpy()
        res.inserted, res.windows = ins_imgs, pixel_win
        v, lo, hi, info = bootstrap_mean(after_win[:, ci] - before_win[:, ci], cfg.bootstrap, cfg.confidence, cseed + 2)
        res.gain = Estimate(v, lo, hi, {"bootstrap": info} if info else {})
        v, lo, hi, info = bootstrap_mean(rand_win_after[:, ci] - before_win[:, ci], cfg.bootstrap, cfg.confidence,
                                         cseed + 3)
        res.random_gain = Estimate(v, lo, hi, {"bootstrap": info} if info else {})
    random_curve = {k: {name: float(1 - random_after[k][:, ci].sum() / before[:, ci].sum())
                        for ci, name in enumerate(concepts) if before[:, ci].sum() > 0} for k in ks}
    return StudyResult(concepts, units, tuple(acts.shape[1:]), thresholds, iou, images, per, random_curve,
                       random_units, cfg, before)
