"""CLIP backbone (open_clip): spec parsing and the QuickGELU trap, pinned weights, offline errors naming the
file, and features equal to open_clip's own preprocessing + encode_image on the same images.

A tiny open_clip config (2 layers, width 64) written in open_clip's JSON format keeps CPU time to ~1 s; the code
path (config → create_model_and_transforms from a state-dict file → image transform → encode_image) is the real one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.backbones import get_backbone
from bench.backbones.clip import CLIP_VIT_B_32_OPENAI, load_open_clip, parse_spec
from bench.errors import ConfigError, WeightsError
from tests.conftest import run_cli

TINY = {"embed_dim": 32, "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "patch_size": 32, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init state dict of the tiny config (QuickGELU variant: the activation has no parameters)."""
    import open_clip

    root = tmp_path_factory.mktemp("clip")
    (root / "gb-tiny-clip.json").write_text(json.dumps(TINY))
    open_clip.add_model_config(root / "gb-tiny-clip.json")
    torch.manual_seed(0)
    model = open_clip.create_model("gb-tiny-clip", pretrained=None)
    torch.save(model.state_dict(), root / "tiny.pt")
    return root / "tiny.pt"


def _images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (6, 3, 48, 64), dtype=torch.uint8, generator=g)


def test_spec_parsing_applies_quickgelu_for_openai_weights() -> None:
    s = parse_spec("ViT-B-32@openai")
    assert (s.arch, s.quick_gelu, s.force_quick_gelu) == ("ViT-B-32-quickgelu", True, False)
    s = parse_spec("ViT-B-32@laion2b_s34b_b79k")
    assert (s.arch, s.quick_gelu) == ("ViT-B-32", False)
    assert parse_spec("ViT-B-32-quickgelu").arch == "ViT-B-32-quickgelu"
    with pytest.raises(ConfigError, match="did you mean 'ViT-B-32'"):
        parse_spec("ViT-B-23@openai")
    with pytest.raises(ConfigError, match="no pretrained tag 'nope'"):
        parse_spec("ViT-B-32@nope")


def test_openai_weights_pinned_to_the_sha256_in_their_url() -> None:
    import open_clip

    url = open_clip.get_pretrained_cfg("ViT-B-32", "openai")["url"]
    assert CLIP_VIT_B_32_OPENAI.url == url and CLIP_VIT_B_32_OPENAI.sha256 == url.split("/")[-2]


def test_features_equal_open_clip_encode_image(tiny_weights: Path) -> None:
    import open_clip

    b = get_backbone("clip:gb-tiny-clip@openai", weights=str(tiny_weights))
    ours = b.extract(_images())["embedding"]
    # open_clip on its own: its transform on PIL images, its encode_image, QuickGELU as OpenAI weights need
    model, _, pre = open_clip.create_model_and_transforms("gb-tiny-clip", pretrained=str(tiny_weights), force_quick_gelu=True)
    model.eval()
    pil = [Image.fromarray(im) for im in _images().permute(0, 2, 3, 1).numpy()]
    with torch.no_grad():
        theirs = model.encode_image(torch.stack([pre(p) for p in pil])).numpy()
    assert ours.shape == (6, 32)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    # the trap: the same file under nn.GELU gives different features
    gelu, _, _ = open_clip.create_model_and_transforms("gb-tiny-clip", pretrained=str(tiny_weights))
    with torch.no_grad():
        wrong = gelu.eval().encode_image(torch.stack([pre(p) for p in pil])).numpy()
    assert np.abs(wrong - theirs).max() > 1e-3
    d = b.describe()
    assert d["backbone"] == "clip:gb-tiny-clip@openai" and d["preprocessing"]["activation"] == "QuickGELU"
    assert d["weights_sha256"] == __import__("bench.weights", fromlist=["x"]).sha256_file(tiny_weights)


def test_load_open_clip_is_reusable(tiny_weights: Path) -> None:
    """The function a CLIPScore implementation calls: model + open_clip's transform, eval mode, sha recorded."""
    c = load_open_clip("gb-tiny-clip@openai", str(tiny_weights))
    assert not c.model.training and c.spec.quick_gelu and len(c.sha256) == 64
    assert tuple(c.transform(Image.new("RGB", (300, 200))).shape) == (3, 224, 224)


def test_offline_missing_weights_name_the_file(empty_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = get_backbone("clip")
    (msg,) = b.check_weights()
    assert CLIP_VIT_B_32_OPENAI.url in msg and str(empty_cache / "weights" / "clip-openai-ViT-B-32.pt") in msg
    with pytest.raises(WeightsError, match="clip-openai-ViT-B-32.pt"):
        b.load()
    suite = tmp_path / "s.yaml"
    suite.write_text("models: {real: {adapter: dataset, args: {dataset: d}}}\n"
                     "datasets: {d: {kind: digits, split: test}}\n"
                     "tasks: [{name: a, reference: d, n: 10, protocol: clip-fd, metrics: [fid]}]\n")
    # validate: valid, with a warning naming the file; run: stops before any sampling, naming it
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 0 and "warning" in err and "clip-openai-ViT-B-32.pt" in err and "40d365715913c9da" in err
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and "clip-openai-ViT-B-32.pt" in err and "40d365715913c9da" in err
    assert not (tmp_path / "r").exists()


def test_clip_fd_suite_runs_with_a_local_weights_file(tiny_weights: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("models: {real: {adapter: dataset, args: {dataset: te}}, noise: {adapter: noise, args: {shape: [1, 8, 8]}}}\n"
                     "datasets: {d: {kind: digits, split: train, classes: [0, 1]}, te: {kind: digits, split: test}}\n"
                     f"tasks: [{{name: a, reference: d, n: 30, backbone: 'clip:gb-tiny-clip@openai', weights: {tiny_weights}, "
                     "metrics: [fid]}]\noutput: {grid: 0}\n")
    code, out, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    rows = [json.loads(x) for x in next((tmp_path / "r").rglob("rows.jsonl")).read_text().splitlines()]
    fid = {r["model"]: r["value"] for r in rows}
    assert 0 < fid["real"] < fid["noise"]
