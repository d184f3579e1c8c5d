"""Seeds derived from names, so that the same suite gives the same numbers whatever the batch size.

Every stochastic step takes ``derive_seed(suite_seed, *names)``. Generators get one seed per sample
(``sample_seeds``), so sample ``i`` is the same image whether it was drawn in a batch of 1 or of 500.

A model's samples are seeded by (suite seed, model, sample index) only (:func:`model_seed`), never by the task:
a model evaluated in several tasks (FID on Inception, FD on DINOv2, CLIP-FD) is asked for the same samples in
each, so every backbone sees one sample set, and the runner can generate it once (bench.runner.SampleSets).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any sequence of printable parts (stable across processes and platforms)."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little") & ((1 << 63) - 1)


def model_seed(suite_seed: int, model: str, *parts: object) -> int:
    """The base seed of ``model``'s samples (``parts``: e.g. a translation direction): independent of the task."""
    return derive_seed(suite_seed, "samples", model, *parts)


def sample_seeds(base_seed: int, start: int, stop: int) -> list[int]:
    """Per-sample seeds for sample indices ``start..stop-1`` under ``base_seed``."""
    return [derive_seed(base_seed, "sample", i) for i in range(start, stop)]


def latents_from_seeds(seeds: list[int], shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard-normal latents, one row per seed, each drawn from its own generator (batch-size invariant)."""
    out = torch.empty((len(seeds), *shape), dtype=dtype)
    for i, s in enumerate(seeds):
        g = torch.Generator().manual_seed(s)
        out[i] = torch.randn(shape, generator=g, dtype=dtype)
    return out


def numpy_rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(*parts))
