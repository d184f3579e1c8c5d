"""The protocol record attached to every image-metric number, and the named protocol presets.

Two numbers may be compared only when their protocols are equal: same feature network and weights, same layer,
same preprocessing and quantization, same reference and same sample counts (FID is biased in N). A preset names
the reference tool whose numbers a backbone reproduces; it maps to exactly one registered backbone, so the
backbone registry stays the one place where feature networks live.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.backbones.base import Backbone
from bench.errors import ConfigError, ProtocolMismatchError, did_you_mean

QUANTIZATION = "round-half-even to uint8 after clipping (bench.images.to_uint8); uint8 passes through"


@dataclass(frozen=True)
class ProtocolPreset:
    """A named protocol: which backbone reproduces which tool's numbers."""

    name: str
    backbone: str
    anchor: str
    description: str
    #: the tool's own conventions for metrics it computes differently from genbench's defaults (metric → options);
    #: a suite's explicit options win. Applied by bench.plan wherever the task names this protocol.
    metric_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: what ``genbench score images --protocol NAME`` computes without metric flags (the tool's own report)
    score_metrics: tuple[str, ...] = ("fid",)

    def defaults_for(self, metric: str) -> dict[str, Any]:
        return dict(self.metric_defaults.get(metric, {}))


PRESETS: dict[str, ProtocolPreset] = {p.name: p for p in (
    ProtocolPreset("tf-compat", "inception-v3-compat", "torch-fidelity 0.4.0 (= original TF FID/IS/KID)",
                   "TF1-compatible bilinear resize to 299 (no antialias), 2048-d pool, unbiased logits for IS"),
    ProtocolPreset("clean", "inception-v3-clean", "clean-fid 0.1.35 mode=clean",
                   "PIL bicubic resize per channel on float32, StyleGAN2-ADA TorchScript Inception"),
    ProtocolPreset("legacy-tf", "inception-v3-legacy-tf", "clean-fid 0.1.35 mode=legacy_tensorflow",
                   "TorchScript Inception with its internal resize"),
    ProtocolPreset("legacy-pytorch", "inception-v3-legacy-pytorch", "pytorch-fid 0.3 / clean-fid mode=legacy_pytorch",
                   "torch bilinear align_corners=False, pytorch-fid FID Inception on x/255"),
    ProtocolPreset("tm-antialias", "inception-v3-tm-antialias", "torchmetrics>=1.8 FrechetInceptionDistance() default",
                   "torch bilinear antialias=True resize, torch-fidelity weights"),
    ProtocolPreset("adm", "inception-v3-adm", "OpenAI guided-diffusion evaluations/evaluator.py (ADM; TF Inception "
                   "2015-12-05)", "inception-v3-compat's pipeline; sFID on mixed_6/conv[:7]; a reference batch's stored "
                   "mu/sigma/mu_s/sigma_s for FID/sFID; IS over 5,000-sample splits in file order",
                   metric_defaults={"isc": {"split_size": 5000, "shuffle": False}},
                   score_metrics=("isc", "fid", "sfid", "prc")),
    ProtocolPreset("cmmd", "clip-vit-l14-336", "google-research cmmd (Jayasumana et al. 2024), "
                   "openai/clip-vit-large-patch14-336 via transformers",
                   "central square crop, PIL bicubic 336, CLIPImageProcessor normalisation, L2-normalised image_embeds",
                   score_metrics=("cmmd",)),
    ProtocolPreset("digits", "digits", "genbench embedded digits network", "offline stand-in, 8x8 digits"),
    ProtocolPreset("clip-fd", "clip", "clean-fid 0.1.35 model_name=clip_vit_b_32 (open_clip ViT-B-32 openai, QuickGELU)",
                   "open_clip's own transform (bicubic shortest side 224, centre crop), encode_image, 512-d"),
    ProtocolPreset("fd-dinov2", "dinov2", "dgm-eval FD_DINOv2 (Stein et al. 2023), DINOv2 ViT-L/14 via timm",
                   "PIL bicubic resize to 224x224, ImageNet normalisation, CLS token after final norm, 1024-d"),
)}

#: presets named in issues whose backbones are not implemented yet (asking for them says so rather than guessing)
PLANNED_PRESETS: dict[str, str] = {}


def get_preset(name: str) -> ProtocolPreset:
    if name in PRESETS:
        return PRESETS[name]
    if name in PLANNED_PRESETS:
        raise ConfigError(f"protocol '{name}' ({PLANNED_PRESETS[name]}) is not implemented yet")
    raise ConfigError(f"unknown protocol '{name}'{did_you_mean(name, [*PRESETS, *PLANNED_PRESETS])}")


def preset_for_backbone(backbone: str) -> str | None:
    return next((p.name for p in PRESETS.values() if p.backbone == backbone), None)


def make_protocol(backbone: Backbone, layer: str, reference_id: str, n: int, n_ref: int | None) -> dict[str, Any]:
    d = backbone.describe()
    return {
        "name": preset_for_backbone(d["backbone"]),
        "backbone": d["backbone"],
        "weights_sha256": d["weights_sha256"],
        "layer": layer,
        "preprocessing": d["preprocessing"],
        "quantization": QUANTIZATION,
        "reference": reference_id,
        "n": n,
        "n_ref": n_ref,
    }


def protocol_id(protocol: dict[str, Any]) -> str:
    """Short id of everything that makes numbers comparable. The layer is left out: it is fixed per metric
    (FID always reads the pool layer, IS the logits), so it never varies within one metric's column."""
    core = {k: v for k, v in protocol.items() if k != "layer"}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]


def require_same_protocol(a: dict[str, Any], b: dict[str, Any], what: str = "values") -> None:
    """Refuse to compare two numbers of different protocols, naming the fields that differ."""
    keys = sorted((set(a) | set(b)) - {"layer"})
    diff = [k for k in keys if a.get(k) != b.get(k)]
    if diff:
        parts = ", ".join(f"{k}: {_short(a.get(k))} vs {_short(b.get(k))}" for k in diff)
        raise ProtocolMismatchError(f"cannot compare {what} computed under different protocols ({parts})")


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v)
    return s if len(s) <= 40 else s[:37] + "..."
