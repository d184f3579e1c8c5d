"""Shared by the zoo training scripts: deterministic set-up, the training data, the quality report, saving.

Quality is measured the same way for every model so the numbers in the manifest are comparable: 597 samples
(the size of the digits test split) from fixed per-sample seeds, features of the embedded digits backbone,
FID against the test split, the fraction of samples the digits classifier assigns to the requested class
(conditional models), and two diversity numbers that expose mode collapse: the mean pairwise pixel distance
relative to the test split's, and how many of the 10 classes the samples cover.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.backbones.digits import DigitsBackbone
from bench.data import digits
from bench.metrics.frechet import frechet_distance, gaussian_stats
from bench.retrain import record_in_manifest
from bench.seeding import derive_seed, sample_seeds
from bench.zoo import MANIFEST_FILE, ZOO_DIR
from bench.zoo.models import ZooModel

QUALITY_N = 597


def setup(seed: int) -> torch.Generator:
    """One thread, deterministic kernels, seeded global RNG; returns the generator for data order and noise."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def train_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits train split as float [-1, 1] ``[1200, 1, 8, 8]`` and its labels."""
    x, y = digits.load("train")
    return x.float() / 127.5 - 1.0, y


def _mean_pairwise(x: torch.Tensor) -> float:
    f = x.reshape(x.shape[0], -1).double()
    return float(torch.cdist(f, f).sum() / (f.shape[0] * (f.shape[0] - 1)))


@torch.no_grad()
def quality(model: ZooModel, name: str) -> dict[str, Any]:
    """FID vs the test split, class accuracy (conditional models), and diversity numbers; see the module doc."""
    model.eval()
    seeds = sample_seeds(derive_seed("zoo-quality", name), 0, QUALITY_N)
    from bench.seeding import latents_from_seeds

    z = latents_from_seeds(seeds, (model.latent_dim,))
    classes = torch.arange(QUALITY_N) % 10 if model.num_classes else None
    imgs = torch.round(model.generate_from_latents(z, classes) * 255).to(torch.uint8)
    xte, _ = digits.load("test")
    bb = DigitsBackbone()
    bb.load()
    fg, fr = bb.extract(imgs), bb.extract(xte)
    sg, sr = gaussian_stats(fg["pool"]), gaussian_stats(fr["pool"])
    pred = torch.from_numpy(fg["logits"]).argmax(1)
    q: dict[str, Any] = {
        "fid_test": round(frechet_distance(sg.mu, sg.sigma, sr.mu, sr.sigma).value, 4),
        "n": QUALITY_N,
        "pixel_diversity_ratio": round(_mean_pairwise(imgs.float()) / _mean_pairwise(xte.float()), 4),
        "classes_covered": int(np.count_nonzero(np.bincount(pred.numpy(), minlength=10) >= 5)),
    }
    if classes is not None:
        q["class_accuracy"] = round(float((pred == classes).float().mean()), 4)
    return q


@torch.no_grad()
def reconstruction_quality(model: Any) -> dict[str, Any]:
    """An autoencoder's quality on the test split (the zoo's autoencoders: the VQ-VAE): rFID of the reconstructions
    against the same 597 test images on the digits backbone, mean PSNR, and codebook usage and perplexity; the
    same functions the ``reconstruction`` task's metrics use."""
    from bench.metrics.codes import codebook_stats
    from bench.translation.measures import psnr

    model.eval()
    xte, _ = digits.load("test")
    z, codes = model.quantize(model.encode_continuous(xte.float() / 127.5 - 1.0))
    recon = torch.round(((model.decode(z) + 1) / 2).clamp(0, 1) * 255).to(torch.uint8)
    bb = DigitsBackbone()
    bb.load()
    fg, fr = bb.extract(recon), bb.extract(xte)
    sg, sr = gaussian_stats(fg["pool"]), gaussian_stats(fr["pool"])
    cs = codebook_stats(codes.numpy(), model.codebook_size)
    return {"rfid_test": round(frechet_distance(sg.mu, sg.sigma, sr.mu, sr.sigma).value, 4), "n": int(xte.shape[0]),
            "psnr_test": round(float(psnr(recon, xte).mean()), 4), "codebook_usage": round(cs.usage, 4),
            "codebook_perplexity": round(cs.perplexity, 4)}


def save(model: ZooModel, name: str, out: str | None, *, script: str, seed: int, steps: int,
         quality_: dict[str, Any], kwargs: dict[str, Any], notes: str = "") -> Path:
    """Write the state dict; when written to the shipped location, record sha256 and quality in the manifest."""
    default = ZOO_DIR / f"{name}.pt"
    path = Path(out) if out else default
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"quality {json.dumps(quality_, sort_keys=True)}")
    print(f"wrote {path} ({path.stat().st_size} bytes) sha256 {digest}")
    if path.resolve() == default.resolve():
        record_in_manifest(MANIFEST_FILE, name, {
            "file": path.name, "arch": model.arch, "kwargs": kwargs, "sha256": digest, "quality": quality_,
            "trained_by": script, "seed": seed, "steps": steps, **({"notes": notes} if notes else {})})
    return path


def batches(n: int, batch_size: int, g: torch.Generator):  # type: ignore[no-untyped-def]
    """Endless shuffled index batches (epoch after epoch) from the seeded generator."""
    while True:
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - batch_size + 1, batch_size):
            yield perm[i: i + batch_size]


def train_gan(G: ZooModel, D: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, g: torch.Generator,
              batch_size: int = 64, lr: float = 2e-4, aux_weight: float = 1.0, log_every: int = 500) -> None:
    """Non-saturating GAN training (Adam, β1 = 0.5). For a conditional ``G`` the discriminator is called with
    labels and its auxiliary class head is trained on real and fake images (AC-GAN), and ``G`` is trained to be
    classified as the requested class."""
    import torch.nn.functional as F

    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    cond = G.num_classes > 0
    it = batches(x.shape[0], batch_size, g)
    for step in range(1, steps + 1):
        idx = next(it)
        real, yr = x[idx], y[idx]
        z = torch.randn(batch_size, G.latent_dim, generator=g)
        yf = torch.randint(0, G.num_classes, (batch_size,), generator=g) if cond else None
        fake = G.decode(z, yf)
        dr, cr = _disc(D, real, yr if cond else None)
        df, cf = _disc(D, fake.detach(), yf)
        loss_d = F.softplus(-dr).mean() + F.softplus(df).mean()
        if cond:
            assert cr is not None and cf is not None and yf is not None
            loss_d = loss_d + aux_weight * (F.cross_entropy(cr, yr) + F.cross_entropy(cf, yf))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        dg, cg = _disc(D, fake, yf)
        loss_g = F.softplus(-dg).mean()
        if cond:
            assert cg is not None and yf is not None
            loss_g = loss_g + aux_weight * F.cross_entropy(cg, yf)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % log_every == 0:
            print(f"step {step}: loss_d {loss_d.item():.4f} loss_g {loss_g.item():.4f}", flush=True)


def _disc(D: torch.nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(adversarial logit, class logits or None), whatever the discriminator returns."""
    out = D(x, y) if y is not None else D(x)
    return out if isinstance(out, tuple) else (out, None)
