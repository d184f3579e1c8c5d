"""The Inception backbones' CPU batch size (``cpu_batch_size``) and the CPU allocator tuning change where time and
memory go, never the features: genbench's exact forward in pieces of 4 equals torch-fidelity's own forward of the
whole batch. Random-init weights in torch-fidelity's real file format (bench.parity), 10 PNGs of 32x32 (pieces of
4, 4 and 2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.backbones import get_backbone
from bench.images import load_folder
from bench.parity import write_image_folders, write_random_weights
from bench.runtime import tune_cpu_allocator


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cpu-batch")
    w = write_random_weights(root / "weights")
    a, _ = write_image_folders(root / "ab", n=10, seed=3)
    return {"pth": w["pth"], "a": a}


def test_cpu_forward_pieces_are_small_and_other_devices_keep_the_batch_size(files: dict[str, Path]) -> None:
    images = torch.zeros(10, 3, 32, 32, dtype=torch.uint8)
    for name in ("inception-v3-compat", "inception-v3-adm", "inception-v3-tm-antialias"):
        cpu = get_backbone(name, weights=str(files["pth"]))
        assert cpu.forward_rows(images) == 4
        gpu = get_backbone(name, weights=str(files["pth"]), device="cuda")  # only a device name: nothing runs
        assert gpu.forward_rows(images) == gpu.batch_size == 32
    digits = get_backbone("digits")
    assert digits.cpu_batch_size is None and digits.forward_rows(images) == digits.batch_size


def test_exact_features_in_cpu_pieces_equal_torch_fidelitys_whole_batch(files: dict[str, Path]) -> None:
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    images = load_folder(files["a"])
    ref = FeatureExtractorInceptionV3("ref", ["2048", "logits_unbiased"],
                                      feature_extractor_weights_path=str(files["pth"])).eval()
    with torch.no_grad():
        pool, logits = ref(images)  # one call of 10
    tune_cpu_allocator()
    tune_cpu_allocator()  # idempotent
    ours = get_backbone("inception-v3-compat", weights=str(files["pth"])).extract(images)  # calls of 4, 4, 2
    # the convolutions compute each image alone: the same bits whatever the batch
    np.testing.assert_array_equal(ours["pool"], pool.numpy())
    # the logits are one matrix product of the batch's rows: a BLAS may block 2 rows differently from 10 (last bit)
    rel = np.abs(ours["logits"] - logits.numpy()).max() / np.abs(logits.numpy()).max()
    assert rel < 1e-6
