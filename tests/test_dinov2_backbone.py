"""DINOv2 backbone (timm architecture, official-hub key layout): dgm-eval preprocessing, CLS features equal to
timm's own forward on the same weights, missing official weights named offline. ViT-S/14 random init (22M params)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.backbones import get_backbone
from bench.backbones.dinov2 import IMAGENET_MEAN, IMAGENET_STD
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def hub_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A random ViT-S/14 state dict in the official hub layout (518 px position embedding, a mask_token)."""
    import timm

    torch.manual_seed(0)
    sd = timm.create_model("vit_small_patch14_dinov2", pretrained=False).state_dict()
    sd = {k: v + 0.02 * torch.randn_like(v) if k.endswith("gamma") else v for k, v in sd.items()}  # layer scale off 1e-5
    sd["mask_token"] = torch.zeros(1, 384)
    path = tmp_path_factory.mktemp("dino") / "dinov2_vits14_pretrain.pth"
    torch.save(sd, path)
    return path, sd


def _images() -> torch.Tensor:
    return torch.randint(0, 256, (4, 3, 40, 60), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))


def test_preprocessing_is_dgm_eval_resize_and_imagenet_normalisation() -> None:
    import torchvision.transforms as T

    b = get_backbone("dinov2")
    ref = T.Compose([T.Resize((224, 224), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                     T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    theirs = torch.stack([ref(Image.fromarray(im)) for im in _images().permute(0, 2, 3, 1).numpy()])
    torch.testing.assert_close(b.preprocess(_images()), theirs, rtol=1e-6, atol=1e-6)


def test_hub_layout_loads_and_features_equal_timm(hub_weights: tuple[Path, dict[str, torch.Tensor]]) -> None:
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    path, sd = hub_weights
    b = get_backbone("dinov2:vit_small_patch14_dinov2", weights=str(path))
    ours = b.extract(_images())["cls"]
    assert tuple(b.net.pos_embed.shape) == (1, 257, 384)  # 37x37+1 resampled to the 16x16 grid of 224 px
    m = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=224, num_classes=0)
    m.load_state_dict(checkpoint_filter_fn({k: v for k, v in sd.items() if k != "mask_token"}, m))
    with torch.no_grad():
        tokens = m.forward_features(b.preprocess(_images()))
        theirs = tokens[:, 0].numpy()  # CLS token after the final norm
    assert ours.shape == (4, 384)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    assert float(np.abs(ours - ours.mean(0)).max()) > 1e-4  # images give distinct features


def test_missing_official_weights_named_offline(empty_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (msg,) = get_backbone("dinov2").check_weights()
    assert "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth" in msg
    assert str(empty_cache / "weights" / "dinov2_vitl14_pretrain.pth") in msg and "not pinned" in msg
    suite = tmp_path / "s.yaml"
    suite.write_text("models: {real: {adapter: dataset, args: {dataset: d}}}\n"
                     "datasets: {d: {kind: digits, split: test}}\n"
                     "tasks: [{name: a, reference: d, n: 10, protocol: fd-dinov2, metrics: [fid]}]\n")
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 0 and "warning" in err and "dinov2_vitl14_pretrain.pth" in err
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and "dinov2_vitl14_pretrain.pth" in err and not (tmp_path / "r").exists()
