"""Inception (torch-fidelity's exact network) on the CPU: time per image by forward batch size, with and without
genbench's allocator tuning, and whether the features stay bit-identical.

    python scripts/bench_inception_cpu.py [--n 128] [--size 32] [--batch 4 8 32 64] [--repeat 2]

Each case runs in its own process (the allocator setting is process-wide and cannot be undone), on the same seeded
uint8 images and a seeded random Inception in torch-fidelity's file format (bench.parity: speed does not depend on
the weight values). Every case's features are compared with the first case's (torch-fidelity's own forward at the
first batch size). This is what chose ``cpu_batch_size = 4`` for the Inception backbones and
``bench.runtime.tune_cpu_allocator``: on 2 cores, 32 images per call spent about a third of its time in the kernel
mapping and zeroing activation buffers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CASE = r"""
import json, os, sys, time
import torch
args = json.loads(sys.argv[1])
if args["tuned"]:
    from bench.runtime import tune_cpu_allocator
    tune_cpu_allocator()
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                  feature_extractor_weights_path=args["weights"]).eval()
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 256, (args["n"], 3, args["size"], args["size"]), generator=g, dtype=torch.uint8)
bs = args["batch"]
with torch.no_grad():
    net(x[:2])
    t0, c0 = time.perf_counter(), os.times()
    outs = [net(x[i:i + bs]) for i in range(0, len(x), bs)]
    secs, c1 = time.perf_counter() - t0, os.times()
pool, logits = torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
if not os.path.exists(args["ref"]):
    torch.save((pool, logits), args["ref"])
rp, rl = torch.load(args["ref"], weights_only=True)
print(json.dumps({"ms": secs / len(x) * 1000, "sys": c1.system - c0.system, "user": c1.user - c0.user,
                  "pool_equal": bool(torch.equal(rp, pool)), "logits_equal": bool(torch.equal(rl, logits))}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 64, 8, 4])
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    import torch

    from bench.parity import random_inception_state_dict

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "inception-random-0.pth"
        torch.save(random_inception_state_dict(0), weights)
        ref = str(Path(tmp) / "ref.pt")
        print(f"{args.n} images {args.size}x{args.size}, {torch.get_num_threads()} threads; features compared with "
              f"batch {args.batch[0]} untuned")
        print(f"{'batch':>5s} {'allocator':>9s} {'ms/img':>8s} {'sys s':>6s} {'user s':>6s}  pool/logits identical")
        for _ in range(args.repeat):
            for bs in args.batch:
                for tuned in (False, True):
                    case = {"tuned": tuned, "weights": str(weights), "n": args.n, "size": args.size, "batch": bs,
                            "ref": ref}
                    out = subprocess.run([sys.executable, "-c", _CASE, json.dumps(case)], capture_output=True,
                                         text=True, cwd=ROOT, check=True)
                    m = json.loads(out.stdout.strip().splitlines()[-1])
                    print(f"{bs:5d} {'tuned' if tuned else 'default':>9s} {m['ms']:8.1f} {m['sys']:6.1f} "
                          f"{m['user']:6.1f}  {m['pool_equal']}/{m['logits_equal']}", flush=True)


if __name__ == "__main__":
    main()
