"""A complete, small task kind written against the run context: the example of docs/adding-a-task-kind.md.

``denoising``: every input image of a dataset gets seeded Gaussian noise (sigma in pixel levels, one generator per
item), a translator-kind model restores it, and the restorations are scored against the clean images (PSNR,
SSIM, L1: per-item values computed as the restorations stream) and by their features (FID against the clean set).
It is registered only by the tests that use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from bench.adapters.translators import TranslationRequest
from pydantic import Field

from bench.metrics.base import Metric, Options, Reference
from bench.protocol import make_protocol
from bench.seeding import derive_seed
from bench.tasks.base import TaskKind, TaskPlan, dataset_features, images_kept
from bench.tasks.context import RunContext
from bench.tasks.production import ItemValues, Producer, aligned_values, paired_measures


class DenoisingArgs(Options):
    sigma: float = Field(default=25.0, gt=0, description="noise standard deviation, in pixel levels (0..255)")


def noisy(clean: torch.Tensor, idx: range, sigma: float) -> torch.Tensor:
    """Input ``i`` with noise from its own generator: the same noisy image whatever the batch."""
    out = []
    for i, x in zip(idx, clean, strict=True):
        g = torch.Generator().manual_seed(derive_seed("denoising-noise", i) & (2**63 - 1))
        out.append((x.double() + sigma * torch.randn(x.shape, generator=g, dtype=torch.float64)).round().clamp(0, 255))
    return torch.stack(out).to(torch.uint8)


class DenoisingTask(TaskKind[DenoisingArgs]):
    """Restore noisy copies of a dataset's images; PSNR/SSIM/L1 against the clean images, FID on features."""

    name = "denoising"
    adapter_kinds = frozenset({"translator"})
    provides = frozenset({"features", "truth", "images", "backbone", "reference.features"})
    Args = DenoisingArgs
    needs_n = False

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        ds = ctx.dataset(task.reference)
        task.state.update(clean=ds, n=min(task.n or len(ds), len(ds)))
        feats = dataset_features(ctx, task, ds, f"[{task.reference}]") if task.backbone is not None else None
        return Reference(task.reference, ds.id, features=feats)

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> Producer:
        clean, n, sigma = task.state["clean"], task.state["n"], self.args(task).sigma

        def call(idx: range, seeds: list[int], cond: dict[str, Any]) -> torch.Tensor:
            return adapter.translate(TranslationRequest(cond["noisy"], "a2b", seeds, idx))

        def conditions(idx: range) -> dict[str, Any]:
            return {"noisy": noisy(clean.read(idx), idx, sigma)}

        fns, identity = paired_measures(task.metrics)

        def values(idx: range, out: torch.Tensor) -> dict[str, np.ndarray]:
            return aligned_values(fns, out, clean.read(idx), f"model '{model}'", None)

        return Producer(count=n, call=call, seed=ctx.model_seed(model, "denoising"), conditions=conditions,
                        item_values=ItemValues(values, tuple(fns), {"truth": clean.hash, "sigma": sigma, **identity})
                        if fns else None, keep=images_kept(task, n), share=("denoising", task.reference, n, sigma),
                        noun="restorations", at="input")

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: Any) -> dict[str, Any] | None:
        if task.backbone is None or "features" not in metric.requires:
            return None
        assert task.ref is not None
        return {**make_protocol(task.backbone, layer, task.ref.id, task.state["n"], task.state["n"]),
                "noise_sigma": self.args(task).sigma}
