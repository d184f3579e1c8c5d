"""What ``runtime: {isolate: process}`` costs: a generator's batch through its worker process vs in the run's process.

    PYTHONPATH=. .venv/bin/python -m scripts.bench_isolate [--rounds 5] [--batches 4] [--n 64] [--size 256]

Two generators through the ``python`` adapter, each built twice (in this process, and in a worker,
bench.isolate), each asked for the same batches of ``n`` images ``size``x``size`` (uint8, 3 channels: 12.6 MB at
64x256x256) under ``model_context`` as a run asks (bench.tasks.production.iter_batches):

- ``ready``: images made from the seeds with almost no compute, so the time is the call's own cost: what the
  isolation adds is nearly all of it (pickling the request, copying the output into shared memory, mapping it);
- ``conv``: a small convolutional decoder (tests.models.ConvGenerator, width 4) at ``size``: a batch that computes.

The two sides alternate within each round (in-process first in even rounds, worker first in odd ones); every
round times ``batches`` batches per side. It prints each round's median seconds per batch for both sides, the
overhead (worker - in-process) and the ratio, and checks the outputs are equal bit for bit. It also times the
worker's start: the first (which starts the fork server: one ``import torch``) and a later one (a fork).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from bench.adapters.base import AdapterContext, GenerationRequest, build_adapter
from bench.isolate import isolated_adapter
from bench.runtime import model_context


class Ready:
    """Images from the seeds at almost no cost: ``n`` x 3 x ``size`` x ``size`` uint8, one value per image."""

    def __init__(self, size: int = 256) -> None:
        self.size = size

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        values = torch.tensor([s % 251 for s in request.seeds], dtype=torch.uint8)
        return values.view(-1, 1, 1, 1).expand(-1, 3, self.size, self.size).contiguous()


def _batch_seconds(adapter: Any, requests: list[GenerationRequest]) -> tuple[float, list[torch.Tensor]]:
    cpu = torch.device("cpu")
    times, outs = [], []
    for r in requests:
        t0 = time.perf_counter()
        with model_context(cpu, "fp32"):
            out = adapter.generate(r)
        times.append(time.perf_counter() - t0)
        outs.append(out)
    return statistics.median(times), outs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batches of {a.n} x 3 x {a.size} x {a.size} "
          f"uint8 ({a.n * 3 * a.size * a.size / 1e6:.1f} MB)")
    models = {"ready": {"target": "scripts.bench_isolate:Ready", "kwargs": {"size": a.size}},
              "conv": {"target": "tests.models:ConvGenerator", "kwargs": {"size": a.size, "width": 4}}}
    ctx = AdapterContext()
    requests = [GenerationRequest(indices=range(i * a.n, (i + 1) * a.n), seeds=list(range(i * a.n, (i + 1) * a.n)))
                for i in range(a.batches)]
    for name, args in models.items():
        t0 = time.perf_counter()
        worker = isolated_adapter(f"model '{name}'", "python", args, ctx)
        started = time.perf_counter() - t0
        own = build_adapter("python", args, ctx)
        worker.generate(requests[0]), own.generate(requests[0])  # warm-up: first-call costs are not per batch
        print(f"\n{name}: worker started in {started:.2f} s")
        overheads, ratios = [], []
        for k in range(a.rounds):
            sides = [("in-process", own), ("worker", worker)]
            if k % 2:
                sides.reverse()
            got = {label: _batch_seconds(adapter, requests) for label, adapter in sides}
            (t_own, o_own), (t_w, o_w) = got["in-process"], got["worker"]
            assert all(torch.equal(x, y) for x, y in zip(o_own, o_w, strict=True)), "outputs differ"
            overheads.append(t_w - t_own)
            ratios.append(t_w / t_own)
            print(f"  round {k}: in-process {t_own * 1e3:8.1f} ms/batch, worker {t_w * 1e3:8.1f} ms/batch, "
                  f"overhead {(t_w - t_own) * 1e3:+7.1f} ms, ratio {t_w / t_own:.3f} (outputs equal)")
        print(f"  overhead median {statistics.median(overheads) * 1e3:+.1f} ms/batch (range "
              f"{min(overheads) * 1e3:+.1f}..{max(overheads) * 1e3:+.1f}), ratio median {statistics.median(ratios):.3f} "
              f"(range {min(ratios):.3f}..{max(ratios):.3f})")
        worker.close()
    t0 = time.perf_counter()
    isolated_adapter("model 'ready'", "python", models["ready"], ctx).close()
    print(f"\na later worker (forked from the running fork server) started in {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
