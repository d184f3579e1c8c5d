"""LPIPS diversity: the digits-features distance, seeded pairs, the lpips package path loaded offline from a
resolved file, the fallback, and the ratio to real data on the embedded digits."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bench.backbones.digits import DigitsBackbone, to_input
from bench.backbones.lpips_nets import load_lpips
from bench.data import digits
from bench.errors import WeightsError
from bench.metrics.base import Reference, SampleSet
from bench.metrics.diversity import (
    LPIPSDiversity,
    digits_feature_distance,
    lpips_distance,
    pair_indices,
    pairwise_distances,
)


@pytest.fixture(scope="module")
def backbone() -> DigitsBackbone:
    b = DigitsBackbone()
    b.load()
    return b


def test_pairs_are_fixed_and_distinct() -> None:
    i, j = pair_indices(50, 2000)
    i2, j2 = pair_indices(50, 2000)
    assert (i == i2).all() and (j == j2).all() and (i != j).all()
    assert set(np.unique(np.r_[i, j])) == set(range(50))


def test_digits_distance_is_lpips_style(backbone: DigitsBackbone) -> None:
    x = digits.load("test")[0][:6]
    dist = digits_feature_distance(backbone.net)
    assert torch.all(dist(x, x) == 0)
    d = dist(x[:3], x[3:])
    assert torch.allclose(d, dist(x[3:], x[:3])) and torch.all(d > 0)
    # by hand: unit-normalise channels per position, squared difference summed over channels, mean over positions
    with torch.no_grad():
        fa, fb = (backbone.net.features(to_input(v), spatial=True) for v in (x[:3], x[3:]))
    expected = torch.zeros(3, dtype=torch.float64)
    for layer in ("conv1", "conv2", "pool"):
        a, b = fa[layer].double(), fb[layer].double()
        if a.ndim == 2:
            a, b = a[:, :, None, None], b[:, :, None, None]
        a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        expected += (a - b).pow(2).sum(1).mean((1, 2))
    assert torch.allclose(d, expected, rtol=1e-5)
    assert d.max() <= 12  # each of three layers contributes at most 4


def test_ratio_flags_one_class_collapse(backbone: DigitsBackbone) -> None:
    train = digits.load("train")[0]
    test, labels = digits.load("test")
    m = LPIPSDiversity({"pairs": 500})

    def ratio(images: torch.Tensor) -> tuple[float, float, float]:
        rows = {v.metric: v for v in m.compute(SampleSet(images=images, backbone=backbone), Reference(images=train), seed=0)}
        r = rows["perceptual_diversity_digits_ratio"]  # the stand-in distance carries its own name
        assert r.extras["distance"] == "digits-features"
        return r.value, r.ci_low, r.ci_high

    real, one = ratio(test), ratio(test[labels == 7])
    assert 0.93 < real[0] < 1.07 and real[1] < 1 < real[2]
    assert one[0] < 0.65 and one[2] < real[1]


def _fake_alexnet(path: Path) -> dict[str, torch.Tensor]:
    """A seeded random AlexNet trunk saved as a torchvision state dict (no download in tests)."""
    import torchvision

    torch.manual_seed(0)
    sd = {f"features.{k}": v for k, v in torchvision.models.alexnet(weights=None).features.state_dict().items()}
    torch.save(sd, path)
    return sd


def test_lpips_package_path_loads_the_resolved_file(tmp_path: Path, backbone: DigitsBackbone) -> None:
    sd = _fake_alexnet(tmp_path / "alexnet.pth")
    model = load_lpips("alex", str(tmp_path / "alexnet.pth"))
    assert torch.equal(model.net.slice1[0].weight, sd["features.0.weight"])
    assert torch.equal(getattr(model.net.slice5, "10").bias, sd["features.10.bias"])
    x = digits.load("test")[0][:4]
    d = lpips_distance(model, 64)(x[:2], x[2:])
    # the lpips module itself, on RGB 64 px images in [-1, 1]
    prep = torch.nn.functional.interpolate(x.expand(-1, 3, -1, -1).float() / 255, size=(64, 64), mode="bilinear",
                                           align_corners=False, antialias=True) * 2 - 1
    with torch.no_grad():
        ref = model(prep[:2], prep[2:]).flatten().double()
    assert torch.allclose(d, ref) and torch.all(d > 0)
    rows = LPIPSDiversity({"distance": "lpips-alex", "weights": str(tmp_path / "alexnet.pth"), "pairs": 20}).compute(
        SampleSet(images=x, backbone=backbone), Reference(images=x), seed=0)
    assert rows[0].extras["distance"] == "lpips-alex" and rows[1].value == pytest.approx(1.0)


def test_lpips_missing_weights_fail_clearly_or_fall_back(tmp_path: Path, backbone: DigitsBackbone) -> None:
    x = digits.load("test")[0][:10]
    with pytest.raises(WeightsError, match="alexnet-owt-7be5be79.pth"):
        load_lpips("alex")  # offline, empty cache: the message names the URL and the path
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="not a torchvision"):
        load_lpips("alex", str(bad))
    other = SimpleNamespace(name="inception", state=None)
    rows = LPIPSDiversity({"pairs": 20}).compute(SampleSet(images=x, backbone=other), Reference(images=x), seed=0)  # type: ignore[arg-type]
    assert rows[0].extras["distance"] == "digits-features" and "download" in rows[0].extras["fallback_reason"]
    assert pairwise_distances(x, digits_feature_distance(backbone.net), 20).shape == (20,)
