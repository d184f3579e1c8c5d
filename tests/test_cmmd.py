"""CMMD: the estimator by hand and against google-research cmmd's formula, and the CLIP ViT-L/14@336 pipeline on a
random-weights model saved in the real transformers format (tiny config, same classes and files)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics.base import Reference, SampleSet
from bench.metrics.cmmd import CMMD, mmd_rbf_biased


def _cmmd_formula(x: np.ndarray, y: np.ndarray, sigma: float = 10, scale: float = 1000) -> float:
    """cmmd/distance.py ``mmd`` written out with numpy in float32 (jax's default dtype), full matrices."""
    x, y = x.astype(np.float32), y.astype(np.float32)
    xs, ys = np.diag(x @ x.T), np.diag(y @ y.T)
    gamma = 1 / (2 * sigma**2)
    kxx = np.mean(np.exp(-gamma * (-2 * x @ x.T + xs[:, None] + xs[None, :])))
    kxy = np.mean(np.exp(-gamma * (-2 * x @ y.T + xs[:, None] + ys[None, :])))
    kyy = np.mean(np.exp(-gamma * (-2 * y @ y.T + ys[:, None] + ys[None, :])))
    return float(scale * (kxx + kyy - 2 * kxy))


def _formula64(x: np.ndarray, y: np.ndarray, sigma: float = 10, scale: float = 1000) -> float:
    x, y = x.astype(np.float64), y.astype(np.float64)
    d = lambda a, b: (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T  # noqa: E731
    k = lambda a, b: np.exp(-d(a, b) / (2 * sigma**2)).mean()  # noqa: E731
    return float(scale * (k(x, x) + k(y, y) - 2 * k(x, y)))


def test_hand_computed() -> None:
    # one point each, 5 apart: k_xx = k_yy = 1, k_xy = exp(-25 / 200)
    assert mmd_rbf_biased(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]])) == pytest.approx(1000 * (2 - 2 * math.exp(-0.125)))
    # two points vs one: the biased estimator keeps the diagonal (k(x, x) = 1)
    x, y = np.array([[0.0, 0.0], [0.0, 2.0]]), np.array([[0.0, 0.0]])
    kxx = (2 + 2 * math.exp(-4 / 200)) / 4
    kxy = (1 + math.exp(-4 / 200)) / 2
    assert mmd_rbf_biased(x, y) == pytest.approx(1000 * (kxx + 1 - 2 * kxy), rel=1e-12)
    assert mmd_rbf_biased(x, x) == pytest.approx(0.0, abs=1e-12)


def test_equals_the_reference_formula_on_unit_embeddings() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 768))
    y = rng.normal(0.05, 1, size=(5000, 768))[:260]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    ours = CMMD().compute(SampleSet(features={"embed": y}, layer="embed"),
                          Reference(features={"embed": x}, layer="embed"), seed=0)[0]
    # the formula in float64 (same all-pairs means): equal to round-off
    assert ours.value == pytest.approx(_formula64(x, y), rel=1e-9)
    # cmmd's float32 matrices: kernel means near 1 minus each other lose ~7 digits, so at CMMD ~0.09 the reference's
    # own round-off is ~1e-3 relative; genbench's float64 sums are the more accurate of the two
    assert ours.value == pytest.approx(_cmmd_formula(x, y), rel=3e-3)
    # blocks do not change the value
    import bench.metrics.cmmd as m

    old = m.BLOCK_ROWS
    m.BLOCK_ROWS = 7
    try:
        assert mmd_rbf_biased(x, y) == pytest.approx(ours.value, rel=1e-12)
    finally:
        m.BLOCK_ROWS = old


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLIPVisionModelWithProjection + CLIPImageProcessor folder as save_pretrained writes it: the real format of
    openai/clip-vit-large-patch14-336 (336 px, patch 14, OpenAI mean/std), tiny widths, seeded random weights."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    cfg = CLIPVisionConfig(image_size=336, patch_size=14, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, projection_dim=16)
    folder = tmp_path_factory.mktemp("clip336") / "clip-vit-large-patch14-336"
    CLIPVisionModelWithProjection(cfg).eval().save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}).save_pretrained(folder)
    return folder


def _reference_embed(folder: Path, images: np.ndarray) -> np.ndarray:
    """cmmd's embedding path, step by step: io_util centre crop + PIL bicubic 336, /255, embedding.py bicubic
    interpolate, CLIPImageProcessor (normalise only), image_embeds, L2 norm."""
    from PIL import Image
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    ims = []
    for a in images:
        im = Image.fromarray(a)
        w, h = im.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        ims.append(np.asarray(im.crop((left, top, left + side, top + side)).resize((336, 336), resample=Image.BICUBIC)).astype(np.float32))
    x = np.stack(ims) / 255.0
    t = torch.nn.functional.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2)), size=(336, 336), mode="bicubic")
    x = t.permute(0, 2, 3, 1).numpy()
    proc = CLIPImageProcessor.from_pretrained(folder)
    model = CLIPVisionModelWithProjection.from_pretrained(folder).eval()
    with torch.no_grad():
        emb = model(**proc(images=x, do_normalize=True, do_center_crop=False, do_resize=False, do_rescale=False,
                           return_tensors="pt")).image_embeds
    return (emb / torch.linalg.norm(emb, dim=-1, keepdim=True)).numpy()


def test_cli_cmmd_protocol_matches_the_reference_pipeline(tiny_clip: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (6, 40, 56, 3), dtype=np.uint8)  # not square: the central crop matters
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)[::-1].copy()
    np.savez(tmp_path / "a.npz", arr_0=a)
    np.savez(tmp_path / "b.npz", arr_0=b)
    capsys.readouterr()
    code = main(["score", "images", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--protocol", "cmmd",
                 "--weights", str(tiny_clip), "--json", "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)
    assert list(res["metrics"]) == ["cmmd"] and res["protocol"]["backbone"] == "clip-vit-l14-336"
    ea, eb = _reference_embed(tiny_clip, a), _reference_embed(tiny_clip, b)
    from bench.backbones import get_backbone

    ours = get_backbone("clip-vit-l14-336", weights=str(tiny_clip)).extract(torch.from_numpy(a).permute(0, 3, 1, 2))
    np.testing.assert_allclose(ours["embed"], ea, rtol=0, atol=1e-6)  # the embeddings themselves
    # (random tiny weights embed everything alike: CMMD is small, where cmmd's float32 sums are pure round-off)
    assert res["metrics"]["cmmd"]["value"] == pytest.approx(_formula64(eb, ea), rel=1e-5)
    assert res["metrics"]["cmmd"]["value"] > 0


def test_missing_weights_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    np.savez(tmp_path / "a.npz", arr_0=np.zeros((3, 8, 8, 3), np.uint8))
    capsys.readouterr()
    code = main(["score", "images", str(tmp_path / "a.npz"), str(tmp_path / "a.npz"), "--protocol", "cmmd", "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "openai/clip-vit-large-patch14-336" in err and "Traceback" not in err
