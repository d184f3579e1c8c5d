"""VGG16 fc2 features as torch-fidelity 0.4 computes them: its default network for precision/recall.

Kynkäänniemi et al. (2019) define improved precision/recall on VGG16 fc2 features, and torch-fidelity 0.4 follows
them (``prc`` defaults to ``feature_extractor="vgg16"``, layer ``fc2_relu``), while ADM's evaluator, and genbench's
``prc`` on an Inception protocol, use the Inception pool. Both are standard, they differ, and a number is only
comparable with its own: ``prc_vgg16`` (bench.metrics.distribution) reads this backbone and names its rows
``precision_vgg16``/``recall_vgg16``.

The network is torch-fidelity's ``FeatureExtractorVGG16`` itself (TF1-compatible bilinear resize to 224, ImageNet
mean/std on [0, 255], torchvision VGG16 without its last three classifier layers), built from torchvision's
``vgg16-397923af.pth`` resolved by bench.weights and loaded with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.backbones.base import Backbone
from bench.backbones.inception import _safe_torch_load
from bench.backbones.lpips_nets import NETS
from bench.images import match_channels
from bench.weights import WeightsFile, is_present, missing_message, resolve

VGG16_FILE: WeightsFile = NETS["vgg"][1]


class VGG16Fidelity(Backbone):
    """torch-fidelity's FeatureExtractorVGG16 (fc2 and fc2 after ReLU), torchvision's VGG16 weights."""

    name = "vgg16-fidelity"
    layers = ("fc2", "fc2_relu")
    default_layer = "fc2_relu"
    batch_size = 32
    weights_files = (VGG16_FILE,)
    net: Any = None

    def check_weights(self) -> list[str]:
        if is_present(VGG16_FILE, self.weights_arg):
            return []
        if self.weights_arg is not None:
            return [f"{self.weights_arg}: weights file for '{VGG16_FILE.name}' does not exist"]
        return [missing_message(VGG16_FILE)]

    def required_weights(self) -> WeightsFile:
        return VGG16_FILE

    def load(self) -> None:
        from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

        r = resolve(VGG16_FILE, self.weights_arg)
        with _safe_torch_load():  # torch-fidelity 0.4 loads with weights_only=False
            self.net = FeatureExtractorVGG16(self.name, list(self.layers), feature_extractor_weights_path=str(Path(r.path)))
        self.net = self.net.eval().to(self.device)
        self.weights_sha256 = r.sha256

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated)", "resize": "224x224 bilinear, TF1-compatible "
                "(torch_fidelity.interpolate_compat_tensorflow)", "normalize": "ImageNet mean/std x 255",
                "dtype": "float32", "reference": "torch-fidelity 0.4.0 FeatureExtractorVGG16"}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return match_channels(images, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fc2, fc2_relu = self.net(x)
        return {"fc2": fc2, "fc2_relu": fc2_relu}
