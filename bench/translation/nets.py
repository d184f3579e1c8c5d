"""The zoo's networks, sized for 8x8 digits so that each trains in about a minute on one CPU core.

- :class:`UNet8`: pix2pix-style encoder-decoder with skip connections (8 → 4 → 2 → 1 → 2 → 4 → 8). It takes an
  optional noise channel drawn from per-sample seeds: pix2pix's stochasticity, which the paired L1 loss teaches
  the network to mostly ignore (conditional diversity then measures how much it kept).
- :class:`PatchGAN8`: a conditional PatchGAN discriminator scoring 4x4 overlapping patches of (input, output).
- :class:`ResnetGen8`: CycleGAN-style generator (conv, residual blocks, conv) at full resolution.
- :class:`PatchDisc8`: an unconditional PatchGAN for CycleGAN's two domains.

All generators map float images in [-1, 1] to [-1, 1] (tanh).
"""

from __future__ import annotations

import torch
from torch import nn


def _down(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.ReLU())


class UNet8(nn.Module):
    """pix2pix U-Net for 8x8 single-channel images; ``noise_channels`` extra input planes carry z."""

    def __init__(self, width: int = 32, noise_channels: int = 1) -> None:
        super().__init__()
        self.noise_channels = noise_channels
        self.e1 = _down(1 + noise_channels, width, norm=False)  # 4x4
        self.e2 = _down(width, 2 * width)  # 2x2
        self.e3 = _down(2 * width, 2 * width)  # 1x1
        self.d3 = _up(2 * width, 2 * width)  # 2x2
        self.d2 = _up(4 * width, width)  # 4x4
        self.out = nn.ConvTranspose2d(2 * width, 1, 4, 2, 1)  # 8x8

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if self.noise_channels:
            if z is None:
                z = torch.zeros(x.shape[0], self.noise_channels, *x.shape[2:], dtype=x.dtype, device=x.device)
            x = torch.cat([x, z], 1)
        h1 = self.e1(x)
        h2 = self.e2(h1)
        h3 = self.e3(h2)
        u3 = self.d3(h3)
        u2 = self.d2(torch.cat([u3, h2], 1))
        return torch.tanh(self.out(torch.cat([u2, h1], 1)))


class PatchGAN8(nn.Module):
    """Conditional PatchGAN: logits for 4x4 patches of the concatenated (condition, image) pair."""

    def __init__(self, in_channels: int = 2, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2),  # 4x4
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, 1, 1),
        )

    def forward(self, cond: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        return self.net(img if cond is None else torch.cat([cond, img], 1))


class PatchDisc8(PatchGAN8):
    """Unconditional PatchGAN (CycleGAN's per-domain discriminator)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__(in_channels=1, width=width)


class _Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, 1, 1), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGen8(nn.Module):
    """CycleGAN generator at 8x8: conv-in, ``blocks`` residual blocks, conv-out (deterministic)."""

    def __init__(self, width: int = 32, blocks: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, 3, 1, 1), nn.InstanceNorm2d(width, affine=True), nn.ReLU(),
                                 *[_Res(width) for _ in range(blocks)], nn.Conv2d(width, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.net(x))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 → float in [-1, 1] (the zoo's training and inference convention)."""
    return images.float() / 127.5 - 1.0
