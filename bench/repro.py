"""What reproducibility checks share: seeded random weights in each backbone's real file format, and every
feature metric on a pair of feature sets.

Why: genbench cannot ship third-party weights, yet its reproducibility claims (batch invariance, the same numbers
on another torch release, tests/test_invariance.py and scripts/repro_matrix.py) must hold for every registered
backbone. Seeded random weights written in the exact format the real file has exercise the same code path (file
parsing, network construction, preprocessing, kernels) as the published weights; only the values differ.
``size="tiny"`` builds the same classes with narrow widths where the real network is too costly for a unit test
(the spec or config says so); ``size="real"`` builds the published architecture.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: feature metrics (or single values of one) whose estimator depends on the order of the samples, and why
#: (tests/test_invariance.py holds every other feature metric's values to sample-order invariance)
ORDER_DEPENDENT: dict[str, str] = {
    "isc": "splits the samples into consecutive groups (after torch-fidelity's seeded shuffle of positions)",
    "kid": "draws its subsets as seeded random positions (torch-fidelity's estimator)",
    "fid_curve": "draws its subsets below n as seeded random positions",
    "vendi_ratio": "divides by the Vendi score of the reference's first n rows when the reference is larger "
                   "(vendi itself is order-free)",
}

#: open_clip config of the tiny CLIP used by ``size="tiny"`` (same classes as ViT-B-32, narrow widths)
TINY_OPEN_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "patch_size": 32,
                                                  "head_width": 32},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1}}


def random_weights(backbone: str, folder: Path, seed: int = 0, size: str = "real") -> tuple[str, str | None]:
    """``(backbone name to instantiate, weights argument)`` for registered backbone ``backbone`` with seeded random
    weights written under ``folder`` in the real file format; bundled networks (digits, shapes-clip) keep their
    shipped weights (weights argument None). ``size``: ``real`` (published architecture) or ``tiny``."""
    folder.mkdir(parents=True, exist_ok=True)
    if backbone in ("digits", "shapes-clip"):
        return backbone, None
    if backbone.startswith("inception-v3-"):
        from bench.parity import write_random_weights

        files = write_random_weights(folder / "inception", seed) if not (folder / "inception").is_dir() else {
            "pth": folder / "inception" / "weights-inception-2015-12-05-6726825d.pth",
            "torchscript": folder / "inception" / "inception-2015-12-05.pt"}
        torchscript = backbone in ("inception-v3-clean", "inception-v3-legacy-tf")
        if torchscript:  # genbench's own random file, written just now: this process vouches for it as code
            from bench.weights import ENV_TRUST_CODE

            named = [p for p in os.environ.get(ENV_TRUST_CODE, "").split(os.pathsep) if p]
            if str(files["torchscript"]) not in named:
                os.environ[ENV_TRUST_CODE] = os.pathsep.join([*named, str(files["torchscript"])])
        return backbone, str(files["torchscript" if torchscript else "pth"])
    if backbone == "vgg16-fidelity":
        import torchvision

        path = folder / "vgg16-397923af.pth"  # torchvision's file name and format
        if not path.is_file():
            torch.manual_seed(seed)
            torch.save(torchvision.models.vgg16(weights=None).state_dict(), path)
        return backbone, str(path)
    if backbone in ("clip", "clip-vit-b32"):
        import open_clip

        if size == "tiny" and backbone == "clip-vit-b32":
            raise ValueError("clip-vit-b32 is OpenAI's ViT-B/32 alone: it has no tiny variant")
        arch = "gb-tiny-clip" if size == "tiny" else "ViT-B-32-quickgelu"
        if size == "tiny":
            (folder / "gb-tiny-clip.json").write_text(json.dumps(TINY_OPEN_CLIP))
            open_clip.add_model_config(folder / "gb-tiny-clip.json")
        path = folder / f"open_clip-{arch}.pt"
        if not path.is_file():
            torch.manual_seed(seed)
            torch.save(open_clip.create_model(arch, pretrained=None).state_dict(), path)
        return ("clip:gb-tiny-clip@openai" if size == "tiny" else backbone), str(path)
    if backbone == "dinov2":
        import timm

        arch = "vit_small_patch14_dinov2" if size == "tiny" else "vit_large_patch14_dinov2"
        path = folder / f"dinov2-{arch}.pth"
        if not path.is_file():
            torch.manual_seed(seed)
            sd = timm.create_model(arch, pretrained=False).state_dict()
            # layer scale away from its 1e-5 init, so every block shapes the output; the hub file has a mask_token
            sd = {k: v + 0.02 * torch.randn_like(v) if k.endswith("gamma") else v for k, v in sd.items()}
            sd["mask_token"] = torch.zeros(1, sd["cls_token"].shape[-1])
            torch.save(sd, path)
        return (f"dinov2:{arch}" if size == "tiny" else backbone), str(path)
    if backbone == "clip-vit-l14-336":
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

        out = folder / f"clip-vit-large-patch14-336-{size}"
        if not (out / "config.json").is_file():
            torch.manual_seed(seed)
            cfg = (CLIPVisionConfig(image_size=336, patch_size=14, hidden_size=32, intermediate_size=64,
                                    num_hidden_layers=2, num_attention_heads=4, projection_dim=16) if size == "tiny"
                   else CLIPVisionConfig(image_size=336, patch_size=14, hidden_size=1024, intermediate_size=4096,
                                         num_hidden_layers=24, num_attention_heads=16, projection_dim=768))
            CLIPVisionModelWithProjection(cfg).eval().save_pretrained(out)
            CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}).save_pretrained(out)
        return backbone, str(out)
    raise ValueError(f"no random-weights recipe for backbone '{backbone}': add one to bench.repro.random_weights")


def feature_metrics(backbone: Any) -> list[tuple[str, str]]:
    """``(metric, layer)`` for every registered metric that reads only features (and the reference's) and whose
    layer this backbone has: what a protocol's features feed."""
    from bench.metrics.base import METRICS

    out = []
    for name in METRICS.names():
        cls = METRICS.get(name)
        if not cls.requires <= {"features", "reference.features"}:
            continue
        layer = backbone.layer_name(cls.layer)
        if layer is not None:
            out.append((name, layer))
    return out


def metric_values(backbone: Any, gen: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray],
                  metrics: list[tuple[str, str]] | None = None, seed: int = 0) -> dict[str, float]:
    """Every value (``fid``, ``precision``, ``recall``, ...) of the backbone's feature metrics on ``gen`` vs ``ref``,
    default options, seed ``seed``; a metric that refuses these features (too few samples) is left out."""
    from bench.errors import GenbenchError
    from bench.metrics.base import METRICS, on_features

    out: dict[str, float] = {}
    for name, layer in metrics if metrics is not None else feature_metrics(backbone):
        try:
            vals = on_features(METRICS.get(name)(), gen, ref, layer=layer, seed=seed)
        except GenbenchError:
            continue
        out.update({v.metric: float(v.value) for v in vals if v.value is not None})
    return out
