"""Train the shapes segmenter (the dissection's scene parser): bench/assets/shapes/segmenter.pt.

    .venv/bin/python scripts/shapes/train_segmenter.py [--out PATH] [--epochs N]

Per-pixel colour (background + 6) and shape (background + 3) classes on the shapes train split, against the
world's exact masks (bench.shapes.world.render_labels); fixed seed, one CPU thread, deterministic kernels. Prints
its quality on the 500 held-out test scenes as a ``quality {...}`` JSON line: pixel accuracy of each head, and the
IoU of each concept's predicted mask with the true one (over all test pixels, the way the dissection scores
units); written to the shipped location it records sha256 and quality in bench/assets/shapes/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from bench.shapes import world, zoo
from bench.shapes.models import to_input
from bench.shapes.scene_nets import Segmenter

SEED = 0


@torch.no_grad()
def quality(net: Segmenter) -> dict[str, float]:
    net.eval()
    test = world.load("test")
    truth = world.load_labels("test")
    pred = net.segment(test.images)
    q: dict[str, float] = {"colour_pixel_accuracy": round(float((pred[:, 0] == truth[:, 0]).float().mean()), 4),
                           "shape_pixel_accuracy": round(float((pred[:, 1] == truth[:, 1]).float().mean()), 4)}
    for head, names in ((0, world.COLOUR_NAMES), (1, world.SHAPES)):
        for i, name in enumerate(names):
            p, t = pred[:, head] == i + 1, truth[:, head] == i + 1
            q[f"iou_{name}"] = round(float((p & t).sum() / (p | t).sum().clamp(min=1)), 4)
    return q


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="write the weights here instead (the MANIFEST is left alone)")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(SEED)
    x = to_input(world.load("train").images)
    y = world.load_labels("train")
    net = Segmenter()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    bs = 64
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(x.shape[0], generator=g)
        for s in range(0, x.shape[0] - bs + 1, bs):
            idx = perm[s: s + bs]
            colour, shape = net(x[idx])
            loss = F.cross_entropy(colour, y[idx, 0]) + F.cross_entropy(shape, y[idx, 1])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch + 1} loss {loss.item():.4f} ({time.time() - t0:.0f}s)", flush=True)
    q = quality(net)
    digest = zoo.save("segmenter", net, {"trained_by": "scripts/shapes/train_segmenter.py", "seed": SEED,
                                         "epochs": args.epochs, "quality": q}, out=args.out)
    print(f"quality {json.dumps(q, sort_keys=True)}")
    print(f"trained in {time.time() - t0:.1f} s; sha256 {digest}")


if __name__ == "__main__":
    main()
