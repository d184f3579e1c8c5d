"""genbench vs torch-fidelity vs clean-fid on the same two image folders and the same Inception weights file.

    .venv/bin/python scripts/side_by_side.py [--n 500] [--workdir DIR] [--no-clean-fid]

Prints values and wall times in three situations:
  1. cold: empty caches, FID + KID + IS of folder A against folder B;
  2. a new model against a cached reference (folder C against B, B's features cached);
  3. re-scoring A against B with every feature cached.
genbench runs twice in each situation: ``exact`` (the reference network as it ships; the default) and ``fast``
(``--fast`` / ``inference: fast``: BatchNorm folded, channels_last; features equal to ~1e-6 relative), each with
its own feature cache. Every tool is imported and its network run once on two images before any timing, so the
times are the tools' work, not Python imports or one-off kernel set-up. Weights are seeded random Inception
weights written in the published file formats (bench.parity): the published files cannot be downloaded here, and
speed does not depend on the weight values. torch-fidelity caches features of named inputs (cache_root + input
cache names); clean-fid has no cache for folder-vs-folder scoring, so its FID and KID are recomputed (one pass
each) in every situation. KID uses subsets of min(1000, n) samples in every tool.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _timed(fn: Callable[[], dict[str, float]]) -> tuple[dict[str, float], float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--workdir")
    ap.add_argument("--no-clean-fid", action="store_true", help="skip clean-fid (two full passes per situation)")
    ap.add_argument("--clean-fid-once", action="store_true", help="time clean-fid in the cold situation only: it has "
                    "no feature cache for folders, so it does the same work in the other two")
    ap.add_argument("--rescore-only", action="store_true", help="time only the fully cached re-score, reusing the "
                    "caches a previous run left in --workdir")
    args = ap.parse_args()
    if args.rescore_only and not args.workdir:
        ap.error("--rescore-only needs the --workdir of a previous run")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="genbench-sbs-"))
    os.environ["GENBENCH_CACHE"] = str(work / "genbench-cache")
    import torch_fidelity
    from cleanfid import fid as cfid

    from bench.metrics.distribution import TORCH_FIDELITY_SEED
    from bench.parity import clean_fid_pointed_at, write_image_folders, write_random_weights
    from bench.score import score_images

    files = write_random_weights(work / "weights")
    a, b = write_image_folders(work / "ab", n=args.n, seed=0)
    c, _ = write_image_folders(work / "c", n=args.n, seed=1)
    w1, w2 = write_image_folders(work / "warm", n=2, seed=2)
    kid_subset = min(1000, args.n)
    # torch-fidelity draws IS splits and KID subsets with one rng_seed (2020 by default); genbench's isc and kid
    # draw with the same seed by default (rng_seed), so every value is comparable
    isc_seed = TORCH_FIDELITY_SEED

    def genbench(x: Path, y: Path, inference: str) -> dict[str, float]:
        r = score_images(str(x), str(y), ["fid", "kid", "isc"], backbone="inception-v3-compat",
                         weights=str(files["pth"]), progress=False, out=str(work / "runs"), inference=inference)
        return {k: r["metrics"][k]["value"] for k in ("fid", "kid", "isc")}

    def fidelity(x: Path, y: Path, name: str, ref: str = "ref-b") -> dict[str, float]:
        m = torch_fidelity.calculate_metrics(
            input1=str(x), input2=str(y), cuda=False, fid=True, kid=True, isc=True, kid_subset_size=min(kid_subset, len(os.listdir(x))),
            feature_extractor_weights_path=str(files["pth"]), cache=True, cache_root=str(work / "tf-cache"),
            input1_cache_name=name, input2_cache_name=ref, verbose=False, rng_seed=isc_seed)
        return {"fid": m["frechet_inception_distance"], "kid": m["kernel_inception_distance_mean"],
                "isc": m["inception_score_mean"]}

    def cleanfid(x: Path, y: Path) -> dict[str, float]:
        kw: dict[str, Any] = dict(mode="legacy_tensorflow", device=torch.device("cpu"), num_workers=0, batch_size=32,
                                  verbose=False, use_dataparallel=False)
        with clean_fid_pointed_at(files["torchscript"], files["pth"]):
            return {"fid": float(cfid.compute_fid(str(x), str(y), **kw)),
                    "kid": float(cfid.compute_kid(str(x), str(y), **kw))}

    # warm-up: every network built and run once on 2 images (kernels, thread pools), nothing timed
    _timed(lambda: genbench(w1, w2, "exact"))
    _timed(lambda: genbench(w1, w2, "fast"))
    _timed(lambda: fidelity(w1, w2, "warm-1", "warm-2"))
    if not args.no_clean_fid:
        _timed(lambda: cleanfid(w1, w2))

    situations = [("cold (empty caches)", a, "in-a"), ("new model, cached reference", c, "in-c"),
                  ("fully cached re-score", a, "in-a")]
    print(f"n = {args.n} images per folder, 32x32 RGB, Inception at 299x299 on {torch.get_num_threads()} CPU threads; "
          f"speed-up = torch-fidelity seconds / tool seconds")
    print(f"{'situation':30s} {'tool':17s} {'seconds':>8s} {'speed-up':>9s}  values (relative difference to torch-fidelity)")
    if args.rescore_only:
        situations = situations[2:]
    cold_clean: tuple[str, dict[str, float], float] | None = None
    for k, (title, x, name) in enumerate(situations):
        f, tf = _timed(lambda x=x, name=name: fidelity(x, b, name))  # type: ignore[misc]
        rows = [("genbench exact", *_timed(lambda x=x: genbench(x, b, "exact"))),  # type: ignore[misc]
                ("genbench fast", *_timed(lambda x=x: genbench(x, b, "fast"))),  # type: ignore[misc]
                ("torch-fidelity", f, tf)]
        if not args.no_clean_fid and (k == 0 or not args.clean_fid_once):
            rows.append(("clean-fid", *_timed(lambda x=x: cleanfid(x, b))))  # type: ignore[misc]
            cold_clean = rows[-1]
        elif not args.no_clean_fid and cold_clean is not None:  # no cache for folders: the same work as cold
            rows.append(("clean-fid (as cold)", cold_clean[1], cold_clean[2]))
        for i, (tool, vals, secs) in enumerate(rows):
            shown = ", ".join(f"{k}={v:.7g} ({abs(v - f[k]) / abs(f[k]):.1e})" for k, v in vals.items())
            print(f"{title if i == 0 else '':30s} {tool:17s} {secs:8.2f} {tf / secs:8.2f}x  {shown}")


if __name__ == "__main__":
    main()
