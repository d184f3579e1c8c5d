"""Train the shapes attribute reader: bench/assets/shapes/attribute_net.pt.

    .venv/bin/python scripts/shapes/train_attribute_net.py

Count (softmax over 1-3) and colour / shape / cell presence (sigmoids) on the shapes train split; fixed seed,
one CPU thread, under a minute. Records per-attribute test accuracy (exact set match) in the MANIFEST: these are
the ceilings of the text-to-image attribute-accuracy metric on real images.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench.shapes import world, zoo
from bench.shapes.models import AttributeNet, to_input

SEED = 0


def accuracy(net: AttributeNet) -> dict[str, float]:
    from bench.metrics.t2i import attribute_hits

    test = world.load("test")
    hits = attribute_hits(net.read(test.images), test.scenes)
    return {k: round(float(v.mean()), 4) for k, v in hits.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=25)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    train = world.load("train")
    x = to_input(train.images)
    y = torch.from_numpy(np.stack([world.attribute_targets(s) for s in train.scenes]))
    net = AttributeNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(x.shape[0])
        for s in range(0, x.shape[0], 128):
            idx = perm[s: s + 128]
            z = net(x[idx])
            loss = F.cross_entropy(z[:, :3], y[idx, :3].argmax(1)) + F.binary_cross_entropy_with_logits(z[:, 3:], y[idx, 3:])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
    net.eval()
    acc = accuracy(net)
    digest = zoo.save("attribute-net", net, {"trained_by": "scripts/shapes/train_attribute_net.py", "seed": SEED,
                                             "epochs": args.epochs, "test_accuracy": acc})
    print(f"test accuracy {acc}\nsha256 {digest}")


if __name__ == "__main__":
    main()
