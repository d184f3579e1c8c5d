"""Train the shapes captioner: bench/assets/shapes/captioner.pt.

    .venv/bin/python scripts/shapes/train_captioner.py

Teacher forcing on the first (complete) reference caption of each shapes train image, so greedy decoding
produces one full description; fixed seed, one CPU thread, about a minute. Records test-split CIDEr-D/BLEU-4
(bench.text, no METEOR) with the sha256 in bench/assets/shapes/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bench.shapes import world, zoo
from bench.shapes.models import Captioner, pad_tokens, to_input

SEED = 0


def evaluate(net: Captioner, n: int = 500) -> dict[str, float]:
    from bench.text.caption_scores import score_captions

    test = world.load("test")
    hyps = net.caption(test.images[:n])
    res = score_captions({i: test.captions[i] for i in range(n)}, dict(enumerate(hyps)), meteor=False, spice=False)
    return {k: round(v.value, 4) for k, v in res.metrics.items() if v.available and v.value is not None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    train = world.load("train")
    x = to_input(train.images)
    ids, lens = pad_tokens([c[0] for c in train.captions], bos=True, eos=True)
    net = Captioner()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    bs = 128
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(x.shape[0])
        for s in range(0, x.shape[0] - bs + 1, bs):
            idx = perm[s: s + bs]
            L = int(lens[idx].max())
            seq = ids[idx, :L]
            logits = net.logits(x[idx], seq[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, 1:].reshape(-1), ignore_index=world.PAD)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch + 1} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
    net.eval()
    m = evaluate(net)
    digest = zoo.save("captioner", net, {"trained_by": "scripts/shapes/train_captioner.py", "seed": SEED,
                                         "epochs": args.epochs, "test_captions": m})
    print(f"test {m}\nsha256 {digest}")


if __name__ == "__main__":
    main()
