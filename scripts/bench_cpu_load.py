"""CPU time of the exact Inception forward (torch-fidelity's network) on a busy machine, by OpenMP wait policy and
forward batch size: what genbench's CLI should run with when other CPU-bound jobs share the cores.

    python scripts/bench_cpu_load.py [--n 32] [--size 32] [--busy 2] [--rounds 2] [--cases ...]

A case is ``BATCH:POLICY[:tuned]``: images per forward call, ``OMP_WAIT_POLICY`` (``default``: unset, libgomp
spins a while at every barrier before sleeping; ``PASSIVE``: it sleeps at once), and whether genbench's allocator
tuning (bench.runtime.tune_cpu_allocator) is on. ``64:default`` is torch-fidelity's own forward (its default
batch size, no tuning). Each case runs in a fresh process (the policy is read once, when torch's OpenMP runtime
starts), on the same seeded uint8 images and a seeded random Inception in torch-fidelity's file format. ``--busy
K`` starts K pure-Python busy loops for the whole measurement (stopped at the end, and by themselves after
``--busy-limit`` seconds): the cores are then contended as on a machine running training jobs.
Rounds alternate the order of the cases. Reported per case: median wall seconds and median CPU seconds
(user + system, ``resource.getrusage(RUSAGE_CHILDREN)`` around the case's process, start-up included) and of
the forward alone (``os.times`` in the process, all threads), and whether the features
(pool and logits) are bit-identical to the first case's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CASE = r"""
import json, sys, time
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
import os
with torch.no_grad():
    net(x[:2])
    t0, c0 = time.perf_counter(), os.times()
    outs = [net(x[i:i + bs]) for i in range(0, len(x), bs)]
    wall, c1 = time.perf_counter() - t0, os.times()
pool, logits = torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
torch.save((pool, logits), args["out"])
print(json.dumps({"forward_wall": wall, "forward_cpu": (c1.user - c0.user) + (c1.system - c0.system)}))
"""

_BUSY = "import time\nend = time.time() + float(__import__('sys').argv[1])\nwhile time.time() < end:\n    pass\n"


def run_case(case: str, weights: Path, tmp: Path, n: int, size: int) -> dict[str, float]:
    batch, policy, *rest = case.split(":")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("OMP_WAIT_POLICY", None)
    if policy != "default":
        env["OMP_WAIT_POLICY"] = policy
    out = tmp / f"{case.replace(':', '_')}.pt"
    spec = {"tuned": "tuned" in rest, "weights": str(weights), "n": n, "size": size, "batch": int(batch),
            "out": str(out)}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CASE, json.dumps(spec)], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
            **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--busy", type=int, default=2, help="competing busy loops (0: none)")
    ap.add_argument("--busy-limit", type=float, default=1200.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cases", nargs="+", default=["64:default", "4:default:tuned", "4:PASSIVE:tuned"])
    args = ap.parse_args()
    import torch

    from bench.parity import random_inception_state_dict

    busy = [subprocess.Popen([sys.executable, "-c", _BUSY, str(args.busy_limit)]) for _ in range(args.busy)]
    try:
        with tempfile.TemporaryDirectory() as tmp_s:
            tmp = Path(tmp_s)
            weights = tmp / "inception-random-0.pth"
            torch.save(random_inception_state_dict(0), weights)
            res: dict[str, list[dict[str, float]]] = {c: [] for c in args.cases}
            for r in range(args.rounds):
                for case in (args.cases if r % 2 == 0 else list(reversed(args.cases))):
                    res[case].append(run_case(case, weights, tmp, args.n, args.size))
                    print(case, {k: round(v, 1) for k, v in res[case][-1].items()}, flush=True)
            first = torch.load(tmp / f"{args.cases[0].replace(':', '_')}.pt", weights_only=True)
            report: dict[str, object] = {"n": args.n, "size": args.size, "busy_loops": args.busy,
                                         "rounds": args.rounds, "load_average": os.getloadavg()}
            for case, runs in res.items():
                feats = torch.load(tmp / f"{case.replace(':', '_')}.pt", weights_only=True)
                report[case] = {**{f"{k}_s": round(statistics.median(r[k] for r in runs), 1)
                                   for k in ("wall", "cpu", "forward_wall", "forward_cpu")},
                                "forward_cpu_s_all": [round(r["forward_cpu"], 1) for r in runs],
                                "identical_to_first": all(torch.equal(a, b) for a, b in zip(first, feats, strict=True))}
            print(json.dumps(report, indent=1))
    finally:
        for p in busy:
            p.terminate()
        for p in busy:
            p.wait()


if __name__ == "__main__":
    main()
