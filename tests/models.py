"""Tiny user-style models used by the tests through the `python` and `torchscript` adapters."""

from __future__ import annotations

import torch
from torch import nn


class Crashing:
    def generate(self, request):  # noqa: ANN001
        raise RuntimeError("boom")


class LinearDigits(nn.Module):
    """z [n, 16] → images in [-1, 1], shape [n, 1, 8, 8]; fixed weights (seeded)."""

    latent_dim = 16

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(16, 64, generator=g) * 0.3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.w).view(-1, 1, 8, 8)
