"""Text-to-image metrics beyond FID/CLIP-score: attribute accuracy (shapes) and per-prompt diversity.

Attribute accuracy reads each generated image back with the shapes attribute network and compares, per
attribute, the *set* read back with the set the prompt asked for (count; colours; shapes; occupied grid cells);
``attr_all`` needs all four right. Its ceiling is the reader's own accuracy on real images (in the MANIFEST).
Prompts must be shapes canonical captions (``bench.shapes.world.parse_prompt``).

Prompt diversity is the mean pairwise cosine distance, in the task backbone's embedding, between the samples of
one prompt, averaged over prompts. Higher means more varied outputs for the same prompt; a model that ignores the
prompt is trivially diverse, so read it only next to CLIP-score and attribute accuracy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.errors import InputError
from bench.features import Features
from bench.metrics.base import Metric, MetricContext, MetricValue, OutputInfo
from bench.shapes import world

ATTRS = ("count", "colour", "shape", "position")


def attribute_hits(read: dict[str, torch.Tensor], scenes: list[world.Scene]) -> dict[str, np.ndarray]:
    """Per-image booleans: does the read-back set equal the scene's, per attribute, and all together."""
    t = torch.from_numpy(np.stack([world.attribute_targets(s) for s in scenes])).bool()
    hits = {
        "count": (read["count"] == t[:, :3].float().argmax(1) + 1),
        "colour": (read["colours"] == t[:, 3:9]).all(1),
        "shape": (read["shapes"] == t[:, 9:12]).all(1),
        "position": (read["cells"] == t[:, 12:]).all(1),
    }
    out = {k: v.numpy() for k, v in hits.items()}
    out["all"] = np.logical_and.reduce([out[k] for k in ATTRS])
    return out


class AttributeAccuracy(Metric):
    name = "attribute-accuracy"
    description = "shapes attribute read-back accuracy of generated images (count, colour, shape, position, all)"
    task_kinds = frozenset({"text-to-image"})
    needs_reference = False
    outputs = {f"attr_{k}": OutputInfo(True, "fraction", f"{k} read back equals the prompt's") for k in (*ATTRS, "all")}

    def compute(self, gen: Features, ref: Features | None, *, layer: str, seed: int,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        from bench.metrics.vl import bootstrap_ci
        from bench.shapes import zoo

        assert ctx is not None
        scenes = []
        for i, p in enumerate(ctx.hypotheses):
            s = world.parse_prompt(p)
            if s is None:
                raise InputError(f"attribute-accuracy: prompt {i} ({p!r}) is not a shapes canonical caption")
            scenes.append(s)
        net, sha = zoo.load("attribute-net")
        hits = attribute_hits(net.read(ctx.images), scenes)  # type: ignore[operator]
        out = []
        for k in (*ATTRS, "all"):
            h = hits[k].astype(np.float64)
            lo, hi = bootstrap_ci(h, seed)
            out.append(MetricValue(f"attr_{k}", float(h.mean()), lo, hi,
                                   extras={"per_sample": h.tolist(), "reader_sha256": sha}))
        return out


class PromptDiversity(Metric):
    name = "prompt-diversity"
    description = "mean pairwise cosine distance between samples of the same prompt (backbone embedding)"
    task_kinds = frozenset({"text-to-image"})
    needs_reference = False
    outputs = {"prompt_diversity": OutputInfo(True, "", "per-prompt perceptual diversity")}

    def compute(self, gen: Features, ref: Features | None, *, layer: str, seed: int,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        e = gen["image_embed"].astype(np.float32)
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        prompt_of = gen["prompt_index"]
        per: list[float] = []
        for p in np.unique(prompt_of):
            x = e[prompt_of == p]
            if len(x) < 2:
                raise InputError("prompt-diversity needs samples_per_prompt >= 2")
            s = x @ x.T
            k = len(x)
            per.append(float(1 - (s.sum() - np.trace(s)) / (k * (k - 1))))
        extras: dict[str, Any] = {"per_sample": per}
        return [MetricValue("prompt_diversity", float(np.mean(per)), extras=extras)]
