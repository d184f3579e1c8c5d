"""Train the zoo's pix2pix translator on digits-edges (bench/assets/translation/pix2pix_edges.pt).

    .venv/bin/python scripts/translation/train_pix2pix.py [--epochs 40]

Paired training on the digits train split: a U-Net generator per direction (a2b: edge map → digit, b2a: digit →
edge map) with a noise input channel, against a conditional PatchGAN, loss = GAN (BCE) + 100 x L1 as in
pix2pix (Isola et al. 2017). Fixed seed, one CPU thread, about a minute. Prints test-split L1 and PSNR per
direction and records them in the manifest.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bench.data import digits  # noqa: E402
from bench.translation import measures  # noqa: E402
from bench.translation.data import edge_map  # noqa: E402
from bench.translation.nets import PatchGAN8, UNet8, to_float  # noqa: E402
from bench.translation.zoo import ZooModel  # noqa: E402
from scripts.translation.common import batches, save, setup  # noqa: E402

SEED = 0
LAMBDA_L1 = 100.0


def train_direction(src: torch.Tensor, dst: torch.Tensor, epochs: int, g: torch.Generator) -> UNet8:
    gen, disc = UNet8(32, noise_channels=1), PatchGAN8(2, 32)
    og = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.999))
    od = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.999))
    x_all, y_all = to_float(src), to_float(dst)
    for epoch in range(epochs):
        for idx in batches(x_all.shape[0], 64, g):
            x, y = x_all[idx], y_all[idx]
            z = torch.randn(x.shape[0], 1, 8, 8, generator=g)
            fake = gen(x, z)
            d_real, d_fake = disc(x, y), disc(x, fake.detach())
            ld = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                        + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
            od.zero_grad()
            ld.backward()
            od.step()
            d_fake = disc(x, fake)
            lg = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake)) + LAMBDA_L1 * (fake - y).abs().mean()
            og.zero_grad()
            lg.backward()
            og.step()
        if (epoch + 1) % 20 == 0:
            print(f"  epoch {epoch + 1}: loss D {ld.item():.3f} G {lg.item():.3f}", flush=True)
    return gen.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    g = setup(SEED)
    t0 = time.time()
    xtr, _ = digits.load("train")
    xte, _ = digits.load("test")
    etr, ete = edge_map(xtr), edge_map(xte)
    nets = {"a2b": train_direction(etr, xtr, args.epochs, g), "b2a": train_direction(xtr, etr, args.epochs, g)}
    model = ZooModel(nets, noise_channels=1)
    seeds = list(range(len(xte)))
    quality = {}
    for d, (src, dst) in {"a2b": (ete, xte), "b2a": (xte, ete)}.items():
        out = model.translate(src, d, seeds)
        quality[d] = {"test_l1": round(float(measures.l1(out, dst).mean()), 4),
                      "test_psnr": round(float(measures.psnr(out, dst).mean()), 2)}
        print(f"{d}: test L1 {quality[d]['test_l1']} PSNR {quality[d]['test_psnr']} dB")
    save({d: n.state_dict() for d, n in nets.items()}, "pix2pix_edges.pt",
         {"trained_by": "scripts/translation/train_pix2pix.py", "seed": SEED, "epochs": args.epochs,
          "dataset": "digits-edges train split", "quality": quality, "train_seconds": round(time.time() - t0, 1)})


if __name__ == "__main__":
    main()
