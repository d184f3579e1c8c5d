"""The cost of bench.Metrics.update beyond the backbone's own forward pass (issue 29: <= 5% on the CPU).

    python scripts/bench_training_update.py                       # tf-compat, 32x32 RGB, batches of 64, 3 runs
    python scripts/bench_training_update.py --protocol digits --runs 5

Side A is ``m.update(batch)`` (uint8 check, the backbone in its CPU pieces, the float64 sums, the kept rows for
KID/PR); side B is the bare forward the update wraps: ``bb.forward(bb.preprocess(piece))`` over the same pieces
under ``torch.no_grad``. Each run times ``--pairs`` alternated A/B pairs (A first in even pairs, B first in odd)
and reports the ratio of the sums; the spread over ``--runs`` runs is printed with the median. It also times the
accumulation alone (``_add`` of 64 precomputed rows) against the forward. ``--protocol tf-compat`` uses a seeded
random Inception file in torch-fidelity's format (bench.parity, no download): the real network's cost, not its
values. Numbers from a shared machine: report them as such.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default="tf-compat")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=1)
    args = ap.parse_args()

    import bench
    from bench.parity import write_random_weights

    warnings.simplefilter("ignore")
    tmp = tempfile.TemporaryDirectory(prefix="genbench-bench-training-")
    weights = write_random_weights(Path(tmp.name))["pth"] if args.protocol != "digits" else None
    g = torch.Generator().manual_seed(0)
    channels = 1 if args.protocol == "digits" else 3
    ref = torch.randint(0, 256, (16, channels, args.size, args.size), dtype=torch.uint8, generator=g)
    batch = torch.randint(0, 256, (args.batch, channels, args.size, args.size), dtype=torch.uint8, generator=g)
    m = bench.Metrics(["fid", "kid", "prc"], protocol=args.protocol, reference=ref, weights=weights, cache=False,
                      device="cpu", max_samples=10**6)
    bb = m._backbone(torch.device("cpu"))
    rows = bb.forward_rows(batch)

    def side_a() -> float:
        t = time.perf_counter()
        m.update(batch)
        return time.perf_counter() - t

    @torch.no_grad()
    def side_b() -> float:
        t = time.perf_counter()
        for s in range(0, len(batch), rows):
            bb.forward(bb.preprocess(batch[s: s + rows]))
        return time.perf_counter() - t

    m.update(batch[:4])  # warm-up: the sums allocated, the network's first call made
    m.reset()
    ratios, forwards = [], []
    for run in range(args.runs):
        a = b = 0.0
        for p in range(args.pairs):
            if p % 2 == 0:
                a += side_a()
                b += side_b()
            else:
                b += side_b()
                a += side_a()
        ratios.append(a / b)
        forwards.append(b / args.pairs)
        print(f"run {run + 1}: update {a / args.pairs:.3f} s, bare forward {b / args.pairs:.3f} s per batch of "
              f"{args.batch}: overhead {a / b - 1:+.2%}", flush=True)
        m.reset()
    feats = torch.randn(args.batch, m._dim)
    m._add(feats)
    t = time.perf_counter()
    for _ in range(20):
        m._add(feats)
    acc = (time.perf_counter() - t) / 20
    m.reset()
    fwd = statistics.median(forwards)
    print(f"{args.protocol}, {args.size}x{args.size}, batches of {args.batch}, {torch.get_num_threads()} threads: "
          f"overhead median {statistics.median(ratios) - 1:+.2%} (runs {min(ratios) - 1:+.2%} .. "
          f"{max(ratios) - 1:+.2%}); the accumulation alone {acc * 1e3:.1f} ms = {acc / fwd:.2%} of a forward")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
