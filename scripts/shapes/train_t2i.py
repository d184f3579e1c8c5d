"""Train the shapes text-to-image generator: bench/assets/shapes/t2i_generator.pt.

    .venv/bin/python scripts/shapes/train_t2i.py [--out PATH] [--epochs N]

A conditional VAE (bench.shapes.models.TextToImage: GRU text encoder trained jointly, cross-attention from an 8x8
query grid, conv decoder) on (canonical caption, image) pairs of the shapes train split. Fixed seed, one CPU
thread, deterministic kernels: the same command writes the same bytes. Prints its quality (attribute accuracy of
one sample per test prompt, read back by the shapes attribute network; mean squared error to the real test image
at z = 0) as a ``quality {...}`` JSON line; written to the shipped location it records sha256 and quality in
bench/assets/shapes/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.seeding import derive_seed, latents_from_seeds
from bench.shapes import world, zoo
from bench.shapes.models import TextToImage, pad_tokens, to_input

SEED = 0
SIGMA = 0.05  # the decoder's pixel noise scale: reconstruction weight 1 / (2 sigma^2) against the KL term


def quality(net: TextToImage) -> dict[str, float]:
    from bench.metrics.t2i import attribute_hits

    test = world.load("test")
    net.eval()
    z = latents_from_seeds([derive_seed("shapes-t2i-quality", i) for i in range(len(test.prompts))], (net.latent_dim,))
    imgs = net.generate(test.prompts, z)
    anet, _ = zoo.load("attribute-net")
    hits = attribute_hits(anet.read(imgs), test.scenes)  # type: ignore[operator]
    q = {f"attr_{k}": round(float(v.mean()), 4) for k, v in hits.items()}
    mean_img = net.generate(test.prompts, torch.zeros(len(test.prompts), net.latent_dim)).float() / 255
    q["mse_z0"] = round(float(((mean_img - test.images.float() / 255) ** 2).mean()), 5)
    return q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="write the weights here instead (the MANIFEST is left alone)")
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(SEED)
    train = world.load("train")
    x = to_input(train.images)
    ids, lens = pad_tokens(train.prompts)
    net = TextToImage()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    bs = 64
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(x.shape[0], generator=g)
        tot = np.zeros(2)
        for s in range(0, x.shape[0] - bs + 1, bs):
            idx = perm[s: s + bs]
            L = int(lens[idx].max())
            states, mask, summary = net.encode_text(ids[idx, :L], lens[idx])
            mu, logvar = net.posterior(x[idx], summary)
            z = mu + torch.randn(mu.shape, generator=g) * (0.5 * logvar).exp()
            rec = net.decode(states, mask, summary, z)
            nll = F.mse_loss(rec, x[idx], reduction="none").flatten(1).sum(1).mean() / (2 * SIGMA ** 2)
            kl = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(1).mean()
            loss = nll + kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += (nll.item(), kl.item())
        sched.step()
        nb = x.shape[0] // bs
        print(f"epoch {epoch + 1} nll {tot[0] / nb:.1f} kl {tot[1] / nb:.2f} ({time.time() - t0:.0f}s)", flush=True)
    q = quality(net)
    digest = zoo.save("t2i-generator", net, {"trained_by": "scripts/shapes/train_t2i.py", "seed": SEED,
                                             "epochs": args.epochs, "quality": q}, out=args.out)
    print(f"quality {json.dumps(q, sort_keys=True)}")
    print(f"trained in {time.time() - t0:.1f} s; sha256 {digest}")


if __name__ == "__main__":
    main()
