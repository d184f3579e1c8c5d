"""Metadata of the speed and memory values the perf task writes (bench.tasks.perf computes them)."""

from __future__ import annotations

from bench.metrics.base import Metric, OutputInfo


class Perf(Metric):
    name = "perf"
    description = "throughput, latency percentiles, peak memory per batch size (computed by the perf task)"
    requires = frozenset({"timings"})
    outputs = {
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
