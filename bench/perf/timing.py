"""Timers that are correct on CPU and GPU, and memory high-water marks that can be reset.

On CUDA, a call is timed with CUDA events recorded on the current stream after a synchronisation, so the time is
the device's, not the launch queue's; on the CPU, with ``time.perf_counter``. Host-device copies are timed
separately by the caller. Peak host memory uses Linux's resettable VmHWM (``/proc/self/clear_refs``), falling
back to ``ru_maxrss`` (a process-lifetime high-water mark) elsewhere.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work; a no-op on the CPU (and on a machine without CUDA)."""
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.synchronize(device)


class Timer:
    """``with timer: ...`` then ``timer.seconds``; device-synchronised on CUDA."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.seconds = 0.0
        self._cuda = self.device.type == "cuda" and torch.cuda.is_available()

    def __enter__(self) -> Timer:
        if self._cuda:
            synchronize(self.device)
            self._start = torch.cuda.Event(enable_timing=True)
            self._end = torch.cuda.Event(enable_timing=True)
            self._start.record()
        else:
            self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._cuda:
            self._end.record()
            self._end.synchronize()
            self.seconds = self._start.elapsed_time(self._end) / 1000.0
        else:
            self.seconds = time.perf_counter() - self._t0


#: repeats a measurement is split into for its dispersion (Measurement.repeats)
REPEATS = 5
#: relative range of the repeats' throughput above which a row is flagged too noisy to gate on
NOISY = 0.10
#: share of the timed wall time the process's threads spent waiting for a CPU (run queue, Linux schedstat) above
#: which the machine was too loaded for the timing to mean anything, however tight the repeats
CONTENDED = 0.10
#: warm-up goes on until the last STABLE_CALLS call times lie within STABLE_TOLERANCE of their median
STABLE_CALLS, STABLE_TOLERANCE, MAX_WARMUP_SECONDS = 3, 0.10, 10.0


@dataclass
class Measurement:
    """Per-call wall times of one workload at one batch size."""

    batch_size: int
    times: list[float]
    copy_times: list[float]

    #: warm-up calls made before the timed ones (until stable, see :func:`measure`)
    warmup_calls: int = 0
    #: share of the timed loop's wall time its working threads waited for a CPU (Linux schedstat; None: not
    #: measurable here): 0 on a quiet machine; a loaded one inflates every call alike, so the repeats agree and
    #: only this shows it (a 21x latency with a tight interval)
    contention: float | None = None

    def noise_note(self) -> str | None:
        """Why this measurement is too noisy to gate on, or None: repeats that disagree (range/median above
        NOISY) or a machine that kept the process waiting for a CPU (above CONTENDED of the wall time)."""
        notes = []
        spread = self.relative_spread
        if spread > NOISY:
            notes.append(f"throughput of {len(self.repeats())} repeats spreads {spread:.0%} (range/median) > {NOISY:.0%}")
        c = self.contention
        if c is not None and c > CONTENDED:
            notes.append(f"its threads waited for a CPU {c:.0%} of the timed time (a loaded machine) > "
                         f"{CONTENDED:.0%}")
        if not notes:
            return None
        return "; ".join(notes) + ": too noisy to gate on; lengthen min_duration or quiet the machine"

    @property
    def items_per_second(self) -> float:
        return self.batch_size * len(self.times) / sum(self.times)

    def repeats(self, k: int = REPEATS) -> list[float]:
        """Throughput of ``k`` consecutive equal shares of the timed calls: the run repeated k times, so its
        spread shows how far one measurement would move (drift, a neighbour's load, thermal throttling)."""
        chunks = [c for c in np.array_split(np.asarray(self.times), min(k, len(self.times))) if len(c)]
        return [self.batch_size * len(c) / float(c.sum()) for c in chunks]

    def throughput_range(self) -> tuple[float, float]:
        """Lowest and highest throughput of the repeats (the overall value always lies between them)."""
        r = self.repeats()
        return float(min(r)), float(max(r))

    def latency_iqr_ms(self) -> tuple[float, float]:
        return self.percentile_ms(25), self.percentile_ms(75)

    @property
    def relative_spread(self) -> float:
        """Range of the repeats' throughput over their median: above NOISY it is too noisy to gate on."""
        lo, hi = self.throughput_range()
        med = float(np.median(self.repeats()))
        return (hi - lo) / med if med > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.times), q) * 1000.0)


def measure(call: Callable[[], Any], *, batch_size: int, device: torch.device | str = "cpu", warmup: int = 2,
            min_duration: float = 1.0, min_queries: int = 10, max_queries: int = 100000,
            copy: Callable[[Any], Any] | None = None) -> Measurement:
    """Run ``call`` ``warmup`` times untimed, then until both ``min_duration`` seconds and ``min_queries`` calls
    are reached (MLPerf LoadGen's minimums). ``copy`` (e.g. ``.cpu()``) is timed separately from the call."""
    dev = torch.device(device)
    warm: list[float] = []
    started = time.perf_counter()
    # at least ``warmup`` calls, then until the last few agree (caches, allocator, lazy init and clocks settled)
    while len(warm) < warmup or (warmup and not _stable(warm) and time.perf_counter() - started < MAX_WARMUP_SECONDS):
        t = Timer(dev)
        with t:
            out = call()
        warm.append(t.seconds)
        if copy is not None:
            copy(out)
        del out
    synchronize(dev)
    times: list[float] = []
    copies: list[float] = []
    total = 0.0
    stat0, wall0 = _schedstat(), time.perf_counter()
    while (total < min_duration or len(times) < min_queries) and len(times) < max_queries:
        t = Timer(dev)
        with t:
            out = call()
        times.append(t.seconds)
        total += t.seconds
        if copy is not None:
            c = Timer(dev)
            with c:
                copy(out)
            copies.append(c.seconds)
        # drop the output before the next call: holding it would double peak memory for big batches and change
        # what the allocator has to do during the next timed call (the caller's own loop would not hold it)
        del out
    wall = time.perf_counter() - wall0
    return Measurement(batch_size, times, copies, warmup_calls=len(warm),
                       contention=run_queue_wait(stat0, _schedstat(), wall))


def _schedstat() -> dict[str, tuple[int, int]] | None:
    """thread id -> (ns on a CPU, ns runnable but waiting for one), from ``/proc/self/task/*/schedstat``; None
    where the kernel does not expose it."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    out: dict[str, tuple[int, int]] = {}
    for t in tasks:
        try:
            with open(f"/proc/self/task/{t}/schedstat") as f:
                run, wait = f.read().split()[:2]
            out[t] = (int(run), int(wait))
        except (OSError, ValueError):
            continue
    return out or None


def run_queue_wait(before: dict[str, tuple[int, int]] | None, after: dict[str, tuple[int, int]] | None,
                   wall: float) -> float | None:
    """Share of the wall time the process's working threads spent waiting for a CPU between two
    :func:`_schedstat` readings: their run-queue wait over (wall x their number), threads that ran in between
    only (idle pool threads neither run nor wait). None where not measurable."""
    if before is None or after is None or wall <= 0:
        return None
    waits = [after[t][1] - before[t][1] for t in after if t in before and after[t][0] > before[t][0]]
    if not waits:
        return None
    return max(0.0, sum(waits) / 1e9 / (wall * len(waits)))


def _stable(times: list[float]) -> bool:
    last = times[-STABLE_CALLS:]
    if len(last) < STABLE_CALLS:
        return False
    med = float(np.median(last))
    return all(abs(t - med) <= STABLE_TOLERANCE * med for t in last) if med > 0 else True


def measurement_overhead(device: torch.device | str = "cpu", n: int = 2000) -> float:
    """Median seconds the harness itself adds per call (timing an empty call)."""
    m = measure(lambda: None, batch_size=1, device=device, warmup=10, min_duration=0.0, min_queries=n, max_queries=n)
    return float(np.median(m.times))


# ------------------------------------------------------------------------------------------------ memory


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux VmHWM); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def reset_cuda_peak(device: torch.device) -> None:
    if device.type == "cuda" and torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peaks(device: torch.device) -> dict[str, int]:
    if device.type == "cuda" and torch.cuda.is_available():
        return {"cuda_max_allocated": int(torch.cuda.max_memory_allocated(device)),
                "cuda_max_reserved": int(torch.cuda.max_memory_reserved(device))}
    return {}


def cpu_threads() -> int:
    return torch.get_num_threads() or (os.cpu_count() or 1)
