"""The streaming core's GPU checks, as one script for a machine with a CUDA device (about 10 minutes on one GPU).

    python scripts/gpu_check.py [--n 10000] [--workdir DIR]

1. tf-compat FID of two folders of ``n`` CIFAR-sized (32x32) PNGs on ``--device cuda`` and on ``--device cpu``
   (a subset of 1,000 on the CPU to bound its time): relative difference of the values (target: within 1e-4).
2. images/s of ``genbench score images`` from PNG folders on the GPU against the bare Inception forward on
   preloaded uint8 tensors on the same GPU (target: at least 0.8 of it: decode and resize must not starve the
   GPU), and against torch-fidelity's ``calculate_metrics`` on the same folders and weights.
3. the perf task on cuda (a zoo generator): throughput and latency rows.
4. ``torchrun`` with NCCL, one rank per GPU: the quickstart and the tf-compat score on 1 and on all GPUs (rows
   equal to one process's, and the score's scaling).
5. the tiny diffusers pipelines (DDPM, DiT; random weights built from configs, as the tests build them) in float16
   on cuda through the perf task: throughput, latency and per-step time; and the ``adm`` protocol's five numbers
   on cuda vs cpu (1,000 images).

Weights are seeded random Inception weights in torch-fidelity's format (bench.parity): speed does not depend on
the values, and FID equality between devices is a property of the kernels. Prints one line per figure.
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
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def folder(path: Path, n: int, seed: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if len(list(path.glob("*.png"))) == n:
        return path
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path / f"{i:06d}.png")
    return path


def genbench(args: list[str], env: dict[str, str]) -> tuple[dict, float]:
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "bench", *args, "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode:
        raise SystemExit(p.stderr[-3000:])
    return json.loads(p.stdout), time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "genbench-gpu-check"))
    a = ap.parse_args()
    assert torch.cuda.is_available(), "no CUDA device"
    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__, "cuda", torch.version.cuda, flush=True)
    work = Path(a.workdir)
    from bench.parity import random_inception_state_dict

    weights = work / "inception-random.pth"
    if not weights.exists():
        work.mkdir(parents=True, exist_ok=True)
        torch.save(random_inception_state_dict(0), weights)
    gen, real = folder(work / "gen", a.n, 1), folder(work / "real", a.n, 2)
    small_gen, small_real = folder(work / "gen1k", 1000, 1), folder(work / "real1k", 1000, 2)

    def env() -> dict[str, str]:
        return {**os.environ, "GENBENCH_CACHE": tempfile.mkdtemp(), "GENBENCH_OFFLINE": "1"}

    base = ["score", "images", "--fid", "--protocol", "tf-compat", "--weights", str(weights)]
    # 1. cuda vs cpu values (1,000 images: the CPU's share of the time)
    r_gpu, _ = genbench([*base[:2], str(small_gen), str(small_real), *base[2:], "--device", "cuda"], env())
    r_cpu, t_cpu = genbench([*base[:2], str(small_gen), str(small_real), *base[2:], "--device", "cpu"], env())
    f_gpu, f_cpu = r_gpu["metrics"]["fid"]["value"], r_cpu["metrics"]["fid"]["value"]
    print(f"FID 1k cuda {f_gpu:.8g}  cpu {f_cpu:.8g}  rel diff {abs(f_gpu - f_cpu) / abs(f_cpu):.2e} (cpu {t_cpu:.1f} s)")
    # 2. throughput from PNG folders vs the bare forward on preloaded tensors
    r, secs = genbench([*base[:2], str(gen), str(real), *base[2:], "--device", "cuda"], env())
    print(f"score images cuda {a.n} + {a.n} PNGs: {secs:.1f} s, {2 * a.n / secs:.0f} img/s (cold, incl. start-up)")
    from bench.backbones import get_backbone
    from bench.images import ImageFiles, list_image_files

    b = get_backbone("inception-v3-compat", weights=str(weights), device="cuda")
    x = ImageFiles(list_image_files(gen)).load()
    b.extract(x[:64])
    torch.cuda.synchronize()
    t0 = time.time()
    b.extract(x)
    torch.cuda.synchronize()
    bare = a.n / (time.time() - t0)
    print(f"bare Inception forward on preloaded uint8 (cuda): {bare:.0f} img/s; genbench end-to-end / bare = "
          f"{(2 * a.n / secs) / bare:.2f}")
    import torch_fidelity

    t0 = time.time()
    tf = torch_fidelity.calculate_metrics(input1=str(gen), input2=str(real), fid=True, cuda=True, verbose=False,
                                          feature_extractor_weights_path=str(weights), cache=False)
    tsecs = time.time() - t0
    print(f"torch-fidelity cuda: {tsecs:.1f} s, {2 * a.n / tsecs:.0f} img/s; FID {tf['frechet_inception_distance']:.8g} "
          f"vs genbench {r['metrics']['fid']['value']:.8g}")
    # 3. the perf task on cuda
    suite = work / "perf.yaml"
    suite.write_text(json.dumps({"name": "gpu-perf", "datasets": {"d": {"kind": "digits", "split": "test"}},
                                 "models": {"dcgan": {"adapter": "zoo", "args": {"name": "dcgan"}}},
                                 "tasks": [{"name": "speed", "kind": "perf", "reference": "d", "metrics": {"perf": {}},
                                            "args": {"batch_sizes": [1, 64, 1024]}}],
                                 "runtime": {"device": "cuda"}}))
    p = subprocess.run([sys.executable, "-m", "bench", "run", str(suite), "--out", str(work / "runs"), "--quiet"],
                       capture_output=True, text=True, env=env(), cwd=ROOT)
    print(p.stdout[-2500:] if p.returncode == 0 else p.stderr[-2500:])
    # 4. torchrun with NCCL (issue: scale out): one rank per GPU; the quickstart and the tf-compat score equal the
    # single-process rows, and the scaling of the score over 1..all GPUs
    gpus = torch.cuda.device_count()
    run = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
    for k in sorted({1, gpus}):
        p = subprocess.run([*run, str(k), "-m", "bench", "run", "suites/quickstart.yaml", "--out",
                            str(work / f"qs-{k}"), "--quiet", "--no-cache"], capture_output=True, text=True, env=env(),
                           cwd=ROOT)
        print(f"torchrun --nproc-per-node {k} quickstart (NCCL): rc {p.returncode}")
        if p.returncode:
            print(p.stderr[-2500:])
        t0 = time.time()
        p = subprocess.run([*run, str(k), "-m", "bench", *base[:2], str(gen), str(real), *base[2:], "--device", "cuda",
                            "--json"], capture_output=True, text=True, env=env(), cwd=ROOT)
        tk = time.time() - t0
        if p.returncode:
            print(p.stderr[-2500:])
            continue
        fk = json.loads(p.stdout)["metrics"]["fid"]["value"]
        print(f"torchrun {k} GPU(s) tf-compat {a.n} + {a.n} PNGs: {tk:.1f} s ({2 * a.n / tk:.0f} img/s, {secs / tk:.2f}x "
              f"one process); FID {fk:.8g} vs one process {r['metrics']['fid']['value']:.8g}")
    rows = {}
    for k in sorted({1, gpus}):
        for line in (next((work / f"qs-{k}" / "quickstart").iterdir()) / "rows.jsonl").read_text().splitlines():
            row = json.loads(line)
            if row["task"] != "speed":
                rows.setdefault((row["model"], row["metric"]), []).append(row["value"])
    worst = max((abs(v[0] - v[-1]) / max(abs(v[0]), 1e-12) for v in rows.values() if v[0] is not None), default=0.0)
    print(f"quickstart rows, 1 vs {gpus} rank(s): largest relative difference {worst:.2e}")
    # 5. diffusers in float16 on cuda (issue: real models), and the adm protocol on cuda vs cpu (issue: ADM)
    sys.path.insert(0, str(ROOT))
    from tests.hf_tiny import tiny_ddpm_and_dit

    pipes = tiny_ddpm_and_dit(work / "pipes")
    suite = work / "hf-perf.yaml"
    suite.write_text(json.dumps({
        "name": "gpu-hf", "datasets": {"d": {"kind": "digits", "split": "test"}},
        "models": {f"{k}-fp16": {"adapter": "diffusers", "args": {"pretrained": str(v), "torch_dtype": "float16",
                                                                  "num_inference_steps": 20}} for k, v in pipes.items()},
        "tasks": [{"name": f"speed-{k}", "kind": "perf", "reference": "d", "metrics": {"perf": {}}, "models": [f"{k}-fp16"],
                   "args": {"batch_sizes": [1, 64], "min_duration": 2.0, **({"classes": 1000} if k == "dit" else {})}}
                  for k in pipes],
        "runtime": {"device": "cuda"}}))
    p = subprocess.run([sys.executable, "-m", "bench", "run", str(suite), "--out", str(work / "runs"), "--quiet"],
                       capture_output=True, text=True, env=env(), cwd=ROOT)
    print(p.stdout[-2500:] if p.returncode == 0 else p.stderr[-2500:])
    adm = ["score", "images", str(small_gen), str(small_real), "--protocol", "adm", "--weights", str(weights), "--json"]
    a_gpu, _ = genbench([*adm, "--device", "cuda"], env())
    a_cpu, _ = genbench([*adm, "--device", "cpu"], env())
    for m in ("isc", "fid", "sfid", "precision", "recall"):
        g, c = a_gpu["metrics"][m]["value"], a_cpu["metrics"][m]["value"]
        print(f"adm {m}: cuda {g:.8g}  cpu {c:.8g}  rel diff {abs(g - c) / max(abs(c), 1e-12):.2e}")


if __name__ == "__main__":
    main()
