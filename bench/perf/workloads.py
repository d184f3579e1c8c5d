"""What "one call" of a model is, per adapter kind, for speed measurements.

Each workload returns a zero-argument callable that runs the model once on a batch of ``batch_size`` items, and
the per-item count it processes. Inputs for models that take images come from the task's reference dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from bench.adapters import GenerationRequest
from bench.errors import ConfigError
from bench.seeding import sample_seeds


def _inputs(images: torch.Tensor, batch_size: int) -> torch.Tensor:
    reps = -(-batch_size // images.shape[0])
    return images.repeat(reps, 1, 1, 1)[:batch_size] if reps > 1 else images[:batch_size]


def make_call(adapter: Any, batch_size: int, *, seed: int, images: torch.Tensor | None,
              classes: int | None = None) -> Callable[[], Any]:
    """A call of ``adapter`` on one batch, chosen by the methods the adapter implements. ``classes``: a
    class-conditional generator's batch asks for classes 0, 1, ... (mod ``classes``)."""
    if hasattr(adapter, "generate"):
        req = GenerationRequest(indices=range(batch_size), seeds=sample_seeds(seed, 0, batch_size),
                                classes=None if classes is None else [i % classes for i in range(batch_size)])
        return lambda: adapter.generate(req)
    if images is None:
        raise ConfigError("this model needs input images: give the perf task a 'reference' dataset")
    x = _inputs(images, batch_size)
    if hasattr(adapter, "translate"):
        direction = getattr(adapter, "directions", ("a2b",))[0]
        return lambda: adapter.translate(x, direction, seed)
    if hasattr(adapter, "reconstruct"):  # an autoencoder: encode and decode
        seeds = sample_seeds(seed, 0, batch_size)
        return lambda: adapter.reconstruct(x, seeds)
    if hasattr(adapter, "caption"):
        return lambda: adapter.caption(x)
    if hasattr(adapter, "embed_images"):
        return lambda: adapter.embed_images(x)
    raise ConfigError(f"{type(adapter).__name__}: no generate/translate/reconstruct/caption/embed_images method to time")


def to_host(out: Any) -> Any:
    """The host copy timed separately from the call."""
    if isinstance(out, torch.Tensor):
        return out.cpu()
    if isinstance(out, list | tuple):
        return [to_host(o) for o in out]
    return out
