"""Cold-start cost of the genbench CLI: two source trees side by side, each command in a fresh process.

    python scripts/bench_cold_start.py --before /path/to/old/tree --after . [--rounds 3] [--python PY]

Cases (each a new ``python -m bench`` process; the two trees alternate, the order reversed every other round, so
a machine shared with other jobs slows both alike):

- ``help``: ``genbench --help`` (imports only);
- ``images_warm``: ``genbench score images A R --fid --kid --protocol digits --json`` on the shipped digits
  (scikit-learn's, 1,200 train vs 597 test, written once as .npz), with a feature cache that already holds both
  sets' features (warmed once per tree before timing): imports, planning, the metrics, writing the run folder;
- ``images_cold``: the same with an empty cache folder (the digits forward included);
- ``images_fid_warm``: ``--fid`` alone, warm cache.

Prints per case the wall and CPU (user + system of the child) seconds of each tree, median over rounds, and the
after/before ratio per round (median, min, max); checks that both trees print the same numbers (JSON output,
timings removed).
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
from typing import Any


def digits_npz(folder: Path, python: str, tree: str) -> tuple[str, str]:
    """The shipped digits (train and test splits) as two .npz files of uint8 [N, 1, 8, 8] images."""
    a, b = folder / "digits_train.npz", folder / "digits_test.npz"
    if not (a.is_file() and b.is_file()):
        code = ("import numpy as np, sys; from bench.data.digits import load; "
                "[np.savez(p, images=load(s)[0].numpy()) for p, s in zip(sys.argv[1:], ('train', 'test'))]")
        subprocess.run([python, "-c", code, str(a), str(b)], check=True, env={**os.environ, "PYTHONPATH": tree})
    return str(a), str(b)


def timed(python: str, tree: str, args: list[str], cache: str) -> tuple[float, float, str]:
    """Wall and CPU seconds of one fresh ``python -m bench ARGS`` in ``tree``, and its stdout."""
    env = {**os.environ, "PYTHONPATH": tree, "GENBENCH_CACHE": cache, "TQDM_DISABLE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([python, "-m", "bench", *args], env=env, cwd=tree, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"{tree}: genbench {' '.join(args)} exited {out.returncode}: {out.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def numbers(stdout: str) -> Any:
    """The JSON report without wall-clock fields (what must be equal between the trees)."""
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if "second" not in k and k not in ("run_dir", "run_id")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x
    return strip(json.loads(stdout))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default=".")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--cases", default="help,images_warm,images_cold,images_fid_warm")
    args = ap.parse_args()
    trees = {"before": str(Path(args.before).resolve()), "after": str(Path(args.after).resolve())}
    work = Path(tempfile.mkdtemp(prefix="genbench-cold-"))
    a, r = digits_npz(work, args.python, trees["after"])
    score = ["score", "images", a, r, "--protocol", "digits", "--json"]
    cases = {"help": ["--help"], "images_warm": [*score, "--fid", "--kid"], "images_cold": [*score, "--fid", "--kid"],
             "images_fid_warm": [*score, "--fid"]}
    chosen = [c for c in args.cases.split(",") if c]
    warm = {side: str(work / f"cache-{side}") for side in trees}
    for side, tree in trees.items():  # each tree's own warm cache (feature keys may differ between versions)
        timed(args.python, tree, cases["images_warm"], warm[side])
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    outs: dict[tuple[str, str], Any] = {}
    for rnd in range(args.rounds):
        for case in chosen:
            sides = list(trees) if rnd % 2 == 0 else list(reversed(trees))
            for side in sides:
                cache = warm[side] if case != "images_cold" else tempfile.mkdtemp(dir=work, prefix="cold-")
                wall, cpu, out = timed(args.python, trees[side], cases[case], cache)
                times.setdefault((case, side), []).append((wall, cpu))
                if case != "help":
                    outs[(case, side)] = numbers(out)
                print(f"round {rnd} {case} {side}: wall {wall:.2f} s, cpu {cpu:.2f} s", file=sys.stderr, flush=True)
    report: dict[str, Any] = {"rounds": args.rounds, "load_average": os.getloadavg()}
    for case in chosen:
        b, f = times[(case, "before")], times[(case, "after")]
        row: dict[str, Any] = {}
        for i, what in enumerate(("wall", "cpu")):
            ratios = [y[i] / x[i] for x, y in zip(b, f, strict=True)]
            row[what] = {"before_median_s": round(statistics.median(x[i] for x in b), 2),
                         "after_median_s": round(statistics.median(y[i] for y in f), 2),
                         "after_over_before": [round(statistics.median(ratios), 3), round(min(ratios), 3),
                                               round(max(ratios), 3)]}
        if case != "help":
            row["same_numbers"] = outs[(case, "before")] == outs[(case, "after")]
        report[case] = row
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
