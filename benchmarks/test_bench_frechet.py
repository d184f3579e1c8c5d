"""Speed of the Fréchet distance on 2048-d statistics: bench.metrics.frechet vs scipy.linalg.sqrtm.

Run: ``.venv/bin/python -m pytest benchmarks/test_bench_frechet.py --benchmark-only -p no:cacheprovider``.
Equality of the two is asserted in tests/test_frechet.py; here only speed is measured, and the ratio of
the medians is checked (>= 5x on the reference machine, see the issue-3 report).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_frechet import frechet_sqrtm, well_conditioned_stats  # noqa: E402

from bench.metrics.frechet import frechet_distance  # noqa: E402

STATS = well_conditioned_stats(2048, seed=0)
_MEDIANS: dict[str, float] = {}


@pytest.mark.benchmark(group="frechet-2048")
def test_bench_genbench_eigh(benchmark: Any) -> None:
    benchmark.pedantic(lambda: frechet_distance(*STATS), rounds=5, iterations=1, warmup_rounds=1)
    _MEDIANS["eigh"] = benchmark.stats.stats.median


@pytest.mark.benchmark(group="frechet-2048")
def test_bench_scipy_sqrtm(benchmark: Any) -> None:
    benchmark.pedantic(lambda: frechet_sqrtm(*STATS), rounds=3, iterations=1, warmup_rounds=0)
    _MEDIANS["sqrtm"] = benchmark.stats.stats.median


def test_speedup_at_least_5x() -> None:
    if len(_MEDIANS) < 2:
        pytest.skip("run together with the two benchmarks (and without --benchmark-disable)")
    ratio = _MEDIANS["sqrtm"] / _MEDIANS["eigh"]
    print(f"\nFréchet 2048-d: sqrtm {_MEDIANS['sqrtm']:.3f} s / eigh {_MEDIANS['eigh']:.3f} s = {ratio:.1f}x")
    assert ratio >= 5.0
