"""Train the zoo's convolutional VAE (bench/assets/zoo/vae.pt) on the digits train split.

    python scripts/zoo/train_vae.py [--out PATH] [--steps N]

Fixed seed, one CPU thread, deterministic kernels. Gaussian likelihood with a fixed variance (``--kl-weight`` weighs
the KL term against the squared error on the [-1, 1] scale); samples decode z ~ N(0, I). Prints its quality; written to the shipped location, it records sha256
and quality in the zoo manifest.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.zoo.models import ConvVAE
from bench.zoo.training import batches, quality, save, setup, train_data

SEED = 4
KWARGS = {"latent_dim": 16, "ch": 32}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--kl-weight", type=float, default=1.0)
    args = ap.parse_args()
    t0 = time.time()
    g = setup(SEED)
    x, _ = train_data()
    vae = ConvVAE(**KWARGS)
    opt = torch.optim.Adam(vae.parameters(), lr=2e-3)
    it = batches(x.shape[0], 64, g)
    for step in range(1, args.steps + 1):
        xb = x[next(it)]
        mu, logvar = vae.encode(xb)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=g)
        rec = ((vae.decode(z) - xb) ** 2).sum((1, 2, 3)).mean()
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
        loss = rec + args.kl_weight * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 1000 == 0:
            print(f"step {step}: reconstruction {rec.item():.3f} kl {kl.item():.3f}", flush=True)
    q = quality(vae, "vae")
    save(vae, "vae", args.out, script="scripts/zoo/train_vae.py", seed=SEED, steps=args.steps, quality_=q,
         kwargs=KWARGS, notes=f"kl_weight={args.kl_weight}")
    print(f"trained in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
