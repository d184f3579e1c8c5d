"""Train the zoo's MLP GAN (bench/assets/zoo/gan.pt) on the digits train split.

    python scripts/zoo/train_gan.py [--out PATH] [--steps N]

Fixed seed, one CPU thread, deterministic kernels. Prints its quality (FID vs the test split, diversity); written
to the shipped location, it records sha256 and quality in bench/assets/zoo/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import time

from bench.zoo.models import MLPDiscriminator, MLPGenerator
from bench.zoo.training import quality, save, setup, train_data, train_gan

SEED = 1
KWARGS = {"latent_dim": 32, "hidden": 256}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=6000)
    args = ap.parse_args()
    t0 = time.time()
    g = setup(SEED)
    x, y = train_data()
    G, D = MLPGenerator(**KWARGS), MLPDiscriminator(KWARGS["hidden"])
    train_gan(G, D, x, y, steps=args.steps, g=g)
    q = quality(G, "gan")
    save(G, "gan", args.out, script="scripts/zoo/train_gan.py", seed=SEED, steps=args.steps, quality_=q, kwargs=KWARGS)
    print(f"trained in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
