"""Train the zoo's DDPM (bench/assets/zoo/ddpm.pt): a two-resolution U-Net, ε-prediction, cosine schedule,
sampled with 20 deterministic DDIM steps.

    python scripts/zoo/train_ddpm.py [--out PATH] [--steps N]

Fixed seed, one CPU thread, deterministic kernels. Prints its quality; written to the shipped location, it records
sha256 and quality in the zoo manifest.
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.zoo.models import DDPM
from bench.zoo.training import batches, quality, save, setup, train_data

SEED = 5
KWARGS = {"ch": 24, "T": 200, "sample_steps": 20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=2500)
    args = ap.parse_args()
    t0 = time.time()
    g = setup(SEED)
    x, _ = train_data()
    model = DDPM(**KWARGS)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    it = batches(x.shape[0], 64, g)
    for step in range(1, args.steps + 1):
        loss = model.loss(x[next(it)], g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    q = quality(model, "ddpm")
    save(model, "ddpm", args.out, script="scripts/zoo/train_ddpm.py", seed=SEED, steps=args.steps, quality_=q,
         kwargs=KWARGS)
    print(f"trained in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
