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
