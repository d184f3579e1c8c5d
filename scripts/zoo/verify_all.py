"""Retrain every zoo model from its manifest command and check it reproduces the shipped file and quality.

    .venv/bin/python scripts/zoo/verify_all.py [--only NAME ...]

For each entry of bench/assets/zoo/MANIFEST.json: runs ``trained_by`` (seeded, single-threaded) into a temporary
file, then compares the file's sha256 and the script's printed ``quality {...}`` line with the manifest. Prints
one line per model; exit 1 if any differs. Takes several minutes per model on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    from bench import zoo
    from bench.errors import GenbenchError
    from bench.retrain import retrain

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    args = ap.parse_args()
    manifest = json.loads((ROOT / "bench/assets/zoo/MANIFEST.json").read_text())
    failed = 0
    for name in args.only or list(manifest):
        e = zoo.entry(name)
        script, *flags = shlex.split(e["trained_by"])
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            try:
                quality, sha = retrain(ROOT / script, [*flags, "--steps", str(e["steps"])], Path(d) / e["file"], cwd=ROOT)
            except GenbenchError as exc:
                print(f"{name:14s} FAILED: {exc}", flush=True)
                failed += 1
                continue
            secs = time.perf_counter() - t0
            same_file, same_quality = sha == e["sha256"], quality == e["quality"]
            failed += not (same_file and same_quality)
            q = "same" if same_quality else f"DIFFERS: {quality} vs {e['quality']}"
            print(f"{name:14s} {secs:6.0f} s  sha256 {'same' if same_file else 'DIFFERS'}  quality {q}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
