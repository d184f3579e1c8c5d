"""pytest-benchmark benchmarks of genbench's hot paths (never run in the default test run).

Run them, and compare with the stored baseline of this machine, with ``scripts/benchmarks.sh``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.backbones.digits import DigitsBackbone
from bench.data import digits
from bench.features import FeatureStore
from bench.images import load_folder, save_png
from bench.metrics.distribution import FID, KID, PrecisionRecall

N = 1000


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 real digits as 32x32 RGB PNGs (decode, channel handling and resize all on the path)."""
    d = tmp_path_factory.mktemp("pngs")
    x, _ = digits.load("all")
    x = x[:N].repeat_interleave(4, 2).repeat_interleave(4, 3).expand(-1, 3, -1, -1)
    for i in range(N):
        save_png(x[i], d / f"{i:05d}.png")
    return d


@pytest.fixture(scope="module")
def feats() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    b = DigitsBackbone()
    return b.extract(digits.load("test")[0][:500].repeat(2, 1, 1, 1)), b.extract(digits.load("train")[0])


@pytest.mark.benchmark(group="images")
def test_decode_resize_features_per_1000_images(benchmark: Any, folder: Path) -> None:
    backbone = DigitsBackbone()
    backbone.load()

    def run() -> None:
        FeatureStore(None, progress=False).get(load_folder(folder), backbone)

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="metrics")
def test_fid(benchmark: Any, feats: Any) -> None:
    g, r = feats
    benchmark(lambda: FID().compute(g, r, layer="pool", seed=0))


@pytest.mark.benchmark(group="metrics")
def test_kid_100_subsets(benchmark: Any, feats: Any) -> None:
    g, r = feats
    benchmark.pedantic(lambda: KID({"subsets": 100, "subset_size": 500}).compute(g, r, layer="pool", seed=0),
                       rounds=3, iterations=1)


@pytest.mark.benchmark(group="metrics")
def test_precision_recall(benchmark: Any, feats: Any) -> None:
    g, r = feats
    benchmark.pedantic(lambda: PrecisionRecall().compute(g, r, layer="pool", seed=0), rounds=3, iterations=1)


@pytest.mark.benchmark(group="metrics")
def test_density_coverage(benchmark: Any, feats: Any) -> None:
    from bench.metrics import get_metric

    g, r = feats
    metric = get_metric("density_coverage")({})
    benchmark.pedantic(lambda: metric.compute(g, r, layer="pool", seed=0), rounds=3, iterations=1)


@pytest.mark.benchmark(group="text")
def test_caption_metrics_1000_images_no_meteor(benchmark: Any) -> None:
    from bench.text.caption_scores import score_captions
    from bench.text.synthetic import synthetic_captions

    cs = synthetic_captions(1000, seed=0)
    benchmark.pedantic(lambda: score_captions(cs.refs, cs.hyps, meteor=False, spice=False), rounds=2, iterations=1)

