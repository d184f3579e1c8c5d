"""DINOv2 image features for FD_DINOv2 (protocol ``fd-dinov2``, Stein et al. 2023, dgm-eval).

Why timm and not ``torch.hub.load("facebookresearch/dinov2", ...)``: the hub fetches model code from GitHub at
run time (no offline use, code we did not pin), and torch-fidelity's DINOv2 extractor refuses a local weights path
(it raises NotImplementedError for a local path in 0.4.0). timm 1.0 ships the same architecture as local
code; we build it with random init and load a state
dict read with ``weights_only=True``. Both key layouts load: the official hub checkpoint
(``dinov2_vitl14_pretrain.pth``: ``mask_token``, ``w12``/``w3`` for giant) and timm's own, converted by timm's
``checkpoint_filter_fn`` — which also resamples the 37x37 position embedding (518 px training size) to the
16x16 grid of 224 px input.

Preprocessing (dgm-eval's DINOv2 encoder, non-"clean" resize): PIL bicubic resize of the whole image to 224x224
(no crop, aspect ratio not kept), ToTensor, ImageNet mean/std. Feature: the CLS token after the final norm (what
the hub model's ``forward`` returns; 1024-d for ViT-L/14).

Not verified offline against the official hub model: the hub interpolates the position embedding at every
forward (bicubic, its own scale-factor convention) while timm resamples once at load (bicubic with antialias),
which may move features slightly; numbers are comparable across genbench runs (the protocol records all of it),
and should be checked against dgm-eval on the published weights before being compared with published FD_DINOv2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.backbones.base import Backbone
from bench.errors import ConfigError, WeightsError
from bench.images import match_channels
from bench.weights import WeightsFile, is_present, missing_message, resolve

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224

#: official checkpoints (facebookresearch/dinov2 hub); no published sha256 known offline: "not pinned"
ARCHS: dict[str, tuple[str, WeightsFile]] = {
    arch: (timm_name, WeightsFile(
        name=f"dinov2-{arch}",
        filename=f"dinov2_{arch}_pretrain.pth",
        url=f"https://dl.fbaipublicfiles.com/dinov2/dinov2_{arch}/dinov2_{arch}_pretrain.pth",
        sha256=None,
        used_by="fd-dinov2 (dgm-eval), torch-fidelity dinov2-" + arch.replace("14", "-14"),
        backbones=("dinov2",) if arch == "vitl14" else (f"dinov2:{arch}",),
        library_paths=(f"torch.hub: $TORCH_HOME/hub/checkpoints/dinov2_{arch}_pretrain.pth",),
    ))
    for arch, timm_name in (("vits14", "vit_small_patch14_dinov2.lvd142m"), ("vitb14", "vit_base_patch14_dinov2.lvd142m"),
                            ("vitl14", "vit_large_patch14_dinov2.lvd142m"), ("vitg14", "vit_giant_patch14_dinov2.lvd142m"))
}
DEFAULT_ARCH = "vitl14"
WEIGHTS_FILES: tuple[WeightsFile, ...] = tuple(w for _, w in ARCHS.values())


def build_dinov2(timm_name: str, state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """timm's DINOv2 ViT at 224 px, no head, loaded strictly from an official-hub or timm-layout state dict."""
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    model = timm.create_model(timm_name, pretrained=False, img_size=INPUT_SIZE, num_classes=0)
    sd = checkpoint_filter_fn(dict(state_dict), model)  # type: ignore[arg-type]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise WeightsError(f"DINOv2 weights do not fit {timm_name}: missing {sorted(missing)[:4]}, unexpected "
                           f"{sorted(unexpected)[:4]}")
    return model.eval()


class DINOv2Backbone(Backbone):
    """DINOv2 ViT (default ViT-L/14) via timm, CLS token after the final norm, for FD_DINOv2."""

    name = "dinov2"
    layers = ("cls",)
    default_layer = "cls"
    batch_size = 32
    accepts_spec = True
    weights_files = WEIGHTS_FILES

    def __init__(self, weights: str | None = None, device: str = "cpu", spec: str | None = None,
                 inference: str = "exact") -> None:
        super().__init__(weights, device, inference)
        spec = spec or DEFAULT_ARCH
        if spec in ARCHS:
            self.timm_name, self.weights_spec = ARCHS[spec]
        elif "dinov2" in spec:  # a timm model name (tests, other sizes): weights must be given as a path
            self.timm_name, self.weights_spec = spec, None  # type: ignore[assignment]
        else:
            from bench.errors import did_you_mean

            raise ConfigError(f"unknown DINOv2 variant '{spec}'{did_you_mean(spec, ARCHS)} (or a timm *_dinov2 model name)")
        self.arch = spec
        if spec != DEFAULT_ARCH:
            self.name = f"dinov2:{spec}"

    def check_weights(self) -> list[str]:
        if self.weights_arg is not None:
            return [] if Path(self.weights_arg).expanduser().is_file() else [f"{self.weights_arg}: DINOv2 weights file does not exist"]
        if self.weights_spec is None:
            return [f"DINOv2 '{self.arch}' has no official weights file; pass its path explicitly"]
        return [] if is_present(self.weights_spec) else [missing_message(self.weights_spec)]

    def required_weights(self) -> WeightsFile | None:
        return self.weights_spec

    def published_weights_sha256(self) -> str | None:
        return self.weights_spec.sha256 if self.weights_spec is not None else None

    def load(self) -> None:
        if self.weights_spec is None and self.weights_arg is None:
            raise WeightsError(f"DINOv2 '{self.arch}' has no official weights file; pass its path explicitly")
        spec = self.weights_spec or WeightsFile(name=f"dinov2-{self.arch}", filename="-", url=None, sha256=None)
        r = resolve(spec, self.weights_arg)
        sd = torch.load(r.path, map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
            sd = sd["model"]
        self.net = build_dinov2(self.timm_name, sd).to(self.device)
        self.weights_sha256 = r.sha256

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated) -> PIL", "resize": f"PIL bicubic to {INPUT_SIZE}x{INPUT_SIZE} "
                "(whole image, no crop)", "normalize": "ToTensor, ImageNet mean/std", "mean": list(IMAGENET_MEAN),
                "std": list(IMAGENET_STD), "model": self.timm_name, "features": "CLS token after final norm",
                "pos_embed": "timm checkpoint_filter_fn resample to 16x16 at load", "dtype": "float32",
                "reference": "dgm-eval DINOv2Encoder (non-clean resize); timm 1.0.31 architecture"}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        rgb = match_channels(images, 3).permute(0, 2, 3, 1).numpy()
        out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(im)).resize((INPUT_SIZE, INPUT_SIZE),
                                                                                   Image.Resampling.BICUBIC)) for im in rgb])
        x = torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0  # = torchvision ToTensor on uint8
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (x - mean) / std

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"cls": self.net(x)}
