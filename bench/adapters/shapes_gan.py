"""The ``shapes-gan`` adapter: the shapes world's unconditional GAN (bench/assets/shapes/gan.pt, trained by
scripts/shapes/train_gan.py), sha256-checked, sampled per seed. The generator the dissection suite dissects."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from bench.adapters.base import Adapter, AdapterArgs, GenerationRequest, keyed, source_digest


class ShapesGANArgs(AdapterArgs):
    weights: str | None = Field(default=None, description="explicit weights file (default: the bundled, sha256-checked one)")


class ShapesGAN(Adapter[ShapesGANArgs]):
    """Sample ``i`` decodes the latent drawn from its own seed (``latent_dim`` 64): outputs do not depend on batch
    size. ``net`` is the torch module (bench.shapes.scene_nets.ShapesGenerator: layers ``layer1`` 8x8 and
    ``layer2`` 16x16); ``generate_from_latents`` gives float [0, 1] images for latent-space metrics."""

    Args = ShapesGANArgs

    def __init__(self, args: ShapesGANArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        from bench.shapes import zoo

        w = self.args.weights
        net, self.sha256 = zoo.load("gan", ctx.resolve_path(w) if w else None)
        self.net = net.to(self.device)
        self.latent_dim: int = self.net.latent_dim  # type: ignore[assignment]

    def generate_from_latents(self, z: torch.Tensor, classes: Any = None) -> torch.Tensor:
        return self.net.generate_from_latents(z.float().to(self.device))  # type: ignore[no-any-return,operator]

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        return torch.round(self.generate_from_latents(request.latents(self.latent_dim)) * 255).to(torch.uint8)

    def model_key(self) -> str | None:
        import sys

        from bench.shapes import scene_nets

        return keyed("shapes-gan", self.args.model_dump(mode="json"), self.sha256,
                     source_digest(scene_nets, sys.modules[__name__]))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sha256": self.sha256}
