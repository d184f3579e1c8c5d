"""open_clip sources offline: QuickGELU for OpenAI weights, clear errors naming the missing file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bench.adapters import AdapterContext, build_adapter

from bench.backbones.textimage import is_torchscript, quickgelu_name
from bench.errors import GenbenchError


def test_openai_weights_get_the_quickgelu_architecture(tmp_path: Path) -> None:
    assert quickgelu_name("ViT-B-32", openai_weights=True) == "ViT-B-32-quickgelu"
    assert quickgelu_name("ViT-B-32-quickgelu", openai_weights=True) == "ViT-B-32-quickgelu"
    assert quickgelu_name("ViT-B-32", openai_weights=False) == "ViT-B-32"
    ts = tmp_path / "ts.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(ts))  # OpenAI releases are TorchScript archives
    sd = tmp_path / "sd.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), sd)
    assert is_torchscript(ts) and not is_torchscript(sd)


def test_open_clip_missing_file_is_named(tmp_path: Path) -> None:
    ctx = AdapterContext(resolve_path=lambda p: tmp_path / p)
    with pytest.raises(GenbenchError, match=r"weights file .*ViT-B-32\.pt does not exist"):
        build_adapter("open-clip", {"model": "ViT-B-32@weights/ViT-B-32.pt"}, ctx)
    with pytest.raises(GenbenchError, match="use 'name@pretrained'"):
        build_adapter("open-clip", {"model": "ViT-B-32"}, ctx)


def test_clip_backbone_offline_error_names_url_and_path() -> None:
    from bench.backbones.textimage import OpenAIClipB32Backbone

    with pytest.raises(GenbenchError) as exc:
        OpenAIClipB32Backbone().load()
    msg = str(exc.value)
    assert "https://openaipublic.azureedge.net/clip/models/40d36571" in msg and "weights/clip-openai-ViT-B-32.pt" in msg
