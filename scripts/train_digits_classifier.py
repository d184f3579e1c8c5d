"""Train the embedded digits feature network (bench/assets/digits_classifier.pt).

    python scripts/train_digits_classifier.py [--out bench/assets/digits_classifier.pt]

Fixed seed, CPU, about 20 s. Prints the test-split accuracy; tests/test_digits_backbone.py asserts that the
shipped weights reach the accuracy recorded in bench/assets/MANIFEST.json.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.backbones.digits import MANIFEST_FILE, WEIGHTS_FILE, DigitsNet, to_input
from bench.data import digits
from bench.retrain import record_in_manifest

SEED = 0


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random shifts of up to one pixel: the features then see small translations as near."""
    pad = F.pad(x, (1, 1, 1, 1))
    out = torch.empty_like(x)
    offs = torch.randint(0, 3, (x.shape[0], 2), generator=g)
    for i, (dy, dx) in enumerate(offs.tolist()):
        out[i] = pad[i, :, dy: dy + 8, dx: dx + 8]
    return out


def accuracy(net: DigitsNet, images: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((net(to_input(images)).argmax(1) == labels).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(WEIGHTS_FILE))
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(SEED)
    xtr, ytr = digits.load("train")
    xte, yte = digits.load("test")
    x = to_input(xtr)
    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    for epoch in range(args.epochs):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], 64):
            idx = perm[i: i + 64]
            loss = F.cross_entropy(net(augment(x[idx], g)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % 10 == 0:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f} test accuracy {accuracy(net.eval(), xte, yte):.4f}")
            net.train()
    net.eval()
    acc = accuracy(net, xte, yte)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"test accuracy {acc:.4f}; wrote {out} sha256 {digest}")
    if out.resolve() == WEIGHTS_FILE.resolve():
        record_in_manifest(MANIFEST_FILE, "digits_classifier.pt", {
            "sha256": digest,
            "test_accuracy": round(acc, 4),
            "trained_by": "scripts/train_digits_classifier.py",
            "seed": SEED,
            "epochs": args.epochs,
        })


if __name__ == "__main__":
    main()
