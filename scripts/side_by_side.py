"""genbench vs torch-fidelity vs clean-fid on the same two image folders and the same Inception weights file.

    python scripts/side_by_side.py [--n 150] [--workdir DIR]

Prints values and wall times in three situations:
  1. cold: empty caches, FID + KID + IS of folder A against folder B;
  2. a new model against a cached reference (folder C against B, B's features cached);
  3. re-scoring A against B with every feature cached.
Weights are seeded random Inception weights written in the published file formats (bench.parity), because the
published files cannot be downloaded here; speed does not depend on the weight values. torch-fidelity caches
features of named inputs (cache_root + input cache names); clean-fid has no cache for folder-vs-folder scoring,
so its FID and KID are recomputed (one pass each) in every situation.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="genbench-sbs-"))
    os.environ["GENBENCH_CACHE"] = str(work / "genbench-cache")
    from bench.parity import clean_fid_pointed_at, write_image_folders, write_random_weights
    from bench.score import score_images

    files = write_random_weights(work / "weights")
    a, b = write_image_folders(work / "ab", n=args.n, seed=0)
    c, _ = write_image_folders(work / "c", n=args.n, seed=1)
    kid_subset = min(1000, args.n)

    def genbench(x: Path):  # type: ignore[no-untyped-def]
        r = score_images(str(x), str(b), ["fid", "kid", "isc"], backbone="inception-v3-compat",
                         weights=str(files["pth"]), progress=False, out=str(work / "runs"))
        return {k: r["metrics"][k]["value"] for k in ("fid", "kid", "isc")}

    def fidelity(x: Path, name: str):  # type: ignore[no-untyped-def]
        import torch_fidelity

        m = torch_fidelity.calculate_metrics(
            input1=str(x), input2=str(b), cuda=False, fid=True, kid=True, isc=True, kid_subset_size=kid_subset,
            feature_extractor_weights_path=str(files["pth"]), cache=True, cache_root=str(work / "tf-cache"),
            input1_cache_name=name, input2_cache_name="ref-b", verbose=False)
        return {"fid": m["frechet_inception_distance"], "kid": m["kernel_inception_distance_mean"],
                "isc": m["inception_score_mean"]}

    def cleanfid(x: Path):  # type: ignore[no-untyped-def]
        from cleanfid import fid as cfid

        kw = dict(mode="legacy_tensorflow", device=torch.device("cpu"), num_workers=0, batch_size=32, verbose=False,
                  use_dataparallel=False)
        with clean_fid_pointed_at(files["torchscript"], files["pth"]):
            return {"fid": float(cfid.compute_fid(str(x), str(b), **kw)),
                    "kid": float(cfid.compute_kid(str(x), str(b), **kw))}

    situations = [("cold (empty caches)", a, "in-a"), ("new model, cached reference", c, "in-c"),
                  ("fully cached re-score", a, "in-a")]
    print(f"n = {args.n} images per folder, 32x32 RGB, Inception at 299x299 on {torch.get_num_threads()} CPU threads")
    print(f"{'situation':30s} {'tool':15s} {'seconds':>8s} {'speed-up':>9s}  values")
    for title, x, name in situations:
        g, tg = _timed(lambda x=x: genbench(x))
        f, tf = _timed(lambda x=x, name=name: fidelity(x, name))
        cf, tc = _timed(lambda x=x: cleanfid(x))
        print(f"{title:30s} {'genbench':15s} {tg:8.1f} {'':>9s}  " + ", ".join(f"{k}={v:.6g}" for k, v in g.items()))
        print(f"{'':30s} {'torch-fidelity':15s} {tf:8.1f} {tf / tg:8.2f}x  " + ", ".join(f"{k}={v:.6g}" for k, v in f.items()))
        print(f"{'':30s} {'clean-fid':15s} {tc:8.1f} {tc / tg:8.2f}x  " + ", ".join(f"{k}={v:.6g}" for k, v in cf.items()))
        print(f"{'':30s} FID genbench vs torch-fidelity: relative difference {abs(g['fid'] - f['fid']) / abs(f['fid']):.1e}")


if __name__ == "__main__":
    main()
