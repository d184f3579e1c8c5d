"""Text-to-image metrics beyond FID/CLIP-score: attribute accuracy (shapes) and per-prompt diversity.

Attribute accuracy reads each generated image back with the shapes attribute network and compares, per
attribute, the *set* read back with the set the prompt asked for (count; colours; shapes; occupied grid cells);
``attr_all`` needs all four right. Its ceiling is the reader's own accuracy on real images (in the MANIFEST).
Prompts must be shapes canonical captions (``bench.shapes.world.parse_prompt``).

Prompt diversity is per-prompt LPIPS diversity: the mean perceptual distance between the samples of one prompt
(every pair of them, or seeded pairs when there are many), averaged over prompts, with the interval over prompts.
Higher means more varied outputs for the same prompt; 0 means the model ignores its seeds. A model that ignores
the prompt is trivially diverse, so read it only next to CLIP-score and attribute accuracy.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.backbones.lpips_nets import WEIGHTS_FILES as LPIPS_WEIGHTS
from bench.errors import InputError, WeightsError
from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet
from bench.metrics.diversity import PairDistance
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
    name = "attribute_accuracy"
    seed_name = "attribute-accuracy"  # its bootstrap intervals are seeded by its first name
    description = "shapes attribute read-back accuracy of generated images (count, colour, shape, position, all)"
    requires = frozenset({"images", "texts"})
    outputs = {f"attr_{k}": OutputInfo(True, "fraction", f"{k} read back equals the prompt's") for k in (*ATTRS, "all")}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        from bench.metrics.vl import bootstrap_ci
        from bench.shapes import zoo

        if samples.texts is None or samples.images is None:
            raise InputError("attribute_accuracy needs the generated images and their prompts")
        scenes = []
        for i, p in enumerate(samples.texts):
            s = world.parse_prompt(p)
            if s is None:
                raise InputError(f"attribute_accuracy: prompt {i} ({p!r}) is not a shapes canonical caption")
            scenes.append(s)
        net, sha = zoo.load("attribute-net")
        hits = attribute_hits(net.read(samples.images), scenes)  # type: ignore[operator]
        out = []
        for k in (*ATTRS, "all"):
            h = hits[k].astype(np.float64)
            lo, hi = bootstrap_ci(h, seed)
            if sink is not None:
                sink.per_sample(f"attr_{k}", h)
            out.append(MetricValue(f"attr_{k}", float(h.mean()), lo, hi, extras={"reader_sha256": sha}))
        return out


def shapes_feature_distance(net: torch.nn.Module) -> PairDistance:
    """LPIPS(lpips=False)-style distance on the shapes dual encoder's image tower: the ReLU maps of its three conv
    blocks (32, 16 and 8 px) and its 128-d vector, each unit-normalised across channels at every position
    (``lpips.normalize_tensor``), squared differences summed over channels, averaged over positions and summed
    over the four layers. No learned linear weights: the digits analogue is ``diversity.digits_feature_distance``."""
    from lpips import normalize_tensor, spatial_average

    from bench.shapes.models import ConvTower, to_input

    tower = net.image_tower
    assert isinstance(tower, ConvTower)

    def acts(x: torch.Tensor) -> list[torch.Tensor]:
        h1 = F.relu(tower.c1(to_input(x)))
        h2 = F.relu(tower.c2(F.max_pool2d(h1, 2)))
        h3 = F.relu(tower.c3(F.max_pool2d(h2, 2)))
        v = F.relu(tower.fc(F.max_pool2d(h3, 2).flatten(1)))
        return [h1, h2, h3, v[:, :, None, None]]

    @torch.no_grad()
    def dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(a.shape[0], dtype=torch.float64)
        for xa, xb in zip(acts(a), acts(b), strict=True):
            d = (normalize_tensor(xa) - normalize_tensor(xb)) ** 2
            total += spatial_average(d.sum(1, keepdim=True)).flatten().double()
        return total

    return dist


class PromptDiversityOpts(Options):
    distance: Literal["auto", "shapes-features", "lpips-alex", "lpips-vgg"] = Field(
        default="auto", description="auto: lpips-alex when torchvision's AlexNet weights are present, else shapes-features")
    max_pairs: int = Field(default=16, ge=1, description="per prompt: every pair of its samples when there are at most "
                                                         "this many, else this many seeded pairs")
    size: int = Field(default=64, ge=32, description="side in px that images are resized to for lpips-* nets")
    weights: str | None = Field(default=None, description="explicit path of the torchvision backbone file (lpips-*)")


DISTANCE_OUTPUT = {"lpips-alex": "prompt_lpips", "lpips-vgg": "prompt_lpips", "shapes-features": "prompt_perceptual_shapes"}


def _world_reference_images(prompts: list[str] | None, prompt_of: np.ndarray) -> torch.Tensor | None:
    """Per-prompt diversity's reference where one exists: every prompt a shapes canonical caption, each sample
    position re-rendered by the world with its own seed. None otherwise (real captions have one image each)."""
    from bench.seeding import derive_seed

    if prompts is None or len(prompts) != len(prompt_of):
        return None
    out = []
    for i, (p, k) in enumerate(zip(prompts, prompt_of, strict=True)):
        img = world.render_prompt(p, derive_seed("prompt-diversity-reference", int(k), i))
        if img is None:
            return None
        out.append(img)
    return torch.from_numpy(np.stack(out))


class PromptDiversity(Metric[PromptDiversityOpts]):
    """Per-prompt LPIPS diversity: the mean perceptual distance between samples of the same prompt, averaged over
    prompts. Raw diversity has no "better" direction on its own: a model that ignores its prompt is as varied as
    the whole data. Where the world can render each prompt afresh (shapes), ``prompt_diversity_gap`` compares it
    with the real variability of that prompt: |ln ratio|, 0 best, large for collapse and for prompt-ignoring. The distance is ``lpips_diversity``'s machinery (:mod:`bench.metrics.diversity`: the lpips package on
    resolved torchvision weights) or, offline, an LPIPS-style distance on the shapes dual encoder reported under its
    own name (``prompt_perceptual_shapes``); ``extras.distance`` says which, ``extras.fallback_reason`` why."""

    name = "prompt_diversity"
    description = "mean pairwise LPIPS (or the shapes LPIPS-style distance) between samples of the same prompt"
    weights_files = LPIPS_WEIGHTS
    requires = frozenset({"images", "texts", "prompt_index"})
    outputs = {
        "prompt_lpips": OutputInfo(True, "", "mean pairwise LPIPS among samples of one prompt, averaged over prompts",
                                   ranked=False),
        "prompt_perceptual_shapes": OutputInfo(True, "", "the same with an LPIPS-style distance on the shapes dual "
                                                         "encoder (no learned weights): offline stand-in for LPIPS",
                                               ranked=False),
        "prompt_diversity_gap": OutputInfo(False, "", "mean over prompts of |ln(diversity / the world's own diversity "
                                                      "for that prompt)|: 0 = as varied as real scenes of the prompt"),
    }
    Opts = PromptDiversityOpts

    def _distance(self) -> tuple[str, PairDistance, dict[str, Any]]:
        from bench.backbones.lpips_nets import NETS, load_lpips
        from bench.metrics.diversity import lpips_distance
        from bench.weights import resolve

        o = self.opts
        choice, extras = o.distance, {}
        if choice == "auto":
            try:
                resolve(NETS["alex"][1], o.weights, download=False)
                choice = "lpips-alex"
            except WeightsError as exc:
                choice, extras = "shapes-features", {"fallback_reason": str(exc)}
        if choice == "shapes-features":
            from bench.shapes import zoo

            net, sha = zoo.load("dual-encoder")
            return choice, shapes_feature_distance(net), {**extras, "weights_sha256": sha}
        return choice, lpips_distance(load_lpips(choice.split("-", 1)[1], o.weights), o.size), {**extras, "size": o.size}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        from bench.metrics.diversity import mean_ci, pair_indices

        if samples.images is None or samples.prompt_index is None:
            raise InputError("prompt_diversity needs the generated images and the prompt of each")
        images = samples.images
        o = self.opts
        name, dist, extras = self._distance()
        prompt_of = np.asarray(samples.prompt_index)
        ia, ib, owner = [], [], []
        for p in np.unique(prompt_of):
            idx = np.flatnonzero(prompt_of == p)
            k = len(idx)
            if k < 2:
                raise InputError("prompt_diversity needs samples_per_prompt >= 2")
            if k * (k - 1) // 2 <= o.max_pairs:
                i, j = np.triu_indices(k, 1)
            else:
                i, j = pair_indices(k, o.max_pairs)  # seeded by (k, pairs) only: the same pairs for every model
            ia.append(idx[i])
            ib.append(idx[j])
            owner.append(np.full(len(i), p))
        a, b, own = np.concatenate(ia), np.concatenate(ib), np.concatenate(owner)
        d = np.concatenate([dist(images[a[s: s + 512]], images[b[s: s + 512]]).numpy()
                            for s in range(0, len(a), 512)])
        per = np.array([d[own == p].mean() for p in np.unique(prompt_of)])
        m, lo, hi = mean_ci(per)
        extras.update(distance=name, pairs_per_prompt=int(len(a) // len(per)))
        if sink is not None:
            sink.per_sample(DISTANCE_OUTPUT[name], per)
        out = [MetricValue(DISTANCE_OUTPUT[name], m, lo, hi, extras=extras)]
        reference = _world_reference_images(samples.texts, prompt_of)
        if reference is not None:
            # the same pairs, the same distance, on the world's own renderings of each prompt (fresh jitter per
            # sample, the same seeds for every model): how varied real scenes of that prompt are
            dr = np.concatenate([dist(reference[a[s: s + 512]], reference[b[s: s + 512]]).numpy()
                                 for s in range(0, len(a), 512)])
            ref_per = np.array([dr[own == p].mean() for p in np.unique(prompt_of)])
            gap = np.abs(np.log(np.maximum(per, 1e-12) / np.maximum(ref_per, 1e-12)))
            g, glo, ghi = mean_ci(gap)
            if sink is not None:
                sink.per_sample("prompt_diversity_gap", gap)
            out.append(MetricValue("prompt_diversity_gap", g, glo, ghi, extras={
                "distance": name, "reference": "shapes world: each prompt's scene rendered with fresh jitter",
                "reference_diversity": float(ref_per.mean())}))
        return out
