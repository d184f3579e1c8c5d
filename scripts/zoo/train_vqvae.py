"""Train the zoo's VQ-VAE (bench/assets/zoo/vqvae.pt) on the digits train split.

    python scripts/zoo/train_vqvae.py [--out PATH] [--steps N]

Fixed seed, one CPU thread, deterministic kernels. Squared error on the [-1, 1] scale plus the VQ-VAE codebook
and commitment terms (beta 0.25, straight-through gradients). The codebook starts from encoder outputs of the first
batch, and every ``RESTART_EVERY`` steps an entry no batch chose since the last restart is moved onto an encoder
output of the current batch (dead-code restarts, as most VQ tokenizers do), so the codebook is used rather than
collapsed. Prints its quality (rFID, PSNR and codebook usage on the test split); written to the shipped location,
it records sha256 and quality in the zoo manifest.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bench.zoo.models import VQVAE
from bench.zoo.training import batches, reconstruction_quality, save, setup, train_data

SEED = 7
KWARGS = {"codebook_size": 64, "dim": 16, "ch": 32}
BETA = 0.25
RESTART_EVERY = 250


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=4000)
    args = ap.parse_args()
    t0 = time.time()
    g = setup(SEED)
    x, _ = train_data()
    vq = VQVAE(**KWARGS)
    it = batches(x.shape[0], 64, g)
    with torch.no_grad():  # codebook from encoder outputs of a first batch
        h = vq.encode_continuous(x[next(it)]).permute(0, 2, 3, 1).reshape(-1, vq.dim)
        vq.codebook.copy_(h[torch.randperm(h.shape[0], generator=g)[: vq.codebook_size]])
    opt = torch.optim.Adam(vq.parameters(), lr=2e-3)
    used = torch.zeros(vq.codebook_size, dtype=torch.bool)
    for step in range(1, args.steps + 1):
        xb = x[next(it)]
        h = vq.encode_continuous(xb)
        zq, idx = vq.quantize(h)
        rec = ((vq.decode(h + (zq - h).detach()) - xb) ** 2).sum((1, 2, 3)).mean()
        vq_loss = F.mse_loss(zq, h.detach()) + BETA * F.mse_loss(h, zq.detach())
        loss = rec + vq_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        used[idx.flatten()] = True
        if step % RESTART_EVERY == 0 and step <= args.steps * 3 // 4:
            dead = (~used).nonzero().flatten()
            if dead.numel():
                with torch.no_grad():
                    flat = h.detach().permute(0, 2, 3, 1).reshape(-1, vq.dim)
                    vq.codebook[dead] = flat[torch.randperm(flat.shape[0], generator=g)[: dead.numel()]]
            used[:] = False
        if step % 1000 == 0:
            print(f"step {step}: reconstruction {rec.item():.3f} vq {vq_loss.item():.4f}", flush=True)
    q = reconstruction_quality(vq)
    save(vq, "vqvae", args.out, script="scripts/zoo/train_vqvae.py", seed=SEED, steps=args.steps, quality_=q,
         kwargs=KWARGS, notes=f"beta={BETA}, dead-code restarts every {RESTART_EVERY} steps until 3/4 of training")
    print(f"trained in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
