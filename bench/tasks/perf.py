"""Speed and memory of any model: a batch-size sweep with warm-up and minimum duration/queries.

Rows (their metadata: PerfTask.outputs): ``throughput@bsB`` items/s and ``latency_p50|p90|p99@bsB`` ms per batch
size; ``throughput`` (offline: the best over the sweep) and ``latency_p50|p90|p99`` (single stream: batch size
1, when swept); peak host memory; CUDA peaks on a GPU; the harness's own per-call overhead; the host-copy time;
per-step time for iterative samplers that expose ``steps``. The protocol records the device, dtype and threads:
speed numbers of different hardware are never ranked together.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from bench.errors import ConfigError
from bench.metrics.base import MetricValue, Options, OutputInfo, Reference
from bench.perf.timing import (
    Measurement,
    cpu_threads,
    cuda_peaks,
    measure,
    measurement_overhead,
    peak_rss_bytes,
    reset_cuda_peak,
    reset_peak_rss,
)
from bench.perf.workloads import make_call, to_host
from bench.progress import announce
from bench.runtime import device_name
from bench.seeding import derive_seed
from bench.tasks.base import MeasurementKind, TaskPlan, value_info

if TYPE_CHECKING:
    from bench.results import Row
    from bench.tasks.context import RunContext

MiB = 1024 * 1024


class PerfArgs(Options):
    batch_sizes: list[int] = Field(default_factory=lambda: [1, 8, 32], min_length=1)
    warmup: int = Field(default=2, ge=0)
    min_duration: float = Field(default=1.0, ge=0, description="seconds of timed calls per batch size, at least")
    min_queries: int = Field(default=10, ge=1, description="timed calls per batch size, at least")
    device: str | None = Field(default=None, description="deprecated: the run's device (runtime.device / --device) "
                               "is where models run and are timed; if given it must name that device")
    dtype: Literal["fp32", "bf16", "fp16"] = Field(default="fp32", description="autocast dtype (AMP) for the calls")
    classes: int | None = Field(default=None, ge=2, description="class-conditional generators (DiT, a cGAN): sample i "
                                "of a timed batch asks for class i % classes")


class PerfTask(MeasurementKind[PerfArgs]):
    """Throughput, latency percentiles and peak memory per batch size, for any adapter kind."""

    name = "perf"
    adapter_kinds = frozenset({"image-generator", "translator", "captioner", "retriever", "text-to-image", "autoencoder"})
    provides = frozenset({"timings"})
    Args = PerfArgs
    needs_backbone = False
    needs_n = False
    outputs: ClassVar[dict[str, OutputInfo]] = {
        "throughput": OutputInfo(higher_is_better=True, unit="items/s"),
        "latency_p50": OutputInfo(higher_is_better=False, unit="ms"),
        "latency_p90": OutputInfo(higher_is_better=False, unit="ms"),
        "latency_p99": OutputInfo(higher_is_better=False, unit="ms"),
        "peak_rss": OutputInfo(higher_is_better=False, unit="MiB"),
        "cuda_max_allocated": OutputInfo(higher_is_better=False, unit="MiB"),
        "cuda_max_reserved": OutputInfo(higher_is_better=False, unit="MiB"),
        "copy_ms": OutputInfo(higher_is_better=False, unit="ms"),
        "step_ms": OutputInfo(higher_is_better=False, unit="ms"),
        "overhead_us": OutputInfo(higher_is_better=False, unit="µs"),
    }

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        a = self.args(task)
        dev = ctx.device
        if a.device is not None and torch.device(a.device) != dev:
            raise ConfigError(f"task '{task.name}': args.device '{a.device}' differs from the run's device '{dev}': "
                              "models run (and are timed) on the run's device; set runtime.device or --device instead")
        task.state["overhead"] = measurement_overhead(dev)
        images = ctx.dataset(task.reference).images if task.reference else None
        return Reference(task.reference or "", images=images)

    def measure(self, ctx: RunContext, task: TaskPlan, model: str) -> list[Row]:
        """Timing is this kind's whole job: no produce-then-metrics loop."""
        a = self.args(task)
        dev = ctx.device
        adapter = self.build(ctx, model)
        amp = (torch.autocast(dev.type, dtype=torch.bfloat16 if a.dtype == "bf16" else torch.float16)
               if a.dtype != "fp32" else contextlib.nullcontext())
        proto = {"kind": "perf", "device": device_name(dev), "device_type": dev.type, "dtype": a.dtype,
                 "threads": cpu_threads(), "torch": torch.__version__,
                 "tf32": bool(torch.backends.cuda.matmul.allow_tf32) if dev.type == "cuda" else None}
        values: list[MetricValue] = []
        best, best_extras = 0.0, {}
        best_m: Measurement | None = None
        steps = getattr(adapter, "steps", None) or getattr(getattr(adapter, "model", None), "steps", None)
        for bs in a.batch_sizes:
            call = make_call(adapter, bs, seed=derive_seed(ctx.seed, task.name, ctx.seed_name(model)),
                             images=task.ref.images if task.ref else None, classes=a.classes)
            reset_peak_rss()
            reset_cuda_peak(dev)
            with torch.no_grad(), amp, announce(f"[{task.name}] {model}: timing batch size {bs}",
                                                 enabled=ctx.progress):
                m = measure(call, batch_size=bs, device=dev, warmup=a.warmup, min_duration=a.min_duration,
                            min_queries=a.min_queries, copy=to_host)
            spread = m.relative_spread
            extras: dict[str, Any] = {"batch_size": bs, "queries": len(m.times), "timed_seconds": round(sum(m.times), 4),
                                      "warmup_calls": m.warmup_calls, "repeats": [round(r, 3) for r in m.repeats()],
                                      "relative_spread": round(spread, 4)}
            if m.contention is not None:
                extras["cpu_wait_share"] = round(m.contention, 4)
            noisy = m.noise_note()
            if noisy:  # computed and kept, but flagged: a gate on it would fail or pass by chance
                extras["noisy"] = noisy
                warnings.warn(f"model '{model}' at batch size {bs}: {extras['noisy']}", stacklevel=2)
            t_lo, t_hi = m.throughput_range()
            values.append(MetricValue(f"throughput@bs{bs}", m.items_per_second, t_lo, t_hi, extras=extras))
            for q in (50, 90, 99):
                values.append(MetricValue(f"latency_p{q}@bs{bs}", m.percentile_ms(q), extras=extras))
            values.append(MetricValue(f"peak_rss@bs{bs}", peak_rss_bytes() / MiB, extras=extras))
            for k, v in cuda_peaks(dev).items():
                values.append(MetricValue(f"{k}@bs{bs}", v / MiB, extras=extras))
            if m.copy_times:
                values.append(MetricValue(f"copy_ms@bs{bs}", float(np.median(m.copy_times)) * 1000, extras=extras))
            if steps:
                values.append(MetricValue(f"step_ms@bs{bs}", m.percentile_ms(50) / int(steps), extras={**extras, "steps": steps}))
            if m.items_per_second > best:
                best, best_m, best_extras = m.items_per_second, m, extras
            if bs == 1:
                lo, hi = m.latency_iqr_ms()  # p50's row carries the interquartile range of the single calls
                for q in (50, 90, 99):
                    values.append(MetricValue(f"latency_p{q}", m.percentile_ms(q), lo if q == 50 else None,
                                              hi if q == 50 else None, {**extras, "mode": "single-stream"}))
        assert best_m is not None, "batch_sizes is never empty (validated)"
        t_lo, t_hi = best_m.throughput_range()
        values.append(MetricValue("throughput", best, t_lo, t_hi, extras={
            **{k: v for k, v in best_extras.items() if k != "batch_size"}, "mode": "offline",
            "batch_sizes": a.batch_sizes, "best_batch_size": best_m.batch_size}))
        if steps:  # a diffusion model's time per denoising step, in the tables (not only per batch size)
            values.append(MetricValue("step_ms", best_m.percentile_ms(50) / int(steps), extras={
                **best_extras, "steps": steps}))
        values.append(MetricValue("overhead_us", task.state["overhead"] * 1e6, extras={"what": "median harness time of an empty call"}))
        return [ctx.row(task, model, v, info=value_info(v.metric), seconds=0.0, protocol=proto, n=v.extras.get("queries", 0)) for v in values]
