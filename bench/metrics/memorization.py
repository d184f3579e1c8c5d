"""Memorization: how close samples are to their nearest TRAINING image, and how many are near-copies.

Why: a model that replays its training set gets an excellent FID against data like its training set; only a
comparison with the training images themselves exposes it. The training set is a suite dataset named in the
options (``memorization: {train: digits-train}``), checked to exist by ``genbench validate``.

Spaces (option ``space``; the other one is reported in extras too when it is cheap: pixel space is computed
alongside features only for images of at most ``PIXEL_EXTRAS_MAX`` values, e.g. up to 64 × 64 grey):

* ``features`` (default): Euclidean distance between the backbone's distribution features (the same layer FID
  reads). Robust to a pixel shift or re-quantisation of a copy.
* ``pixels``: Euclidean distance between images scaled to [0, 1] and flattened (only when the samples and the
  training images have the same shape): catches exact copies literally.

Near-copy threshold, relative to the training set itself: ``tau`` = the ``quantile`` (default 0.05) of the
training images' own leave-one-out nearest-neighbour distances. A sample is a near-copy when its nearest
training distance is ``<= tau``, i.e. it is closer to a training image than 95 % of training images are to
their nearest other training image. Held-out real data therefore scores ≈ ``quantile``; a copier scores 1.

Rows: ``near_copy_fraction`` and ``nn_distance_ratio`` = median(sample → train NN distance) / median(train
leave-one-out NN distance) (≈ 1 for fresh real data, → 0 for copies). A grid of the ``grid`` samples closest to
their training neighbour, each followed by that neighbour, is saved as ``samples/<task>/<model>-nn.png``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.errors import InputError, did_you_mean
from bench.images import make_grid, match_channels
from bench.metrics.base import (
    ArtifactSink,
    Metric,
    MetricValue,
    Options,
    OutputInfo,
    Reference,
    Resources,
    SampleSet,
    subset_size,
)
from bench.metrics.neighbours import knn

QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
PIXEL_EXTRAS_MAX = 4096  # values per image; larger images get pixel distances only when space: pixels


def pixels(images: torch.Tensor) -> np.ndarray:
    return (images.reshape(images.shape[0], -1).double() / 255.0).numpy()


class MemorizationOpts(Options):
    train: str = Field(description="the suite dataset the model was trained on")
    space: Literal["features", "pixels"] = "features"
    quantile: float = Field(default=0.05, gt=0, lt=1,
                            description="near-copy threshold: this quantile of the train set's own NN distances")
    grid: int = Field(default=16, ge=0, description="sample/neighbour pairs in the saved grid (0: none)")


class Memorization(Metric[MemorizationOpts]):
    name = "memorization"
    description = "Nearest-training-neighbour distances and the fraction of near-copies of training images"
    outputs = {
        "near_copy_fraction": OutputInfo(higher_is_better=False,
                                         description="samples closer to a training image than tau"),
        "nn_distance_ratio": OutputInfo(higher_is_better=True, unit="× train NN",
                                        description="median NN distance to train / train's own median NN distance"),
    }
    Opts = MemorizationOpts

    def check(self, datasets: Collection[str]) -> list[tuple[tuple[Any, ...], str]]:
        train = self.opts.train
        if train not in datasets:
            return [(("train",), f"unknown dataset '{train}'{did_you_mean(train, datasets)}")]
        return []

    requires = frozenset({"features", "images"})

    def images_needed(self, n: int, item_bytes: int) -> int:
        # pixel distances need every sample (small images: a 50,000 digits-sized set is 3 MB); otherwise the images
        # only make the grid, drawn from the first samples that fit in the subset budget
        if self.opts.space == "pixels" or item_bytes <= PIXEL_EXTRAS_MAX:
            return n
        return subset_size(n, item_bytes)

    def fit(self, ref: Reference, resources: Resources) -> dict[str, Any]:
        """Training images, their features and leave-one-out NN distances: once per task."""
        o = self.opts
        ds = resources.dataset(o.train)
        feats = resources.features(o.train)[ref.layer]
        out: dict[str, Any] = {"images": ds.images, "id": ds.id, "features": feats,
                               "loo_features": knn(feats, feats, 1, exclude_self=True)[0][:, 0]}
        if o.space == "pixels" or ds.images[0].numel() <= PIXEL_EXTRAS_MAX:
            px = pixels(ds.images)
            out.update(pixels=px, loo_pixels=knn(px, px, 1, exclude_self=True)[0][:, 0])
        return out

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        if samples.images is None or state is None:
            raise InputError("memorization needs the generated images and its fitted training side (Metric.fit)")
        o = self.opts
        tr = state
        images = samples.images
        spaces: dict[str, dict[str, Any]] = {}
        d, idx = knn(samples.x, tr["features"], 1)
        spaces["features"] = {"nn": d[:, 0], "idx": idx[:, 0], "loo": tr["loo_features"]}
        if "pixels" in tr and tuple(images.shape[1:]) == tuple(tr["images"].shape[1:]) and len(images) == len(samples.x):
            d, idx = knn(pixels(images), tr["pixels"], 1)
            spaces["pixels"] = {"nn": d[:, 0], "idx": idx[:, 0], "loo": tr["loo_pixels"]}
        if o.space not in spaces:
            raise InputError(f"memorization in pixel space needs samples shaped like '{o.train}' "
                             f"({tuple(tr['images'].shape[1:])}), got {tuple(images.shape[1:])}")
        summary: dict[str, Any] = {}
        for name, s in spaces.items():
            tau = float(np.quantile(s["loo"], o.quantile))
            s["fraction"] = float((s["nn"] <= tau).mean())
            s["ratio"] = float(np.median(s["nn"]) / max(float(np.median(s["loo"])), 1e-12))
            summary[name] = {"near_copy_fraction": s["fraction"], "nn_distance_ratio": s["ratio"], "tau": tau,
                             "nn_quantiles": dict(zip(map(str, QUANTILES), np.quantile(s["nn"], QUANTILES).tolist(), strict=True)),
                             "train_nn_median": float(np.median(s["loo"]))}
        main = spaces[o.space]
        grid_path = None
        if o.grid and sink is not None:
            grid_path = sink.image("nn", self._grid(images, main["nn"], main["idx"], tr["images"]))
        extras = {"train": o.train, "train_id": tr["id"], "space": o.space, "quantile": o.quantile,
                  "spaces": summary, "grid": grid_path}
        return [MetricValue("near_copy_fraction", main["fraction"], extras=extras),
                MetricValue("nn_distance_ratio", main["ratio"], extras=extras)]

    def _grid(self, images: torch.Tensor, nn: np.ndarray, idx: np.ndarray, train_images: torch.Tensor) -> torch.Tensor:
        """The closest samples among the held ones (the first ``len(images)``), each followed by its nearest training
        image (4 pairs per row)."""
        o = self.opts
        order = np.argsort(nn[: len(images)], kind="stable")[: o.grid]
        samples = images[torch.from_numpy(order)]
        neighbours = match_channels(train_images[torch.from_numpy(idx[order])], samples.shape[1])
        if neighbours.shape[-2:] != samples.shape[-2:]:
            neighbours = F.interpolate(neighbours.float(), size=samples.shape[-2:], mode="nearest").round().to(torch.uint8)
        pairs = torch.stack([samples, neighbours], 1).reshape(-1, *samples.shape[1:])
        return make_grid(pairs, ncol=8, scale=max(1, 64 // max(samples.shape[-1], 1)))
