"""The ``zoo`` adapter: a shipped digits reference generator, loaded after its sha256 check, sampled per seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator

from bench.adapters.base import Adapter, AdapterArgs, AdapterContext, GenerationRequest, keyed, source_digest
from bench.errors import ConfigError


class ZooArgs(AdapterArgs):
    name: str = Field(description="zoo model: vae, gan, dcgan, cgan, ddpm, collapsed-gan (bench/assets/zoo/MANIFEST.json)")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from bench import zoo

        if not zoo.ARCHS[zoo.entry(v)["arch"]].generator:  # entry(): ConfigError with did-you-mean
            raise ValueError(f"zoo model '{v}' is an autoencoder without a prior, not a generator: use adapter "
                             "zoo-autoencoder in a reconstruction task")
        return v


class ZooGenerator(Adapter[ZooArgs]):
    """A shipped digits zoo generator (vae, gan, dcgan, cgan, ddpm, collapsed-gan), sha256-verified.

    Sample ``i`` decodes ``request.latents(latent_dim)[i]`` (from sample ``i``'s own seed), so outputs do not
    depend on batch size. Exposes ``latent_dim`` and ``generate_from_latents`` (float [0, 1]) for PPL. The
    class-conditional ``cgan`` takes the request's classes; in an unconditional task it samples its marginal
    (a class drawn from each sample's seed)."""

    Args = ZooArgs

    def __init__(self, args: ZooArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        from bench import zoo

        self.net = zoo.load(self.args.name).to(self.device)
        self.latent_dim = self.net.latent_dim
        self.num_classes = self.net.num_classes

    @classmethod
    def accepts_classes(cls, args: ZooArgs) -> bool:
        from bench import zoo

        return bool(zoo.entry(args.name)["kwargs"].get("num_classes", 0))

    def _classes(self, classes: Any, n: int) -> torch.Tensor | None:
        if not self.num_classes:
            if classes is not None:
                raise ConfigError(f"zoo model '{self.args.name}' is unconditional; it cannot honour requested classes")
            return None
        c = torch.as_tensor(list(classes), dtype=torch.long)
        if c.shape[0] != n or (c.numel() and (int(c.min()) < 0 or int(c.max()) >= self.num_classes)):
            raise ConfigError(f"zoo model '{self.args.name}': classes must be {n} labels in 0..{self.num_classes - 1}")
        return c

    def generate_from_latents(self, z: torch.Tensor, classes: Any = None) -> torch.Tensor:
        """Float images in [0, 1], ``[n, 1, 8, 8]``, from latents ``[n, latent_dim]`` (and, for a conditional
        model, one label per latent)."""
        if self.num_classes and classes is None:
            raise ConfigError(f"zoo model '{self.args.name}' is class-conditional: pass classes")
        c = self._classes(classes, z.shape[0])
        return self.net.generate_from_latents(z.float().to(self.device), None if c is None else c.to(self.device))

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        classes = request.classes
        if classes is None and self.num_classes:
            # an unconditional task samples a conditional model's marginal: class drawn from the sample's seed
            classes = [int(np.random.default_rng(s).integers(self.num_classes)) for s in request.seeds]
        x = self.generate_from_latents(request.latents(self.latent_dim), classes)
        return torch.round(x * 255).to(torch.uint8)

    def model_key(self) -> str | None:
        import sys

        from bench import zoo

        return keyed("zoo", self.args.model_dump(mode="json"), zoo.entry(self.args.name)["sha256"],
                     source_digest(zoo, sys.modules[__name__]))

    def describe(self) -> dict[str, Any]:
        from bench import zoo

        return {**super().describe(), "sha256": zoo.entry(self.args.name)["sha256"]}
