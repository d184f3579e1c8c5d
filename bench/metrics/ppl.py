"""Perceptual path length (Karras et al. 2019, StyleGAN §3.2), with the digits features as the distance.

PPL = E[ d(G(slerp(z1, z2; t)), G(slerp(z1, z2; t + ε))) / ε² ], t ~ U(0, 1) ("full" paths) or t ∈ {0, 1}
("end" paths), ε = 1e-4. StyleGAN's d is LPIPS; here d is the squared Euclidean distance between the backbone's
distribution-layer features (``pool`` on digits) of the float images (not rounded to uint8: an ε step is far
below one grey level). Values are therefore "PPL (digits-feature distance)", not comparable with published PPL.
As in StyleGAN, the distances below the 1st and above the 99th percentile are dropped before averaging.
Needs latent access: an adapter without ``latent_dim``/``generate_from_latents`` gives an unavailable value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet


class PPLOpts(Options):
    samples: int = Field(default=500, gt=1, description="latent pairs")
    epsilon: float = Field(default=1e-4, gt=0)
    interpolation: str = Field(default="slerp", pattern="^(slerp|lerp)$")
    sampling: str = Field(default="full", pattern="^(full|end)$")
    batch_size: int = Field(default=250, gt=0)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of directions, with the norm interpolated linearly (StyleGAN's ``slerp``)."""
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na, b / nb
    omega = torch.arccos((ua * ub).sum(1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    d = (torch.sin((1 - t) * omega) / so) * ua + (torch.sin(t * omega) / so) * ub
    return d * ((1 - t) * na + t * nb)


class PPL(Metric[PPLOpts]):
    name = "ppl"
    description = "perceptual path length in latent space, PPL (digits-feature distance): squared feature distance / eps^2"
    outputs = {"ppl": OutputInfo(higher_is_better=False, unit="feature dist²/ε²",
                                 description="PPL (digits-feature distance); lower = smoother latent space")}
    Opts = PPLOpts
    requires = frozenset({"model", "backbone"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        adapter, layer = samples.model, samples.layer
        if adapter is None or not hasattr(adapter, "generate_from_latents") or not hasattr(adapter, "latent_dim"):
            return [MetricValue("ppl", None, extras={"reason": "the model exposes no latent space "
                                                    "(latent_dim / generate_from_latents)"})]
        backbone = samples.backbone
        if backbone is None:
            return [MetricValue("ppl", None, extras={"reason": "no backbone to measure distances with"})]
        if not hasattr(backbone, "preprocess_float"):
            return [MetricValue("ppl", None, extras={"reason": f"backbone '{backbone.name}' takes no float images"})]
        g = torch.Generator().manual_seed(seed % (2**63))
        dim = int(adapter.latent_dim)
        z1 = torch.randn(o.samples, dim, generator=g)
        z2 = torch.randn(o.samples, dim, generator=g)
        t = torch.rand(o.samples, 1, generator=g) if o.sampling == "full" else \
            torch.randint(0, 2, (o.samples, 1), generator=g).float()
        # one class per pair for conditional models: the path moves through latent space only
        classes = None
        if getattr(adapter, "num_classes", 0):
            classes = torch.randint(0, int(adapter.num_classes), (o.samples,), generator=g)
        interp = slerp if o.interpolation == "slerp" else (lambda a, b, s: a + (b - a) * s)
        t2 = t + o.epsilon if o.sampling == "full" else t + o.epsilon * (1 - 2 * t)  # stay inside [0, 1]
        dists: list[np.ndarray] = []
        with torch.no_grad():
            for s in range(0, o.samples, o.batch_size):
                sl = slice(s, s + o.batch_size)
                za, zb = interp(z1[sl], z2[sl], t[sl]), interp(z1[sl], z2[sl], t2[sl])
                c = None if classes is None else torch.cat([classes[sl], classes[sl]])
                imgs = adapter.generate_from_latents(torch.cat([za, zb]), c)
                f = backbone.forward(backbone.preprocess_float(imgs.float().cpu()).to(backbone.device))[layer].double()
                k = za.shape[0]
                dists.append(((f[:k] - f[k:]) ** 2).sum(1).cpu().numpy() / o.epsilon ** 2)
        d = np.concatenate(dists)
        lo, hi = np.percentile(d, [1, 99])
        kept = d[(d >= lo) & (d <= hi)]
        return [MetricValue("ppl", float(kept.mean()), extras={
            "distance": f"squared L2 of digits '{layer}' features", "samples": o.samples, "epsilon": o.epsilon,
            "interpolation": o.interpolation, "sampling": o.sampling, "kept": int(kept.size)})]
