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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    from bench import zoo
    from bench.weights import sha256_file

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    args = ap.parse_args()
    manifest = json.loads((ROOT / "bench/assets/zoo/MANIFEST.json").read_text())
    failed = 0
    for name in args.only or list(manifest):
        e = zoo.entry(name)
        script, *flags = shlex.split(e["trained_by"])
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / e["file"]
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, str(ROOT / script), *flags, "--out", str(out), "--steps", str(e["steps"])],
                                  capture_output=True, text=True, cwd=ROOT)
            secs = time.perf_counter() - t0
            if proc.returncode != 0:
                print(f"{name:14s} FAILED to train ({secs:.0f} s): {proc.stderr.strip().splitlines()[-1:]}")
                failed += 1
                continue
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("quality ")), "quality null")
            quality = json.loads(line[len("quality "):])
            same_file, same_quality = sha256_file(out) == e["sha256"], quality == e["quality"]
            failed += not (same_file and same_quality)
            q = "same" if same_quality else f"DIFFERS: {quality} vs {e['quality']}"
            print(f"{name:14s} {secs:6.0f} s  sha256 {'same' if same_file else 'DIFFERS'}  quality {q}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
