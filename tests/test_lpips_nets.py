"""LPIPS nets with trunk weights resolved by bench.weights: equal to lpips' own construction on the same trunk."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.backbones.lpips_nets import NETS, load_lpips, sha256_prefix
from bench.errors import WeightsError


def test_squeeze_equals_lpips_own_construction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lpips
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.squeezenet1_1(weights=None)
    path = tmp_path / "squeezenet1_1-b8a52dc0.pth"
    torch.save(tv.state_dict(), path)  # the real torchvision layout (features.* and classifier.*)
    ours = load_lpips("squeeze", weights=str(path))
    # lpips building its trunk from torchvision's constructor, handed the same network
    monkeypatch.setattr(lpips.pretrained_networks.tv, "squeezenet1_1", lambda pretrained=True, **k: tv)
    theirs = lpips.LPIPS(net="squeeze", verbose=False).eval()
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 3, 64, 64, generator=g) * 2 - 1, torch.rand(3, 3, 64, 64, generator=g) * 2 - 1
    with torch.no_grad():
        d_ours, d_theirs = ours(a, b).flatten(), theirs(a, b).flatten()
    torch.testing.assert_close(d_ours, d_theirs, rtol=1e-6, atol=1e-7)
    assert float(d_ours.min()) > 0


def test_torchvision_files_and_offline_error(empty_cache: Path) -> None:
    assert [sha256_prefix(w) for _, w in NETS.values()] == ["7be5be79", "397923af", "b8a52dc0"]
    assert NETS["alex"][1].url == "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
    with pytest.raises(WeightsError, match=str(empty_cache / "weights" / "alexnet-owt-7be5be79.pth")):
        load_lpips("alex")
    (empty_cache / "weights").mkdir(parents=True)
    torch.save({}, empty_cache / "weights" / "vgg16-397923af.pth")
    with pytest.raises(WeightsError, match="does not match the published 397923af"):
        load_lpips("vgg")
