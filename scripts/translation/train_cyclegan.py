"""Train the zoo's CycleGAN translator on digits-strokes (bench/assets/translation/cyclegan_strokes.pt).

    .venv/bin/python scripts/translation/train_cyclegan.py [--epochs 30]

Unpaired training on the digits train split, exactly as the ``digits-strokes`` dataset builds it: domain A =
thin strokes of the first half, domain B = thick strokes of the second half (no pair is ever seen). Two ResNet
generators (G: A→B, F: B→A) and two PatchGAN discriminators; least-squares GAN loss + 10 x cycle L1 + 5 x
identity L1 (Zhu et al. 2017). Fixed seed, one CPU thread, about a minute. Because the embedded world is
synthetic, the script can also print the L1 to the true (never trained on) thick/thin version of each test
input, recorded in the manifest as its quality.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from bench.data import digits  # noqa: E402
from bench.translation import measures  # noqa: E402
from bench.translation.data import thick_strokes, thin_strokes  # noqa: E402
from bench.translation.nets import PatchDisc8, ResnetGen8, to_float  # noqa: E402
from bench.translation.zoo import ZooModel  # noqa: E402
from scripts.translation.common import batches, save, setup  # noqa: E402

SEED = 0
LAMBDA_CYC, LAMBDA_ID = 10.0, 5.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    g = setup(SEED)
    t0 = time.time()
    xtr, _ = digits.load("train")
    half = len(xtr) // 2
    a_all, b_all = to_float(thin_strokes(xtr[:half])), to_float(thick_strokes(xtr[half:]))
    G, Fn = ResnetGen8(32, 2), ResnetGen8(32, 2)
    DA, DB = PatchDisc8(32), PatchDisc8(32)
    og = torch.optim.Adam([*G.parameters(), *Fn.parameters()], lr=2e-3, betas=(0.5, 0.999))
    od = torch.optim.Adam([*DA.parameters(), *DB.parameters()], lr=2e-3, betas=(0.5, 0.999))

    def mse(t: torch.Tensor, v: float) -> torch.Tensor:
        return ((t - v) ** 2).mean()

    for epoch in range(args.epochs):
        for ia, ib in zip(batches(half, 50, g), batches(len(b_all), 50, g), strict=False):
            a, b = a_all[ia], b_all[ib]
            fb, fa = G(a), Fn(b)
            lg = (mse(DB(None, fb), 1.0) + mse(DA(None, fa), 1.0)
                  + LAMBDA_CYC * ((Fn(fb) - a).abs().mean() + (G(fa) - b).abs().mean())
                  + LAMBDA_ID * ((G(b) - b).abs().mean() + (Fn(a) - a).abs().mean()))
            og.zero_grad()
            lg.backward()
            og.step()
            ld = 0.5 * (mse(DB(None, b), 1.0) + mse(DB(None, fb.detach()), 0.0)
                        + mse(DA(None, a), 1.0) + mse(DA(None, fa.detach()), 0.0))
            od.zero_grad()
            ld.backward()
            od.step()
        if (epoch + 1) % 10 == 0:
            print(f"  epoch {epoch + 1}: loss D {ld.item():.3f} G {lg.item():.3f}", flush=True)
    model = ZooModel({"a2b": G.eval(), "b2a": Fn.eval()}, noise_channels=0)
    xte, _ = digits.load("test")
    seeds = list(range(len(xte)))
    quality = {}
    for d, (src, dst) in {"a2b": (thin_strokes(xte), thick_strokes(xte)), "b2a": (thick_strokes(xte), thin_strokes(xte))}.items():
        out = model.translate(src, d, seeds)
        quality[d] = {"test_l1_to_synthetic_truth": round(float(measures.l1(out, dst).mean()), 4),
                      "identity_baseline_l1": round(float(measures.l1(src, dst).mean()), 4)}
        print(f"{d}: test L1 to the synthetic truth {quality[d]['test_l1_to_synthetic_truth']} "
              f"(identity: {quality[d]['identity_baseline_l1']})")
    save({"a2b": G.state_dict(), "b2a": Fn.state_dict()}, "cyclegan_strokes.pt",
         {"trained_by": "scripts/translation/train_cyclegan.py", "seed": SEED, "epochs": args.epochs,
          "dataset": "digits-strokes train split (unpaired halves)", "quality": quality,
          "train_seconds": round(time.time() - t0, 1)})


if __name__ == "__main__":
    main()
