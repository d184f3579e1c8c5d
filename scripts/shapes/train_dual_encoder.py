"""Train the shapes dual encoder ("shapes CLIP"): bench/assets/shapes/dual_encoder.pt.

    .venv/bin/python scripts/shapes/train_dual_encoder.py

Symmetric InfoNCE on (image, one of its 5 captions) pairs of the shapes train split; a third of the captions get
the CLIPScore prefix "A photo depicts " so that the offline CLIPScore protocol sees in-distribution text. Fixed
seed, one CPU thread, about a minute. Prints test-split retrieval (5 captions per image) and records it, with the
sha256, in bench/assets/shapes/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import random
import time

import torch
import torch.nn.functional as F

from bench.metrics.retrieval import retrieval_ranks
from bench.shapes import world, zoo
from bench.shapes.models import DualEncoder, pad_tokens, to_input

SEED = 0
PREFIX = "A photo depicts "


def evaluate(net: DualEncoder) -> dict[str, float]:
    test = world.load("test")
    with torch.no_grad():
        im = net.encode_images(test.images).numpy()
        texts = [c for cs in test.captions for c in cs]
        tx = net.encode_texts(texts).numpy()
    pairs = [i for i, cs in enumerate(test.captions) for _ in cs]
    return retrieval_ranks(im, tx, pairs).metrics()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    train = world.load("train")
    x = to_input(train.images)
    net = DualEncoder()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    bs = 128
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(x.shape[0])
        for s in range(0, x.shape[0] - bs + 1, bs):
            idx = perm[s: s + bs].tolist()
            texts = [rng.choice(train.captions[i]) for i in idx]
            texts = [(PREFIX + t) if rng.random() < 0.33 else t for t in texts]
            _, ie = net.image_features(x[idx])
            ids, lens = pad_tokens(texts)
            te = net.text_tower(ids, lens)
            logits = net.logit_scale.exp().clamp(max=100) * F.normalize(ie, dim=1) @ F.normalize(te, dim=1).T
            target = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (epoch + 1) % 8 == 0:
            m = evaluate(net.eval())
            print(f"epoch {epoch + 1} loss {loss.item():.3f} t2i R@1 {m['t2i_r1']:.1f} i2t R@1 {m['i2t_r1']:.1f} "
                  f"rsum {m['rsum']:.1f} ({time.time() - t0:.0f}s)", flush=True)
    m = evaluate(net.eval())
    digest = zoo.save("dual-encoder", net, {
        "trained_by": "scripts/shapes/train_dual_encoder.py", "seed": SEED, "epochs": args.epochs,
        "test_retrieval": {k: round(v, 2) for k, v in m.items()}})
    print(f"test retrieval {m}\nsha256 {digest}")


if __name__ == "__main__":
    main()
