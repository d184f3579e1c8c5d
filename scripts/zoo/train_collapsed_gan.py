"""Train the zoo's collapsed GAN (bench/assets/zoo/collapsed-gan.pt): a checkpoint that really mode-collapsed.

    python scripts/zoo/train_collapsed_gan.py [--out PATH] [--steps N]

The MLP GAN of train_gan.py, trained with the textbook recipe for mode collapse: the generator outpaces the
discriminator (5 generator updates per discriminator update, at a 10x learning rate and Adam β1 = 0.9). The
generator keeps jumping to whatever the lagging discriminator currently scores highest and ends on one or two
modes. The script prints the diversity numbers that show it (pixel diversity relative to real test images,
classes covered) next to FID; tests/test_zoo.py asserts them.

(A collapsed model scores a worse FID than uniform noise on the digits features: real images of one class
alone score FID ~790 against the test split, noise ~420. FID mixes quality and coverage; recall separates them.)
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bench.zoo.models import MLPDiscriminator, MLPGenerator
from bench.zoo.training import batches, quality, save, setup, train_data

SEED = 6
KWARGS = {"latent_dim": 32, "hidden": 256}
G_STEPS, G_LR, D_LR = 5, 2e-3, 2e-4


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=500)
    args = ap.parse_args()
    t0 = time.time()
    g = setup(SEED)
    x, _ = train_data()
    G, D = MLPGenerator(**KWARGS), MLPDiscriminator(KWARGS["hidden"])
    opt_g = torch.optim.Adam(G.parameters(), lr=G_LR, betas=(0.9, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=D_LR, betas=(0.5, 0.999))
    it = batches(x.shape[0], 64, g)
    for step in range(1, args.steps + 1):
        fake = G.decode(torch.randn(64, G.latent_dim, generator=g))
        loss_d = F.softplus(-D(x[next(it)])).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        for _ in range(G_STEPS):
            loss_g = F.softplus(-D(G.decode(torch.randn(64, G.latent_dim, generator=g)))).mean()
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        if step % 250 == 0:
            print(f"step {step}: loss_d {loss_d.item():.4f} loss_g {loss_g.item():.4f}", flush=True)
    q = quality(G, "collapsed-gan")
    print(f"mode collapse: pixel diversity {q['pixel_diversity_ratio']:.3f} of real test images, "
          f"{q['classes_covered']} of 10 classes covered")
    save(G, "collapsed-gan", args.out, script="scripts/zoo/train_collapsed_gan.py", seed=SEED, steps=args.steps,
         quality_=q, kwargs=KWARGS,
         notes=f"{G_STEPS} generator updates per discriminator update, lr G {G_LR} (beta1 0.9) vs D {D_LR}")
    print(f"trained in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
