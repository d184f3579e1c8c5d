"""``inference: fast`` (BatchNorm folded into the convs, channels_last) and the lazily built Inception network.

Random-init weights in torch-fidelity's real file format (bench.parity), 8 + 8 PNGs of 32x32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.backbones import get_backbone
from bench.backbones.inception import InceptionCompat
from bench.errors import ConfigError
from bench.features import feature_key
from bench.images import load_folder
from bench.parity import write_image_folders, write_random_weights
from bench.protocol import make_protocol, protocol_id
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fast")
    w = write_random_weights(root / "weights")
    a, b = write_image_folders(root / "ab", n=8, seed=0)
    return {"pth": w["pth"], "a": a, "b": b}


def test_fast_features_equal_torch_fidelity_to_round_off(files: dict[str, Path]) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    images = load_folder(files["a"])
    ref_net = FeatureExtractorInceptionV3("ref", ["2048", "logits_unbiased"],
                                          feature_extractor_weights_path=str(files["pth"])).eval()
    with torch.no_grad():
        pool, logits = ref_net(images)
    fast = get_backbone("inception-v3-compat", weights=str(files["pth"]), inference="fast").extract(images)
    exact = get_backbone("inception-v3-compat", weights=str(files["pth"])).extract(images)
    for ours, theirs in ((fast["pool"], pool), (fast["logits"], logits)):
        rel = np.abs(ours - theirs.numpy()).max() / np.abs(theirs.numpy()).max()
        assert 0 < rel < 5e-6  # not identical (different kernels), equal to float32 round-off
    np.testing.assert_array_equal(exact["pool"], pool.numpy())  # exact mode is the library's network as is


def test_fast_features_are_cached_apart_but_rank_under_the_same_protocol(files: dict[str, Path]) -> None:
    fast = get_backbone("inception-v3-compat", weights=str(files["pth"]), inference="fast")
    exact = get_backbone("inception-v3-compat", weights=str(files["pth"]))
    assert feature_key("h", fast) != feature_key("h", exact)
    assert protocol_id(make_protocol(fast, "pool", "ref", 8, 8)) == protocol_id(make_protocol(exact, "pool", "ref", 8, 8))
    assert fast.net is None and exact.net is None  # keys and protocols need the weights' hash, not the network


def test_fully_cached_rescore_never_builds_the_network(files: dict[str, Path], empty_cache: Path,
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench.score import score_images

    builds: list[int] = []
    real = InceptionCompat.load

    def counting_load(self: InceptionCompat) -> None:
        builds.append(1)
        real(self)

    monkeypatch.setattr(InceptionCompat, "load", counting_load)
    args = (str(files["a"]), str(files["b"]), ["fid", "kid"])
    kw = dict(backbone="inception-v3-compat", weights=str(files["pth"]), progress=False, out=str(tmp_path))
    first = score_images(*args, **kw)  # type: ignore[arg-type]
    assert builds == [1]
    again = score_images(*args, **kw)  # type: ignore[arg-type]
    assert builds == [1] and again["metrics"]["fid"]["value"] == first["metrics"]["fid"]["value"]


def test_fast_on_a_backbone_without_it_fails_validation_naming_the_field(write_suite, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    suite = write_suite("""
name: s
datasets: {ref: {kind: digits, split: test}}
models: {m: {adapter: noise, args: {shape: [1, 8, 8]}}}
tasks:
  - name: t
    reference: ref
    n: 10
    backbone: digits
    inference: fast
    metrics: [fid]
""")
    code, out, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and "inference" in err and "no fast inference mode" in err and "inception-v3-compat" in err
    with pytest.raises(ConfigError):
        get_backbone("digits", inference="fast")


@pytest.mark.parametrize("size", [8, 32, 64, 299, 400])
def test_tf1_resize_matrix_equals_torch_fidelity_resize(size: int) -> None:
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    from bench.backbones.inception import tf1_bilinear_matrix

    x = (torch.rand(2, 3, size, size + 3, generator=torch.Generator().manual_seed(size)) * 255).round()
    theirs = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    ours = (tf1_bilinear_matrix(size) @ x.double() @ tf1_bilinear_matrix(size + 3).T).float()
    assert (ours - theirs).abs().max().item() < 1e-4  # float32 round-off on a 0..255 scale
