"""Inception-scale benchmarks, genbench beside torch-fidelity on the same inputs (never in the default test run).

500 generated vs 500 reference 2048-d features (ReLU-like, float32), and the 299x299 Inception forward pass on
32 images with seeded random weights in torch-fidelity's file format. Run with ``scripts/benchmarks.sh``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

N, D = 500, 2048


@pytest.fixture(scope="module")
def feats() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    g = np.maximum(rng.standard_normal((N, D)), 0).astype(np.float32)
    r = (np.maximum(rng.standard_normal((N, D)), 0) * 1.1 + 0.05).astype(np.float32)
    return g, r


@pytest.mark.benchmark(group="fid-500x2048")
def test_fid_genbench(benchmark: Any, feats: Any) -> None:
    from bench.metrics.distribution import FID

    g, r = feats
    benchmark.pedantic(lambda: FID().compute({"pool": g}, {"pool": r}, layer="pool", seed=0), rounds=5, iterations=1)


@pytest.mark.benchmark(group="fid-500x2048")
def test_fid_torch_fidelity(benchmark: Any, feats: Any) -> None:
    from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_statistics_to_metric

    g, r = feats

    def run() -> float:
        s1 = fid_featuresdict_to_statistics({"2048": torch.from_numpy(g)}, "2048")
        s2 = fid_featuresdict_to_statistics({"2048": torch.from_numpy(r)}, "2048")
        return float(fid_statistics_to_metric(s1, s2, False)["frechet_inception_distance"])

    benchmark.pedantic(run, rounds=3, iterations=1)


@pytest.mark.benchmark(group="kid-500x2048-100-subsets")
def test_kid_genbench(benchmark: Any, feats: Any) -> None:
    from bench.metrics.distribution import KID

    g, r = feats
    benchmark.pedantic(lambda: KID({"subsets": 100, "subset_size": N}).compute({"pool": g}, {"pool": r}, layer="pool", seed=0),
                       rounds=5, iterations=1)


@pytest.mark.benchmark(group="kid-500x2048-100-subsets")
def test_kid_torch_fidelity(benchmark: Any, feats: Any) -> None:
    from torch_fidelity.metric_kid import kid_features_to_metric

    g, r = feats
    benchmark.pedantic(lambda: kid_features_to_metric(torch.from_numpy(g), torch.from_numpy(r), kid_subsets=100,
                                                      kid_subset_size=N, verbose=False), rounds=3, iterations=1)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.parity import write_random_weights

    return write_random_weights(tmp_path_factory.mktemp("w"))["pth"]


@pytest.mark.benchmark(group="inception-forward-32-images")
@pytest.mark.parametrize("inference", ["exact", "fast"])
def test_inception_forward(benchmark: Any, inception_weights: Path, inference: str) -> None:
    from bench.backbones import get_backbone

    b = get_backbone("inception-v3-compat", weights=str(inception_weights), inference=inference)
    images = (torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    b.extract(images[:2])  # build the network and its kernels outside the timing
    benchmark.pedantic(lambda: b.extract(images), rounds=3, iterations=1)
