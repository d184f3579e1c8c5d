"""Host (and GPU) memory of bench.Metrics over many update/compute/reset cycles (issue 29: no leak across cycles).

    python scripts/bench_training_memory.py                       # 1,000 cycles, digits protocol, batches of 16
    python scripts/bench_training_memory.py --cycles 200 --batch 64 --updates 4

Each cycle feeds ``--updates`` batches of ``--batch`` digits images (uint8, on the GPU when there is one and
``--device cuda``), computes FID, KID and precision/recall, and resets: what a training loop does every k steps.
The current resident set size (``/proc/self/statm``, not the lifetime peak) is read every ``--every`` cycles after
a warm-up of 20 cycles (one BLAS thread: small matrices, shared machine); the script prints the readings and the growth from the first to the last, and exits 1
when it exceeds ``--limit`` (5%). On CUDA it also reports ``torch.cuda.memory_allocated`` at the same points.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import warnings
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy/torch load their BLAS:
    os.environ.setdefault(_var, "1")  # small matrices on a shared machine are fastest on one thread

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--updates", type=int, default=2)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--limit", type=float, default=0.05)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import bench
    from bench.data import digits

    warnings.simplefilter("ignore")  # digits' singular covariances warn every cycle
    x, _ = digits.load("all")
    ref, pool = x[:600], x[600:].to(args.device)
    m = bench.Metrics(["fid", "kid", "prc"], protocol="digits", reference=ref, cache=False, device=args.device)
    g = torch.Generator().manual_seed(0)
    readings: list[tuple[int, int, int]] = []
    start = time.perf_counter()
    for cycle in range(1, args.cycles + 21):
        for _ in range(args.updates):
            idx = torch.randint(0, len(pool), (args.batch,), generator=g).to(pool.device)
            m.update(pool[idx])
        m.compute()
        m.reset()
        if cycle > 20 and (cycle - 20) % args.every == 0 or cycle == 20:
            gc.collect()
            cuda = torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
            readings.append((cycle - 20, rss_bytes(), cuda))
    secs = time.perf_counter() - start
    for c, rss, cuda in readings:
        print(f"cycle {c:5d}: RSS {rss / 2**20:8.1f} MiB" + (f"  CUDA allocated {cuda / 2**20:8.1f} MiB" if cuda else ""))
    growth = readings[-1][1] / readings[0][1] - 1
    worst = max(r[1] for r in readings) / readings[0][1] - 1
    print(f"{args.cycles} cycles ({args.updates} x {args.batch} images each) in {secs:.0f} s; RSS growth first->last "
          f"{growth:+.2%}, first->max {worst:+.2%} (limit {args.limit:.0%})")
    if readings[0][2]:
        print(f"CUDA allocated growth first->last {readings[-1][2] - readings[0][2]:+d} bytes")
    return 0 if worst <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
