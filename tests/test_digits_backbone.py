"""The shipped digits feature network: its recorded sha256 and the test accuracy its training script printed."""

from __future__ import annotations

import json

from bench.backbones.digits import MANIFEST_FILE, WEIGHTS_FILE, DigitsBackbone, DigitsNet, to_input
from bench.data import digits
from bench.weights import sha256_file


def test_shipped_weights_reach_recorded_accuracy() -> None:
    meta = json.loads(MANIFEST_FILE.read_text())["digits_classifier.pt"]
    assert sha256_file(WEIGHTS_FILE) == meta["sha256"]
    b = DigitsBackbone()
    b.load()
    x, y = digits.load("test")
    acc = float((b.net(to_input(x)).argmax(1) == y).float().mean())
    assert acc >= meta["test_accuracy"] - 1e-9
    assert acc >= 0.97


def test_digits_split_is_fixed_and_disjoint() -> None:
    (xtr, ytr), (xte, _yte) = digits.load("train"), digits.load("test")
    assert xtr.shape == (1200, 1, 8, 8) and xte.shape == (597, 1, 8, 8)
    assert int(xtr.max()) == 255 and xtr.dtype.is_floating_point is False
    assert sorted(set(ytr.tolist())) == list(range(10))
    tr = {bytes(a.numpy().tobytes()) for a in xtr}
    # the digits data set holds a few exact duplicate images; the split itself is by index
    assert sum(bytes(a.numpy().tobytes()) in tr for a in xte) < 10


def test_rgb_and_larger_inputs_are_converted_explicitly() -> None:
    x, _ = digits.load("test")
    rgb = x[:4].expand(-1, 3, -1, -1)
    assert (to_input(rgb) == to_input(x[:4])).all()
    big = x[:4].repeat_interleave(4, 2).repeat_interleave(4, 3)
    assert to_input(big).shape == (4, 1, 8, 8)
    assert DigitsNet()(to_input(big)).shape == (4, 10)
