"""Disturbed real images: the sanity checks of the FID paper (Heusel et al. 2017, Fig. 1 / appendix).

Why: a distribution metric is only trustworthy if it worsens steadily as real images are degraded more. Each
sample is a real image (drawn exactly as the ``dataset`` adapter draws it: same permutation, so every level of
every kind disturbs the same images) with one disturbance at ``level`` in [0, 1] (0 = untouched), drawn from
the sample's own seed. Levels map to the paper's parameters, scaled to the image size:

* ``gaussian_noise``: ``(1 − α)·x + α·N`` with N ~ normal(128, 64²) clipped to [0, 255] per pixel;
  α = 0.75·level (the paper's largest α; at α → 1 nothing of the image is left and FID saturates).
* ``gaussian_blur``: Gaussian kernel with σ = 2·level·(side / 8) px (reflect padding).
* ``salt_pepper``: a fraction 0.5·level of the pixels set to 0 or 255 (even odds).
* ``black_rectangles``: round(4·level) rectangles, each side ¼–½ of the image side, filled with 0.
* ``swirl``: scikit-image's swirl warp (angle = 3·level·exp(−r / (ln 2 · side / 2)) around the centre),
  bilinear resampling by ``torch.nn.functional.grid_sample``. Beyond strength ~3.5 an 8 px digit is twisted
  back into a blob that scores *better*, so the strength is capped there.

Blur and swirl are deterministic and run on whole batches; the random kinds draw per sample.

Results are rounded to uint8 (:func:`bench.images.to_uint8`).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.adapters.base import GenerationRequest
from bench.adapters.baselines import DatasetArgs, DatasetSampler
from bench.images import to_uint8

KINDS = ("gaussian_noise", "gaussian_blur", "salt_pepper", "black_rectangles", "swirl")


class DisturbedArgs(DatasetArgs):
    kind: Literal["gaussian_noise", "gaussian_blur", "salt_pepper", "black_rectangles", "swirl"]
    level: float = Field(ge=0, le=1, description="0 = untouched real images, 1 = the strongest disturbance")


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of a float NCHW batch."""
    if sigma <= 0:
        return x
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    y = x
    pad = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    # separable blur; reflect padding up to the image size, replicate beyond it (tiny images, wide kernels)
    y = F.pad(y, (pad, pad, pad, pad), mode="reflect")
    y = F.pad(y, (radius - pad,) * 4, mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _swirl(x: torch.Tensor, strength: float) -> torch.Tensor:
    """skimage-style swirl of a float NCHW batch around the image centre."""
    if strength <= 0:
        return x
    n, _, h, w = x.shape
    radius = max(h, w) / 2 * math.log(2)  # skimage: radius = ln(2) * radius argument
    yy, xx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    rho = torch.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    theta = strength * torch.exp(-rho / radius) + torch.atan2(yy - cy, xx - cx)
    sx, sy = cx + rho * torch.cos(theta), cy + rho * torch.sin(theta)
    grid = torch.stack([sx / (w - 1) * 2 - 1, sy / (h - 1) * 2 - 1], -1)[None].expand(n, -1, -1, -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)


def disturb_batch(images: torch.Tensor, kind: str, level: float, seeds: list[int]) -> torch.Tensor:
    """uint8 NCHW images disturbed by ``kind`` at ``level``; sample i's randomness comes from ``seeds[i]``."""
    if level <= 0:
        return images
    h, w = images.shape[-2:]
    if kind == "gaussian_blur":
        x = _blur(images.double(), 2.0 * level * max(h, w) / 8)
    elif kind == "swirl":
        x = _swirl(images.double(), 3.0 * level)
    else:
        return torch.stack([disturb(img, kind, level, s) for img, s in zip(images, seeds, strict=True)])
    return to_uint8(x, (0.0, 255.0), what=f"disturbed ({kind})")


def disturb(image: torch.Tensor, kind: str, level: float, seed: int) -> torch.Tensor:
    """One uint8 CHW image disturbed by ``kind`` at ``level``, deterministically from ``seed``."""
    rng = np.random.default_rng(seed)
    x = image.double()
    c, h, w = x.shape
    if level <= 0:
        return image
    if kind in ("gaussian_blur", "swirl"):
        return disturb_batch(image[None], kind, level, [seed])[0]
    if kind == "gaussian_noise":
        noise = torch.from_numpy(np.clip(rng.normal(128.0, 64.0, size=(c, h, w)), 0, 255))
        x = (1 - 0.75 * level) * x + 0.75 * level * noise
    elif kind == "salt_pepper":
        hit = torch.from_numpy(rng.random((h, w)) < 0.5 * level)
        salt = torch.from_numpy(rng.random((h, w)) < 0.5)
        x = x.clone()
        x[:, hit & salt] = 255.0
        x[:, hit & ~salt] = 0.0
    elif kind == "black_rectangles":
        x = x.clone()
        for _ in range(round(4 * level)):
            rh = int(rng.integers(max(1, h // 4), max(2, h // 2) + 1))
            rw = int(rng.integers(max(1, w // 4), max(2, w // 2) + 1))
            y0, x0 = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
            x[:, y0: y0 + rh, x0: x0 + rw] = 0.0
    else:
        raise ValueError(f"unknown disturbance '{kind}'")
    return to_uint8(x[None], (0.0, 255.0), what=f"disturbed ({kind})")[0]


class DisturbedDataset(DatasetSampler[DisturbedArgs]):
    """Real images from a suite dataset with one FID-paper disturbance at a given level (sanity checks)."""

    Args = DisturbedArgs

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        a = self.args
        clean = super().generate(request)
        return disturb_batch(clean, a.kind, a.level, list(request.seeds))
