"""Reproducibility matrix: every shipped protocol's features and every feature metric, on one fixed corpus, under
the three newest torch releases pip can install here, compared with the pinned environment.

Why: "the same images give another FID elsewhere" is the most common complaint on the reference tools' trackers
(torch-fidelity #43, torchmetrics #1620, scipy #19415). This script measures what a user may expect when only the
library versions change, on this CPU: bit-equal, or the largest relative difference per protocol and metric.

How: seeded random weights in each backbone's real file format and architecture (bench.repro.random_weights; the
digits protocol uses its shipped weights) are written ONCE by the pinned environment, so every environment loads
the same bytes (fd-dinov2 and cmmd on smaller networks of the same classes, see SIZE). The corpus is fixed: 16 + 16 RGB 32x32 images (smooth blobs vs noisier, darker ones, as
bench.parity draws them, made in memory with numpy's PCG64) for the third-party protocols, and the first 200 test
and 200 train digits for the digits protocol. Each environment is a throw-away venv (torch==X with the matching
torchvision, and whatever numpy, scipy and Pillow pip resolves), deleted after its run. The worker is this file
with ``--worker``; the pinned environment is the interpreter running the driver.

    python scripts/repro_matrix.py --torch 2.12.1 2.13.0 2.14.1 --work /tmp/repro  # writes docs/reproducibility.*
    python scripts/repro_matrix.py --pinned-only                                   # refresh the JSON's pinned values

Output: docs/reproducibility.json (pinned values, tests/test_repro_matrix.py reads it: a change of the pinned
environment's numbers fails CI) and the table between the markers in docs/reproducibility.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

JSON_OUT = ROOT / "docs" / "reproducibility.json"
DOC = ROOT / "docs" / "reproducibility.md"
BEGIN, END = "<!-- repro-matrix:begin -->", "<!-- repro-matrix:end -->"
TORCHVISION = {"2.12": "0.27.*", "2.13": "0.28.*", "2.14": "0.29.*", "2.15": "0.30.*"}
#: what the throw-away venvs install besides torch/torchvision (genbench's backbone dependencies); numpy, scipy and
#: Pillow are whatever pip resolves for that torch
PACKAGES = ["torch-fidelity", "clean-fid", "torchmetrics", "open_clip_torch", "timm", "transformers", "scipy",
            "numpy", "Pillow", "pydantic", "PyYAML", "tqdm", "scikit-learn", "pandas", "threadpoolctl", "vendi-score"]
N_RGB = int(os.environ.get("REPRO_N_RGB", "16"))
#: protocols whose real network is too costly for this CPU budget run bench.repro's "tiny" variant: fd-dinov2 runs
#: DINOv2 ViT-S/14 (the real ViT-L/14 costs 17x more per image), cmmd the real classes, processor and 336 px input
#: with narrow widths (the real ViT-L/14-336 costs ~175 GFLOP per image)
SIZE = {"fd-dinov2": "tiny", "cmmd": "tiny"}
N_DIGITS = 200
THREADS = 2
#: fid_curve re-runs FID on subsets (the d x d path at these n: minutes per 2048-d protocol on this CPU) and adds
#: nothing FID does not show; vendi works in the feature dimension (~20 s per 2048-d protocol here)
SKIP = {"fid_curve"}
VENDI_MAX_DIM = 512


def corpus() -> dict[str, Any]:
    """The fixed inputs: ``rgb`` (gen, ref) uint8 [16, 3, 32, 32] each, ``digits`` (gen, ref) [200, 1, 8, 8]."""
    import numpy as np
    import torch

    from bench.data.digits import load

    rng = np.random.Generator(np.random.PCG64(33))
    size = 32
    yy, xx = np.mgrid[0:size, 0:size] / size
    sets = []
    for k in range(2):
        ims = []
        for _ in range(N_RGB):
            cx, cy, r = rng.uniform(0.2, 0.8, 3)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.05 + 0.1 * r))
            col = rng.uniform(0, 255, 3) * (0.6 if k else 1.0)
            img = blob[..., None] * col + rng.normal(0, 8 + 30 * k, (size, size, 3))
            ims.append(np.clip(img, 0, 255).round().astype(np.uint8).transpose(2, 0, 1))
        sets.append(torch.from_numpy(np.stack(ims)))
    te, _ = load("test")
    tr, _ = load("train")
    return {"rgb": (sets[0], sets[1]), "digits": (te[:N_DIGITS], tr[:N_DIGITS])}


def environment() -> dict[str, Any]:
    import numpy as np
    import PIL
    import scipy
    import torch

    from bench.results import cpu_model

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "pillow": PIL.__version__, "cpu": cpu_model(), "threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d", time.gmtime())}


def write_weights(folder: Path) -> dict[str, list[str | None]]:
    """Seeded random real-format weights for every protocol's backbone: protocol → [backbone name, weights]."""
    from bench.protocol import PRESETS
    from bench.repro import random_weights

    return {p.name: list(random_weights(p.backbone, folder, seed=0, size=SIZE.get(p.name, "real")))
            for p in PRESETS.values()}


def worker(out: Path, weights: dict[str, list[str | None]]) -> None:
    """Features and metric values of every protocol in this interpreter's environment → ``out/result.json`` and
    ``out/<protocol>.npz``."""
    import numpy as np
    import torch

    torch.set_num_threads(THREADS)
    from bench.backbones import get_backbone
    from bench.protocol import PRESETS
    from bench.repro import feature_metrics, metric_values
    from bench.selftest import array_sha256

    data = corpus()
    res: dict[str, Any] = {"environment": environment(), "protocols": {}}
    out.mkdir(parents=True, exist_ok=True)
    only = [x for x in os.environ.get("REPRO_PROTOCOLS", "").split(",") if x]
    for p in PRESETS.values():
        if only and p.name not in only:
            continue
        t0 = time.time()
        name, w = weights[p.name]
        try:
            b = get_backbone(str(name), weights=w)
            gen, ref = data["digits" if p.name == "digits" else "rgb"]
            fg, fr = b.extract(gen), b.extract(ref)
            vals = metric_values(b, fg, fr, [(m, layer) for m, layer in feature_metrics(b) if m not in SKIP
                                              and not (m == "vendi" and fg[layer].shape[1] > VENDI_MAX_DIM)])
        except Exception as exc:  # an environment that cannot build a backbone is a result, not a crash
            res["protocols"][p.name] = {"error": f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"}
            print(f"{p.name}: {res['protocols'][p.name]['error']}", flush=True)
            continue
        np.savez(out / f"{p.name}.npz", **{f"gen/{k}": v for k, v in fg.items()}, **{f"ref/{k}": v for k, v in fr.items()})
        res["protocols"][p.name] = {
            "features": {f"{s}/{k}": array_sha256(v) for s, f in (("gen", fg), ("ref", fr)) for k, v in f.items()},
            "metrics": vals, "seconds": round(time.time() - t0, 1)}
        print(f"{p.name}: {len(vals)} values in {time.time() - t0:.0f} s", flush=True)
    (out / "result.json").write_text(json.dumps(res, indent=1, sort_keys=True))


def rel(a: float, b: float) -> float:
    """|a - b| / |b|; 0.0 for equal values, NaN included (an IS of too few samples is NaN everywhere)."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    return abs(a - b) / max(abs(b), 1e-300)


def compare(run: Path, pinned: Path) -> dict[str, Any]:
    """Per protocol: features bit-equal or their largest relative difference, and the same per metric value."""
    import numpy as np

    from bench.selftest import relative_difference

    a, b = (json.loads((d / "result.json").read_text()) for d in (run, pinned))
    out: dict[str, Any] = {"environment": a["environment"], "protocols": {}}
    for p, rb in b["protocols"].items():
        ra = a["protocols"].get(p, {"error": "not run"})
        if "error" in ra or "error" in rb:
            out["protocols"][p] = {"error": ra.get("error") or rb.get("error")}
            continue
        if ra["features"] == rb["features"]:
            feat = 0.0
        else:
            with np.load(run / f"{p}.npz") as za, np.load(pinned / f"{p}.npz") as zb:
                feat = max(relative_difference(za[k], zb[k]) for k in zb.files)
        mets = {m: rel(ra["metrics"][m], v) for m, v in rb["metrics"].items() if m in ra["metrics"]}
        missing = sorted(set(rb["metrics"]) ^ set(ra["metrics"]))
        out["protocols"][p] = {"features": feat, "metrics": mets, "not_in_both": missing,
                               "bit_equal": ra["features"] == rb["features"] and not any(mets.values())}
    return out


def make_venv(version: str, where: Path) -> Path:
    """A throw-away venv with PyPI's own torch ``version`` and its torchvision.

    torch and torchvision are installed first with ``pip --isolated`` (no pip configuration): a machine whose pip
    configuration points at a local folder of CPU-only torch wheels would otherwise take that torch, and PyPI's
    torchvision of the same release does not load beside it ("operator torchvision::nms does not exist"). The
    rest is then installed against the torch already there."""
    py = where / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    tv = TORCHVISION[".".join(version.split(".")[:2])]
    pins = [f"torch=={version}", f"torchvision=={tv}"]
    subprocess.run([str(py), "-m", "pip", "--isolated", "install", "--no-cache-dir", "-q", *pins], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--no-cache-dir", "-q", *pins, *PACKAGES], check=True)
    return py


def run_worker(python: str, out: Path, weights_json: Path, timeout: float) -> None:
    from bench.weights import ENV_TRUST_CODE

    # the random TorchScript files this script wrote (weights.json, possibly by an earlier run of the driver): the
    # driver vouches for them as code, so the worker may load them (genbench refuses any other unpinned one)
    own = [w for _, w in json.loads(weights_json.read_text()).values()
           if w and w.endswith(".pt") and Path(w).resolve().is_relative_to(weights_json.parent.resolve())]
    trusted = [p for p in os.environ.get(ENV_TRUST_CODE, "").split(os.pathsep) if p] + own
    env = dict(os.environ, PYTHONPATH=str(ROOT), GENBENCH_OFFLINE="1", OMP_NUM_THREADS=str(THREADS),
               GENBENCH_CACHE=str(out / "cache"), TQDM_DISABLE="1", **{ENV_TRUST_CODE: os.pathsep.join(trusted)})
    subprocess.run([python, str(Path(__file__).resolve()), "--worker", str(out), "--weights-json", str(weights_json)],
                   check=True, env=env, timeout=timeout)


def fmt(x: float | None) -> str:
    if x is None:
        return "—"
    return "bit-equal" if x == 0.0 else f"{x:.1e}"


def table(results: dict[str, Any], pinned_env: dict[str, Any]) -> str:
    """Markdown: one row per protocol, per environment the features' and the worst metric's relative difference."""
    envs = list(results)
    n_rgb = os.environ.get("REPRO_N_RGB", str(N_RGB))
    lines = [f"Corpus: {n_rgb} + {n_rgb} RGB 32x32 images (third-party protocols), {N_DIGITS} + {N_DIGITS} digits. "
             f"Pinned environment: torch {pinned_env['torch']}, numpy {pinned_env['numpy']}, scipy "
             f"{pinned_env['scipy']}, Pillow {pinned_env['pillow']}, Python {pinned_env['python']}; CPU "
             f"{pinned_env['cpu']}, {THREADS} threads; measured {pinned_env['date']}.", ""]
    lines.append("| environment | torch | numpy | scipy | Pillow |")
    lines.append("| --- | --- | --- | --- | --- |")
    for e in envs:
        v = results[e]["environment"]
        lines.append(f"| {e} | {v['torch']} | {v['numpy']} | {v['scipy']} | {v['pillow']} |")
    lines += ["", "Each cell: features (largest relative difference over the layers, `max|a-b|/max|b|`) / worst metric "
              "value (`|a-b|/|b|`, which metric in brackets); `bit-equal` when every byte is the same.", ""]
    lines.append("| protocol | " + " | ".join(envs) + " |")
    lines.append("| --- |" + " --- |" * len(envs))
    protocols = list(next(iter(results.values()))["protocols"]) if results else []
    for p in protocols:
        cells = []
        for e in envs:
            r = results[e]["protocols"].get(p, {"error": "not run"})
            if "error" in r:
                cells.append(f"error: {r['error'][:60]}")
                continue
            mets = {m: v for m, v in r["metrics"].items() if v is not None}
            worst = max(mets.items(), key=lambda kv: kv[1]) if mets else None
            if r["bit_equal"]:
                cells.append("bit-equal" + (f" ({', '.join(r['not_in_both'])} not computed)" if r.get("not_in_both") else ""))
            else:
                cells.append(f"{fmt(r['features'])} / {fmt(worst[1]) if worst else '—'}"
                             f"{f' ({worst[0]})' if worst and worst[1] else ''}")
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    a, b = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    DOC.write_text(doc[:a] + "\n" + text + "\n" + doc[b:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--torch", nargs="*", default=[], help="torch releases to compare with the pinned environment")
    ap.add_argument("--work", default="/tmp/genbench-repro", help="scratch folder (weights, venvs, features)")
    ap.add_argument("--pinned-only", action="store_true", help="only (re)compute the pinned environment's values")
    ap.add_argument("--keep-venvs", action="store_true")
    ap.add_argument("--protocols", help="comma-separated protocols (default: every shipped one)")
    ap.add_argument("--n-rgb", type=int, default=N_RGB, help="generated and reference RGB images each (default 16)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per environment's worker")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--weights-json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(Path(args.worker), json.loads(Path(args.weights_json).read_text()))
        return 0
    os.environ["REPRO_N_RGB"] = str(args.n_rgb)  # the workers read both
    if args.protocols:
        os.environ["REPRO_PROTOCOLS"] = args.protocols
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    weights_json = work / "weights.json"
    if not weights_json.is_file():
        weights_json.write_text(json.dumps(write_weights(work / "weights")))
    print(f"weights ready ({time.time() - t0:.0f} s)", flush=True)
    pinned = work / "pinned"
    if args.pinned_only or not (pinned / "result.json").is_file():
        run_worker(sys.executable, pinned, weights_json, args.timeout)
    pinned_res = json.loads((pinned / "result.json").read_text())
    old = json.loads(JSON_OUT.read_text()) if JSON_OUT.is_file() else {}
    # environments run before and not named now keep their column (a failed one is replaced when rerun)
    matrix: dict[str, Any] = dict(old.get("matrix", {}))
    for version in args.torch:
        t1 = time.time()
        venv = work / f"venv-{version}"
        out = work / f"run-{version}"
        try:
            if not (out / "result.json").is_file():
                py = make_venv(version, venv) if not (venv / "bin" / "python").is_file() else venv / "bin" / "python"
                print(f"torch {version}: venv ready ({time.time() - t1:.0f} s)", flush=True)
                run_worker(str(py), out, weights_json, args.timeout)
            matrix[f"torch {version}"] = compare(out, pinned) | {"seconds": round(time.time() - t1)}
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            matrix[f"torch {version}"] = {"environment": {"torch": version, "numpy": "?", "scipy": "?", "pillow": "?"},
                                          "error": str(exc)[:300], "protocols": {}}
        finally:
            if not args.keep_venvs:
                shutil.rmtree(venv, ignore_errors=True)
        print(f"torch {version}: done in {time.time() - t1:.0f} s", flush=True)
    doc = {"about": "written by scripts/repro_matrix.py; tests/test_repro_matrix.py holds the pinned values",
           "corpus": {"n_rgb": args.n_rgb, "n_digits": N_DIGITS}, "pinned": pinned_res, "matrix": matrix,
           "seconds": round(time.time() - t0) + sum(int(m.get("seconds", 0)) for m in matrix.values() if not args.torch)}
    JSON_OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    if matrix:
        write_doc(table(matrix, pinned_res["environment"]))
    print(f"wrote {JSON_OUT} ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
