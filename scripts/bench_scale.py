"""Scaling of a feature-extraction-bound job over ranks: ``genbench score images`` (tf-compat FID) alone and under
``torchrun --nproc-per-node K`` (issue: scale out).

    python scripts/bench_scale.py --n 400 --size 256 --ranks 1 2              # this machine: CPU ranks on gloo
    python scripts/bench_scale.py --n 10000 --size 256 --ranks 1 2 4 8 --device cuda   # one rank per GPU, NCCL

Writes two folders of ``n`` smooth, distinct PNGs (they compress like photographs, unlike noise), then times the
whole command (process start, weights, decode, Inception, the gather, FID) with an empty feature cache, once per
rank count, and prints wall seconds, images/s (both folders), speed-up over 1 rank and the FID (equal across rank
counts up to float round-off). CPU ranks split the machine's cores between them (``OMP_NUM_THREADS`` = cores / K),
so on a 2-core machine 2 ranks can at best match 1 rank using both cores: the figure shows the overhead of the
split, not a speed-up. The Inception file is a seeded random one in torch-fidelity's format (bench.parity): the
time of the real network, not its values.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.bench_memory import inception_weights, write_pngs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="images per folder")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--device", default="cpu", help="cpu (gloo ranks) or cuda (one GPU per rank, NCCL)")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "genbench-scale"))
    a = ap.parse_args()
    work = Path(a.workdir)
    gen = write_pngs(work / f"gen-{a.n}-{a.size}", a.n, a.size, 1)
    ref = write_pngs(work / f"ref-{a.n}-{a.size}", a.n, a.size, 2)
    weights = inception_weights(work / "inception-random-0.pth")
    cores = os.cpu_count() or 1
    base: float | None = None
    print(f"{2 * a.n} images ({a.n} per folder) of {a.size}x{a.size}, tf-compat FID, device {a.device}, {cores} cores")
    for k in a.ranks:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "GENBENCH_CACHE": cache, "GENBENCH_OFFLINE": "1",
                   "OMP_NUM_THREADS": str(max(1, cores // k)) if a.device == "cpu" else os.environ.get("OMP_NUM_THREADS", "4")}
            launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(k)] \
                if k > 1 else [sys.executable]
            cmd = [*launcher, "-m", "bench", "score", "images", str(gen), str(ref), "--protocol", "tf-compat",
                   "--weights", str(weights), "--fid", "--json", "--device", a.device]
            t0 = time.time()
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            secs = time.time() - t0
        if p.returncode:
            raise SystemExit(p.stderr[-3000:])
        fid = json.loads(p.stdout)["metrics"]["fid"]["value"]
        base = base or secs
        print(f"ranks {k}: {secs:7.1f} s  {2 * a.n / secs:7.1f} img/s  speed-up {base / secs:4.2f}x  "
              f"(threads/rank {env['OMP_NUM_THREADS']})  FID {fid:.6f}", flush=True)


if __name__ == "__main__":
    main()
