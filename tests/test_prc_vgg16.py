"""Precision/recall on torch-fidelity's default network (VGG16 fc2_relu) vs on the Inception pool (ADM's choice):
both offered, named apart, each equal to its reference on the same files and random weights in the real formats
(torchvision's vgg16 state dict; torch-fidelity's Inception .pth)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.parity import random_inception_state_dict, write_image_folders
from bench.results import RunDir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torchvision

    root = tmp_path_factory.mktemp("prc")
    gen, real = write_image_folders(root, n=12, size=32)
    torch.manual_seed(0)
    vgg = root / "vgg16-397923af.pth"  # torchvision's file name and format, random init (not the published bytes)
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), vgg)
    inc = root / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(random_inception_state_dict(), inc)
    return {"gen": gen, "real": real, "vgg": vgg, "inception": inc, "root": root}


def test_both_precision_recalls_match_torch_fidelity(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    import torch_fidelity

    from bench.cli import main

    suite = files["root"] / "prc.yaml"
    suite.write_text(f"""
name: prc-both
datasets:
  real: {{kind: folder, path: {files['real']}}}
models:
  gen: {{adapter: folder, args: {{path: {files['gen']}}}}}
tasks:
  - name: t
    reference: real
    n: 12
    protocol: tf-compat
    weights: {files['inception']}
    metrics:
      prc: {{}}
      prc_vgg16: {{weights: {files['vgg']}}}
output: {{grid: 0}}
""")
    out = files["root"] / "out"
    assert main(["run", str(suite), "--out", str(out), "--quiet", "--no-cache"]) == 0
    (run_dir,) = (out / "prc-both").iterdir()
    rows = {r["metric"]: r for r in RunDir(run_dir).rows()}
    assert rows["precision"]["protocol"]["backbone"] == "inception-v3-compat"
    assert rows["precision_vgg16"]["protocol"]["backbone"] == "vgg16-fidelity"
    # torch-fidelity's defaults: prc on VGG16 (its calculate_metrics with no feature_extractor named)
    tf_vgg = torch_fidelity.calculate_metrics(input1=str(files["gen"]), input2=str(files["real"]), prc=True, cuda=False,
                                              verbose=False, feature_extractor_weights_path=str(files["vgg"]))
    tf_inc = torch_fidelity.calculate_metrics(input1=str(files["gen"]), input2=str(files["real"]), prc=True, cuda=False,
                                              verbose=False, feature_extractor="inception-v3-compat",
                                              feature_extractor_weights_path=str(files["inception"]))
    for name in ("precision", "recall", "f_score"):
        assert rows[f"{name}_vgg16"]["value"] == pytest.approx(tf_vgg[name], abs=1e-12), name
        assert rows[name]["value"] == pytest.approx(tf_inc[name], abs=1e-12), name
    # the two networks really give different manifolds here (or the test would prove little)
    assert (rows["precision"]["value"], rows["recall"]["value"]) != (rows["precision_vgg16"]["value"],
                                                                    rows["recall_vgg16"]["value"])
