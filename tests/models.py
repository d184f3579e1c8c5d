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


class SleepGenerator:
    """Known cost: sleeps ``ms`` milliseconds per call, whatever the batch size (perf honesty tests)."""

    def __init__(self, ms: float = 20.0) -> None:
        self.ms = ms

    def generate(self, request):  # noqa: ANN001
        import time

        time.sleep(self.ms / 1000.0)
        return torch.zeros((request.n, 1, 8, 8), dtype=torch.uint8)


def fixed_arithmetic(reps: int = 30) -> torch.Tensor:
    """A fixed amount of arithmetic: ``reps`` 192x192 float64 matmuls on one thread."""
    a = torch.ones(192, 192, dtype=torch.float64) / 192
    x = a
    for _ in range(reps):
        x = x @ a
    return x


class ArithmeticGenerator:
    steps = 30

    def generate(self, request):  # noqa: ANN001
        fixed_arithmetic(self.steps)
        return torch.zeros((request.n, 1, 8, 8), dtype=torch.uint8)


class InvertTranslator:
    """Translates both ways by inverting pixel values (floats in [-1, 1]); ignores seeds."""

    directions = ("a2b", "b2a")

    def translate(self, x, direction, seeds):  # noqa: ANN001, ANN201
        return -x


class NoisyInvert:
    """Inverts and adds seeded noise per sample (a stochastic translator for batch-size invariance tests)."""

    directions = ("a2b",)

    def translate(self, x, direction, seeds):  # noqa: ANN001, ANN201
        noise = torch.stack([torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(s)) for s in seeds])
        return (-x + 0.2 * noise).clamp(-1, 1)


class NegModule(nn.Module):
    """A plain module (one direction): used through `translator-python` with directions: [a2b]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x
