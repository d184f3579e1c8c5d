"""Peak host memory of scoring folders of PNGs, as a new user runs it (issue: streaming core).

    python scripts/bench_memory.py --n 2000 10000 50000 --size 256            # score images, digits protocol
    python scripts/bench_memory.py --n 2000 10000 50000 --size 256 --run --repeat 2   # and genbench run, twice each
    python scripts/bench_memory.py --n 1000 --size 512 --ref-n 1000 --protocol tf-compat --run
    python scripts/bench_memory.py --n 400 1600 --ref-n 400 --protocol adm --format npz   # ADM batches (arr_0)

Writes smooth, distinct PNGs (a per-image colour ramp: they compress like photographs do, unlike noise) into a
scratch folder once, then runs ``genbench score images GEN REF --fid --kid --json`` (and with ``--run`` the same
comparison as a one-task suite through ``genbench run``) in a child process with an empty feature cache, and prints
the child's peak RSS (``ru_maxrss``), wall time and FID. ``--protocol tf-compat`` uses a seeded random Inception
file in torch-fidelity's format (bench.parity, no download): the memory and time of the real network, not its
values. Each case runs in its own process, which reports its own peak. ``--format npz`` writes the same images as
ADM batches (``arr_0``, uint8 NHWC, in an uncompressed ``.npz``); under ``--protocol adm`` the reference batch also
stores ``mu``/``sigma``/``mu_s``/``sigma_s`` (of random features: the memory of the real layout, not its values)
and the command computes the protocol's own report (IS, FID, sFID, precision/recall).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def write_pngs(folder: Path, n: int, size: int, seed: int) -> Path:
    """``n`` smooth RGB PNGs of ``size`` px (idempotent: an existing complete folder is reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) == n:
        return folder
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for i in range(n):
        a, b, c = rng.uniform(0, 1, 3), rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
        img = np.clip((a[:, None, None] + b[:, None, None] * xx + c[:, None, None] * yy) * 255, 0, 255)
        Image.fromarray(img.transpose(1, 2, 0).astype(np.uint8)).save(folder / f"{i:06d}.png", compress_level=1)
    return folder


def write_batch(path: Path, folder: Path, stats: bool) -> Path:
    """The PNGs of ``folder`` as an ADM batch ``.npz`` (written once, image by image into the zip member)."""
    if path.exists():
        return path
    files = sorted(folder.glob("*.png"))
    first = np.asarray(Image.open(files[0]))
    arrays: dict[str, np.ndarray] = {}
    if stats:
        rng = np.random.default_rng(0)
        for m, s, d in (("mu", "sigma", 2048), ("mu_s", "sigma_s", 2023)):
            x = rng.normal(size=(d + 8, d)).astype(np.float32)
            arrays[m], arrays[s] = x.mean(0), np.cov(x, rowvar=False)
    import zipfile

    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("arr_0.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                                     "shape": (len(files), *first.shape)})
            for p in files:
                f.write(np.ascontiguousarray(np.asarray(Image.open(p).convert("RGB"))).tobytes())
        for k, v in arrays.items():
            with z.open(f"{k}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, v)
    tmp.rename(path)
    return path


def inception_weights(path: Path) -> Path:
    """A seeded random Inception in torch-fidelity's state-dict format (bench.parity's, as the parity tests use)."""
    if not path.exists():
        import torch

        from bench.parity import random_inception_state_dict

        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(random_inception_state_dict(0), path)
    return path


#: runs genbench's CLI in this child and reports the child's own peak RSS (kB) on its last stderr line
_WRAP = ("import atexit, resource, runpy, sys; "
         "atexit.register(lambda: print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)); "
         "sys.argv = ['genbench'] + sys.argv[1:]; runpy.run_module('bench', run_name='__main__')")


def child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(peak RSS GiB, seconds, stdout) of ``genbench ARGS`` in its own process."""
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-c", _WRAP, *args], capture_output=True, text=True, env=env, cwd=ROOT)
    secs = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): genbench {' '.join(args)}\n{proc.stderr[-2000:]}")
    peak_kb = int(proc.stderr.strip().splitlines()[-1].split()[1])
    return peak_kb / 2**20, secs, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[2000])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--ref-n", type=int, default=2000)
    ap.add_argument("--protocol", default="digits")
    ap.add_argument("--weights", help="Inception weights file (default: a seeded random one in the real format)")
    ap.add_argument("--run", action="store_true", help="also run the comparison as a suite through `genbench run`")
    ap.add_argument("--format", choices=("png", "npz"), default="png", help="PNG folders or ADM .npz batches")
    ap.add_argument("--repeat", type=int, default=1, help="run each case this many times (the peak varies by "
                    "about +-0.03 GiB from run to run: how transient buffers of a few batches happen to overlap)")
    ap.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "genbench-bench-memory"))
    args = ap.parse_args()
    scratch = Path(args.scratch)
    ref = write_pngs(scratch / f"ref-{args.ref_n}-{args.size}", args.ref_n, args.size, seed=1)
    if args.format == "npz":
        ref = write_batch(scratch / f"ref-{args.ref_n}-{args.size}{'-stats' if args.protocol == 'adm' else ''}.npz",
                          ref, stats=args.protocol == "adm")
    weights = None
    if args.protocol != "digits":
        weights = Path(args.weights) if args.weights else inception_weights(scratch / "inception-random-0.pth")
    for n in [n for n in args.n for _ in range(args.repeat)]:
        gen = write_pngs(scratch / f"gen-{n}-{args.size}", n, args.size, seed=2)
        if args.format == "npz":
            gen = write_batch(scratch / f"gen-{n}-{args.size}.npz", gen, stats=False)
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "GENBENCH_CACHE": cache, "GENBENCH_OFFLINE": "1"}
            extra = ["--weights", str(weights)] if weights else []
            flags = [] if args.protocol == "adm" else ["--fid", "--kid"]  # adm: the evaluator's own report
            peak, secs, out = child(["score", "images", str(gen), str(ref), *flags, "--protocol", args.protocol,
                                     "--json", *extra], env)
            fid = json.loads(out)["metrics"]["fid"]["value"]
            print(f"score images  n={n:6d} ref={args.ref_n} {args.size}px {args.protocol:10s} peak {peak:5.2f} GiB  "
                  f"{secs:6.1f} s  FID {fid:.6g}", flush=True)
        if args.run:
            with tempfile.TemporaryDirectory() as tmp:
                suite = Path(tmp) / "mem.yaml"
                backbone = {"digits": "digits"}.get(args.protocol)
                task = {"name": "t", "reference": "ref", "n": n, "batch_size": 250, "metrics": {"fid": {}, "kid": {}}}
                task.update({"backbone": backbone} if backbone else {"protocol": args.protocol})
                if weights:
                    task["weights"] = str(weights)
                suite.write_text(json.dumps({"name": "mem", "datasets": {"ref": {"kind": "folder", "path": str(ref)}},
                                             "models": {"gen": {"adapter": "folder", "args": {"path": str(gen)}}},
                                             "tasks": [task], "output": {"grid": 16}}))
                env = {**os.environ, "GENBENCH_CACHE": str(Path(tmp) / "cache"), "GENBENCH_OFFLINE": "1"}
                peak, secs, _ = child(["run", str(suite), "--out", str(Path(tmp) / "r"), "--quiet"], env)
                print(f"run           n={n:6d} ref={args.ref_n} {args.size}px {args.protocol:10s} peak {peak:5.2f} GiB  "
                      f"{secs:6.1f} s", flush=True)


if __name__ == "__main__":
    main()
