"""Speed of the Fréchet distance on 2048-d statistics: bench.metrics.frechet vs scipy.linalg.sqrtm.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_frechet.py --benchmark-only -p no:cacheprovider``.
Equality of the two is asserted in tests/test_frechet.py; here only speed is measured, and the ratio of
the medians is checked (>= 5x on the reference machine, see the issue-3 report).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_frechet import frechet_sqrtm, well_conditioned_stats  # noqa: E402

from bench.metrics.frechet import frechet_distance  # noqa: E402

STATS = well_conditioned_stats(2048, seed=0)
_MEDIANS: dict[str, float] = {}


def _timed(name: str, fn: Any) -> Any:
    """Record each call's wall time ourselves: pytest-benchmark's stats object is not public API."""
    times: list[float] = []

    def run() -> None:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        _MEDIANS[name] = statistics.median(times)

    return run


@pytest.mark.benchmark(group="frechet-2048")
def test_bench_genbench_eigh(benchmark: Any) -> None:
    benchmark.pedantic(_timed("eigh", lambda: frechet_distance(*STATS)), rounds=5, iterations=1)


@pytest.mark.benchmark(group="frechet-2048")
def test_bench_scipy_sqrtm(benchmark: Any) -> None:
    benchmark.pedantic(_timed("sqrtm", lambda: frechet_sqrtm(*STATS)), rounds=3, iterations=1)


def test_speedup_at_least_5x() -> None:
    if len(_MEDIANS) < 2:
        pytest.skip("run together with the two benchmarks (and without --benchmark-disable)")
    ratio = _MEDIANS["sqrtm"] / _MEDIANS["eigh"]
    print(f"\nFréchet 2048-d: sqrtm {_MEDIANS['sqrtm']:.3f} s / eigh {_MEDIANS['eigh']:.3f} s = {ratio:.1f}x")
    assert ratio >= 5.0
