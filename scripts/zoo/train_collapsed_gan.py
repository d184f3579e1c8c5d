"""Train the zoo's collapsed GAN (bench/assets/zoo/collapsed-gan.pt): a checkpoint that really mode-collapsed.

    python scripts/zoo/train_collapsed_gan.py [--out PATH] [--steps N] [--frozen-steps N]

The MLP GAN of train_gan.py trains normally for ``--steps``, then the discriminator is frozen and the generator
alone takes ``--frozen-steps`` steps at a 5x learning rate. With nothing pushing back, every latent is pulled
to the few images the frozen discriminator scores highest: the textbook mode collapse. The script prints the
diversity numbers that show it (pixel diversity relative to real test images, classes covered) next to FID.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bench.zoo.models import MLPDiscriminator, MLPGenerator
from bench.zoo.training import quality, save, setup, train_data, train_gan

SEED = 6
KWARGS = {"latent_dim": 32, "hidden": 256}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--frozen-steps", type=int, default=1000)
    args = ap.parse_args()
    t0 = time.time()
    g = setup(SEED)
    x, y = train_data()
    G, D = MLPGenerator(**KWARGS), MLPDiscriminator(KWARGS["hidden"])
    train_gan(G, D, x, y, steps=args.steps, g=g)
    print("before the collapse:", quality(G, "collapsed-gan"))
    D.requires_grad_(False)
    opt = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for _ in range(args.frozen_steps):
        loss = F.softplus(-D(G.decode(torch.randn(64, G.latent_dim, generator=g)))).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    q = quality(G, "collapsed-gan")
    save(G, "collapsed-gan", args.out, script="scripts/zoo/train_collapsed_gan.py", seed=SEED,
         steps=args.steps + args.frozen_steps, quality_=q, kwargs=KWARGS,
         notes=f"{args.steps} GAN steps, then {args.frozen_steps} generator-only steps against a frozen discriminator")
    print(f"trained in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
