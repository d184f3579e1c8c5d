"""Peak host memory of evaluating 50,000 generated 32x32 images (issue 7's target: under 4 GB).

    python scripts/memory_50k.py [--n 50000]

Runs a one-task suite (uniform-noise RGB 32x32 samples against all 1,797 digits; FID, KID, precision/recall,
density/coverage on the digits backbone) in this process and prints the peak RSS (Linux VmHWM) and wall time.
The digits backbone keeps this runnable on 2 CPU cores; with Inception the features are 2048-d (0.4 GB more at
50k) and the compute is the GPU's business.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.features import FeatureStore
from bench.perf.timing import peak_rss_bytes, reset_peak_rss
from bench.plan import check_suite
from bench.results import RunDir
from bench.runner import Runner
from bench.suite import LoadedSuite, Suite


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    args = ap.parse_args()
    suite = Suite.model_validate({
        "name": "memory", "seed": 0,
        "datasets": {"ref": {"kind": "digits", "split": "all"}},
        "models": {"noise": {"adapter": "noise", "args": {"shape": [3, 32, 32]}}},
        "tasks": [{"name": "t", "reference": "ref", "n": args.n, "batch_size": 1000, "backbone": "digits",
                   "metrics": {"fid": {}, "kid": {}, "prc": {}, "density_coverage": {}}}],
        "output": {"grid": 16},
    })
    plan = check_suite(LoadedSuite(suite, Path("<memory>"), {}))
    reset_peak_rss()
    base = peak_rss_bytes()
    t0 = time.time()
    out = Runner(plan, store=FeatureStore(None, progress=False), progress=False, log=lambda m: None,
                 run_dir=RunDir(Path(tempfile.mkdtemp()) / "run")).run()
    assert not out.errors, out.errors
    peak = peak_rss_bytes()
    print(f"n={args.n}: peak RSS {peak / 2**30:.2f} GiB (process baseline before the run {base / 2**30:.2f} GiB), "
          f"wall {time.time() - t0:.0f} s")
    for r in out.rows:
        print(f"  {r['metric']:16s} {r['value']:.6g}")


if __name__ == "__main__":
    main()
