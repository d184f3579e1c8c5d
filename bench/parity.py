"""Parity with the reference tools, offline: random-init weights written in each real file format, the same
image folders fed to genbench and to the tool, and the numbers compared.

Why random weights: the published files cannot be downloaded in CI, and parity is a property of the pipeline
(resize, normalisation, layer, statistics), not of the weight values. The files are written in the formats
the tools read: a torch-fidelity/pytorch-fid ``state_dict`` ``.pth`` and a TorchScript ``.pt`` with the
``layers`` submodule and ``forward(x, return_features)`` that clean-fid calls. The TorchScript trunk reuses
the same random Inception, so every protocol runs the same network and differs only in preprocessing.

Used by ``tests/test_parity_inception.py`` (assertions) and ``scripts/parity_table.py`` (docs/parity.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bench.backbones import get_backbone
from bench.images import load_folder
from bench.metrics.base import on_features
from bench.metrics.distribution import FID, KID, InceptionScore, PrecisionRecall

#: torch-fidelity's default rng seed for KID subsets and IS shuffling
TF_SEED = 2020
#: BN running variance of the random weights: chosen so 2048-d pool features are O(1) (neither vanish nor explode)
RUNNING_VAR = 0.15


def random_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded random state dict in torch-fidelity's (= pytorch-fid's) Inception layout.

    Default init makes activations shrink towards zero through 90+ layers; BN running statistics are set so that
    features keep a useful spread (otherwise FID would be ~1e-10 and relative tolerances meaningless).
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    torch.manual_seed(seed)
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, strict=True: None), \
            mock.patch("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: None):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    g = torch.Generator().manual_seed(seed)
    sd = net.state_dict()
    for k, v in sd.items():
        if k.endswith("running_var"):
            sd[k] = torch.full_like(v, RUNNING_VAR)
        elif k.endswith("running_mean"):
            sd[k] = torch.zeros_like(v)
        elif k.endswith("bn.weight"):
            sd[k] = torch.ones_like(v)
        elif k.endswith("bn.bias"):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
        elif k == "fc.weight":
            sd[k] = 0.05 * torch.randn(v.shape, generator=g)
    return {k: v.clone() for k, v in sd.items()}


class _Trunk(torch.nn.Module):
    """torch-fidelity's Inception up to the 2048-d pool, on normalised 299x299 input ([N, 2048, 1, 1] out)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                     "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                     "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool"):
            x = getattr(n, name)(x)
        return x


class _TorchScriptInception(torch.nn.Module):
    """The interface of StyleGAN2-ADA's inception-2015-12-05.pt as clean-fid uses it."""

    def __init__(self, layers: torch.nn.Module) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = img.to(torch.float32)
        if x.shape[2] != 299 or x.shape[3] != 299:
            x = F.interpolate(x, size=[299, 299], mode="bilinear", align_corners=False)
        x = (x - 128.0) / 128.0
        return self.layers(x).reshape(x.shape[0], 2048)


def write_random_weights(folder: Path, seed: int = 0) -> dict[str, Path]:
    """Write ``weights-inception-...pth`` (state dict) and ``inception-2015-12-05.pt`` (TorchScript) into folder."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    folder.mkdir(parents=True, exist_ok=True)
    sd = random_inception_state_dict(seed)
    pth = folder / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(sd, pth)
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(pth))
    trunk = torch.jit.trace(_Trunk(net).eval(), torch.zeros(1, 3, 299, 299))
    scripted = torch.jit.script(_TorchScriptInception(trunk).eval())
    pt = folder / "inception-2015-12-05.pt"
    scripted.save(str(pt))
    return {"pth": pth, "torchscript": pt}


def write_image_folders(root: Path, n: int = 12, size: int = 32, seed: int = 0) -> tuple[Path, Path]:
    """Two folders of RGB PNGs from different distributions: smooth colour blobs vs. noisier, darker ones."""
    rng = np.random.default_rng(seed)
    dirs = (root / "gen", root / "real")
    yy, xx = np.mgrid[0:size, 0:size] / size
    for k, d in enumerate(dirs):
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cx, cy, r = rng.uniform(0.2, 0.8, 3)
            blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.05 + 0.1 * r))
            col = rng.uniform(0, 255, 3) * (0.6 if k else 1.0)
            img = blob[..., None] * col + rng.normal(0, 8 + 30 * k, (size, size, 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"{i:03d}.png")
    return dirs


@contextlib.contextmanager
def clean_fid_pointed_at(torchscript: Path, pth: Path) -> Iterator[None]:
    """Make clean-fid read our files: its TorchScript folder (hard-coded /tmp) and pytorch-fid's URL fetch."""
    import cleanfid.features as cf
    import cleanfid.inception_pytorch as ip
    from cleanfid.inception_torchscript import InceptionV3W

    def w(path: str, download: bool = True, resize_inside: bool = False) -> InceptionV3W:
        return InceptionV3W(str(torchscript.parent), download=False, resize_inside=resize_inside)

    with mock.patch.object(cf, "InceptionV3W", w), \
            mock.patch.object(ip, "load_state_dict_from_url", lambda *a, **k: torch.load(pth, weights_only=True)):
        yield


@dataclass
class ParityRow:
    protocol: str
    anchor: str
    metric: str
    ours: float
    theirs: float

    @property
    def rel_diff(self) -> float:
        return abs(self.ours - self.theirs) / max(abs(self.theirs), 1e-30)


def _num(v: float | None) -> float:
    assert v is not None
    return float(v)


def ours(backbone: str, weights: Path, gen_dir: Path, real_dir: Path, *, kid_subset: int, isc_splits: int) -> dict[str, float]:
    """genbench's values for one backbone on two folders (gen first, real second, as torch-fidelity)."""
    import os

    from bench.weights import ENV_TRUST_CODE

    b = get_backbone(backbone, weights=str(weights))
    # the random TorchScript Inception is code this module wrote itself: named as trusted for this call only
    before = os.environ.get(ENV_TRUST_CODE)
    os.environ[ENV_TRUST_CODE] = str(weights)
    try:
        g, r = b.extract(load_folder(gen_dir)), b.extract(load_folder(real_dir))
    finally:
        if before is None:
            del os.environ[ENV_TRUST_CODE]
        else:
            os.environ[ENV_TRUST_CODE] = before
    out: dict[str, float] = {"fid": _num(on_features(FID(), g, r, layer="pool", seed=0)[0].value)}
    if b.logits_layer:
        out["kid"] = _num(on_features(KID({"subsets": 100, "subset_size": kid_subset}), g, r, layer="pool", seed=TF_SEED)[0].value)
        out["isc"] = _num(on_features(InceptionScore({"splits": isc_splits}), g, None, layer="logits", seed=TF_SEED)[0].value)
        pr = on_features(PrecisionRecall(), g, r, layer="pool", seed=0)
        out.update({v.metric: _num(v.value) for v in pr if v.metric in ("precision", "recall")})
    return out


def torch_fidelity_values(weights: Path, gen_dir: Path, real_dir: Path, *, kid_subset: int, isc_splits: int) -> dict[str, float]:
    import torch_fidelity

    m = torch_fidelity.calculate_metrics(
        # feature_extractor named: torch-fidelity's default PRC network is VGG16, not Inception
        input1=str(gen_dir), input2=str(real_dir), cuda=False, feature_extractor="inception-v3-compat", fid=True, kid=True, isc=True, prc=True,
        kid_subset_size=kid_subset, isc_splits=isc_splits, feature_extractor_weights_path=str(weights),
        cache=False, verbose=False, save_cpu_ram=True,
    )
    return {"fid": m["frechet_inception_distance"], "kid": m["kernel_inception_distance_mean"],
            "isc": m["inception_score_mean"], "precision": m["precision"], "recall": m["recall"]}


def clean_fid_value(mode: str, files: dict[str, Path], gen_dir: Path, real_dir: Path) -> float:
    from cleanfid import fid as cfid

    with clean_fid_pointed_at(files["torchscript"], files["pth"]):
        return float(cfid.compute_fid(str(gen_dir), str(real_dir), mode=mode, device=torch.device("cpu"), num_workers=0,
                                      batch_size=16, verbose=False, use_dataparallel=False))


def torchmetrics_fid(weights: Path, gen_dir: Path, real_dir: Path) -> float:
    from torchmetrics.image.fid import FrechetInceptionDistance

    from bench.backbones.inception import _safe_torch_load

    with _safe_torch_load():
        m = FrechetInceptionDistance(feature=2048, feature_extractor_weights_path=str(weights))
    m.update(load_folder(real_dir), real=True)
    m.update(load_folder(gen_dir), real=False)
    return float(m.compute())


def parity_rows(workdir: Path, n: int = 12) -> list[ParityRow]:
    """Every protocol against its anchor tool (the whole table of docs/parity.md)."""
    files = write_random_weights(workdir / "weights")
    gen_dir, real_dir = write_image_folders(workdir / "images", n=n)
    kw: dict[str, Any] = {"kid_subset": n, "isc_splits": 2}
    rows: list[ParityRow] = []
    o = ours("inception-v3-compat", files["pth"], gen_dir, real_dir, **kw)
    t = torch_fidelity_values(files["pth"], gen_dir, real_dir, **kw)
    rows += [ParityRow("tf-compat", "torch-fidelity 0.4.0 calculate_metrics", k, o[k], t[k]) for k in t]
    for proto, backbone, mode, wkey in (("clean", "inception-v3-clean", "clean", "torchscript"),
                                         ("legacy-tf", "inception-v3-legacy-tf", "legacy_tensorflow", "torchscript"),
                                         ("legacy-pytorch", "inception-v3-legacy-pytorch", "legacy_pytorch", "pth")):
        o = ours(backbone, files[wkey], gen_dir, real_dir, **kw)
        rows.append(ParityRow(proto, f"clean-fid 0.1.35 compute_fid(mode={mode})", "fid", o["fid"],
                              clean_fid_value(mode, files, gen_dir, real_dir)))
    o = ours("inception-v3-tm-antialias", files["pth"], gen_dir, real_dir, **kw)
    rows.append(ParityRow("tm-antialias", "torchmetrics 1.9.0 FrechetInceptionDistance()", "fid", o["fid"],
                          torchmetrics_fid(files["pth"], gen_dir, real_dir)))
    return rows
