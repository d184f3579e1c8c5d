"""The embedded digits feature network: a small CNN classifier trained on the digits train split.

It is genbench's offline stand-in for Inception: ``pool`` (128-d penultimate activations) feeds FID, KID and
precision/recall; ``logits`` (10 classes) feeds the Inception Score and class-based metrics. Trained by
``scripts/train_digits_classifier.py`` (fixed seed); the weights ship in ``bench/assets`` with their sha256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.backbones.base import Backbone
from bench.errors import WeightsError
from bench.images import match_channels
from bench.weights import sha256_file

ASSETS = Path(__file__).resolve().parent.parent / "assets"
WEIGHTS_FILE = ASSETS / "digits_classifier.pt"
MANIFEST_FILE = ASSETS / "MANIFEST.json"


class DigitsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, 10)

    def features(self, x: torch.Tensor, spatial: bool = False) -> dict[str, torch.Tensor]:
        """``pool`` and ``logits``; with ``spatial`` also the ReLU maps ``conv1`` [32, 8, 8] and ``conv2``
        [64, 8, 8] (what the LPIPS-style digits distance compares)."""
        c1 = F.relu(self.conv1(x))
        c2 = F.relu(self.conv2(c1))
        pool = F.relu(self.fc1(F.max_pool2d(c2, 2).flatten(1)))
        out = {"pool": pool, "logits": self.fc2(pool)}
        if spatial:
            out.update(conv1=c1, conv2=c2)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["logits"]


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW (any size, 1 or 3 channels) → float [N, 1, 8, 8] in [0, 1].

    Colour is reduced with PIL's luma rule; other sizes are resized with torch bilinear, antialias=True.
    """
    return float_to_input(match_channels(images, 1).float() / 255.0)


def float_to_input(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] (1 channel) → the network's input, without quantizing to uint8. Latent-space
    metrics (PPL) need this: their epsilon-sized steps are far below one grey level."""
    if x.shape[-2:] != (8, 8):
        x = F.interpolate(x, size=(8, 8), mode="bilinear", align_corners=False, antialias=True)
    return x


def match_channels_float(x: torch.Tensor) -> torch.Tensor:
    """Float NCHW with 1 or 3 channels → 1 channel by PIL's luma rule (as :func:`match_channels` does)."""
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    return x


def bundled_sha256(key: str) -> str:
    return str(json.loads(MANIFEST_FILE.read_text())[key]["sha256"])


class DigitsBackbone(Backbone):
    """The embedded 8x8 digits classifier (trained here, weights committed with their sha256): offline stand-in."""

    name = "digits"
    layers = ("pool", "logits")
    logits_layer = "logits"
    default_layer = "pool"
    batch_size = 1024

    def check_weights(self) -> list[str]:
        p = Path(self.weights_arg) if self.weights_arg else WEIGHTS_FILE
        return [] if p.is_file() else [f"{p}: digits backbone weights file does not exist"]

    def load(self) -> None:
        path = Path(self.weights_arg) if self.weights_arg else WEIGHTS_FILE
        if not path.is_file():
            raise WeightsError(f"{path}: digits backbone weights file does not exist")
        digest = sha256_file(path)
        if self.weights_arg is None and digest != bundled_sha256("digits_classifier.pt"):
            raise WeightsError(f"{path}: sha256 {digest[:16]}... does not match bench/assets/MANIFEST.json")
        net = DigitsNet()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.net = net.eval().to(self.device)
        self.weights_sha256 = digest

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8", "channels": "luma-601", "resize": "8x8 torch-bilinear antialias (if not 8x8)", "scale": "x/255"}

    def domain_problem(self, item_shape: tuple[int, ...]) -> str | None:
        c, h, w = item_shape
        if (h, w) == (8, 8) and c in (1, 3):
            return None
        return (f"the digits protocol's network was trained on 8x8 grey digits; these images are {w}x{h} with {c} "
                "channel(s), resized to 8x8 grey: the numbers rank nothing published (for natural images use the field's "
                "standard protocol, tf-compat: `score images` without --protocol, or `protocol: tf-compat` in a suite)")

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return to_input(images)

    def preprocess_float(self, x: torch.Tensor) -> torch.Tensor:
        """Float [0, 1] images in, network input out (no uint8 rounding); used by PPL."""
        return float_to_input(match_channels_float(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net.features(x)
