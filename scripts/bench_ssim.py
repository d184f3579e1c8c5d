"""SSIM and MS-SSIM speed: genbench (bench.translation.measures, float32 banded-matrix blur) against torchmetrics'
``structural_similarity_index_measure`` / ``multiscale_structural_similarity_index_measure`` on the same images.

    python scripts/bench_ssim.py [--n 200] [--size 64] [--ms-size 256] [--ms-n 20] [--rounds 5]

Both sides get the same seeded uint8 image pairs (noisy copies of smooth images); torchmetrics gets them already
converted to float32 (its usual precision, data_range=255), genbench takes the uint8 tensors as
``genbench score pairs`` does, conversions included. Rounds alternate the two sides (A B, B A, ...) so that a
machine shared with other jobs slows both alike; the report gives the median and the spread (min-max) of the
per-round ratios, and the largest difference of the values from torchmetrics in float64 and in float32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm_ms_ssim
from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

from bench.translation import measures


def pairs(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth images (bicubic upsampling of 8x coarser noise) and noisy copies: SSIM around 0.5-0.9."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(2, size // 8), max(2, size // 8), generator=g) * 255
    gt = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 255).round()
    out = (gt + torch.randint(-20, 21, gt.shape, generator=g)).clamp(0, 255)
    return out.to(torch.uint8), gt.to(torch.uint8)


def alternate(a: Callable[[], object], b: Callable[[], object], rounds: int) -> dict[str, object]:
    a(), b()  # warm-up: first-call allocations, lazy imports
    ta: list[float] = []
    tb: list[float] = []
    for r in range(rounds):
        for fn, times in ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    ratios = [y / x for x, y in zip(ta, tb, strict=True)]
    return {"genbench_s": statistics.median(ta), "torchmetrics_s": statistics.median(tb),
            "speedup_median": statistics.median(ratios), "speedup_min": min(ratios), "speedup_max": max(ratios)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--ms-n", type=int, default=20)
    ap.add_argument("--ms-size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    report: dict[str, object] = {"threads": torch.get_num_threads()}

    o, g = pairs(args.n, args.size)
    of, gf = o.float(), g.float()
    ours = measures.ssim(o, g)
    ref64 = tm_ssim(o.double(), g.double(), data_range=255.0, reduction="none").numpy()
    ref32 = tm_ssim(of, gf, data_range=255.0, reduction="none").double().numpy()
    report[f"ssim {args.n} x {args.size}x{args.size}"] = {
        **alternate(lambda: measures.ssim(o, g), lambda: tm_ssim(of, gf, data_range=255.0, reduction="none"),
                    args.rounds),
        "max_abs_diff_vs_torchmetrics_float64": float(np.abs(ours - ref64).max()),
        "max_abs_diff_vs_torchmetrics_float32": float(np.abs(ours - ref32).max()),
        "torchmetrics_float32_vs_float64": float(np.abs(ref32 - ref64).max())}

    o, g = pairs(args.ms_n, args.ms_size, seed=1)
    of, gf = o.float(), g.float()
    ours = measures.ms_ssim(o, g)
    ref64 = tm_ms_ssim(o.double(), g.double(), data_range=255.0, reduction="none").numpy()
    report[f"ms_ssim {args.ms_n} x {args.ms_size}x{args.ms_size}"] = {
        **alternate(lambda: measures.ms_ssim(o, g), lambda: tm_ms_ssim(of, gf, data_range=255.0, reduction="none"),
                    args.rounds),
        "max_abs_diff_vs_torchmetrics_float64": float(np.abs(ours - ref64).max())}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
