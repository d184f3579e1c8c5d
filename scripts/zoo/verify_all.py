"""Retrain every zoo model from its manifest command and check it reproduces the shipped file and quality.

    .venv/bin/python scripts/zoo/verify_all.py [--only NAME ...]

For each entry of bench/assets/zoo/MANIFEST.json: runs ``trained_by`` (seeded, single-threaded) into a temporary
file, then judges it by bench.retrain's rule: where the entry's ``trained_with`` (Python, torch, numpy, CPU) is
this machine's, the sha256 and the printed ``quality {...}`` must equal the manifest's; elsewhere the quality must
lie within bench.retrain.QUALITY_BAND of it. Prints one line per model; exit 1 if any fails. Takes up to a few
minutes per model on a 2-core CPU.
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
    from bench.retrain import reproduce

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
                r = reproduce(ROOT / script, [*flags, "--steps", str(e["steps"])], Path(d) / e["file"], e, cwd=ROOT)
            except GenbenchError as exc:
                print(f"{name:14s} FAILED: {exc}", flush=True)
                failed += 1
                continue
            failed += not r.ok
            print(f"{name:14s} {time.perf_counter() - t0:6.0f} s  {'ok' if r.ok else 'FAILED'}: {r.describe()}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
