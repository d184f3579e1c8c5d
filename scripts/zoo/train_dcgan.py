"""Train the zoo's DCGAN (bench/assets/zoo/dcgan.pt) or, with --conditional, its class-conditional GAN
(bench/assets/zoo/cgan.pt: class embedding in G; projection + auxiliary classifier (AC-GAN) in D).

    python scripts/zoo/train_dcgan.py [--conditional] [--out PATH] [--steps N]

Fixed seed, one CPU thread, deterministic kernels. Prints its quality (FID vs the test split, class accuracy for
the conditional model); written to the shipped location, it records sha256 and quality in the zoo manifest.
"""

from __future__ import annotations

import argparse
import time

from bench.zoo.models import DCDiscriminator, DCGenerator
from bench.zoo.training import quality, save, setup, train_data, train_gan

SEED = 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--conditional", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=4000)
    args = ap.parse_args()
    t0 = time.time()
    name = "cgan" if args.conditional else "dcgan"
    kwargs = {"latent_dim": 32, "ch": 16, "num_classes": 10 if args.conditional else 0}
    g = setup(SEED + args.conditional)
    x, y = train_data()
    G, D = DCGenerator(**kwargs), DCDiscriminator(kwargs["ch"], kwargs["num_classes"])
    train_gan(G, D, x, y, steps=args.steps, g=g)
    q = quality(G, name)
    script = "scripts/zoo/train_dcgan.py" + (" --conditional" if args.conditional else "")
    save(G, name, args.out, script=script, seed=SEED + args.conditional, steps=args.steps, quality_=q, kwargs=kwargs)
    print(f"trained in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
