"""``genbench selftest``: the shipped digits record reproduces here; a perturbed weight file fails in one line
naming the first layer whose output differs; another preprocessing is caught at ``preprocess``; the outcome
reaches a run's manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.backbones import get_backbone
from bench.backbones.digits import WEIGHTS_FILE, bundled_sha256
from bench.selftest import ASSETS, compute, inputs, manifest_record, read_record
from tests.conftest import run_cli


def _perturbed(tmp_path: Path, key: str, index: tuple[int, ...], delta: float) -> Path:
    sd = torch.load(WEIGHTS_FILE, map_location="cpu", weights_only=True)
    sd[key][index] += delta
    path = tmp_path / f"perturbed-{key}.pt"
    torch.save(sd, path)
    return path


def test_shipped_digits_record_is_reproduced(empty_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["selftest", "--protocol", "digits"], capsys)
    assert code == 0, err
    (line,) = out.splitlines()
    # bit for bit on the machine that recorded it; elsewhere float32 round-off may leave "within x"
    assert line.startswith("this machine reproduces protocol digits "), line
    # the record is what the shipped network computes on the shipped input, layer by layer
    meta, layers, _ = read_record(ASSETS / "digits.npz")
    feats, trace = compute(get_backbone("digits"), inputs()["digits"])
    assert trace.names == meta["trace"] == ["preprocess", "conv1", "conv2", "fc1", "fc2"]
    np.testing.assert_allclose(feats["pool"], layers["pool"], rtol=1e-5, atol=1e-6)
    assert meta["weights_sha256"] == bundled_sha256("digits_classifier.pt")


@pytest.mark.parametrize(("key", "index", "layer"), [("conv2.weight", (3, 0, 0, 0), "conv2"),
                                                       ("fc1.bias", (7,), "fc1")])
def test_perturbed_weights_fail_in_one_line_naming_the_first_differing_layer(
        tmp_path: Path, empty_cache: Path, capsys: pytest.CaptureFixture[str], key: str, index: tuple[int, ...],
        layer: str) -> None:
    w = _perturbed(tmp_path, key, index, 0.05)
    code, out, err = run_cli(["selftest", "--protocol", "digits", "--weights", str(w)], capsys)
    assert code == 1 and not err
    (line,) = out.splitlines()
    assert line.startswith("this machine does not reproduce protocol digits: ")
    assert f"the first layer whose output differs is '{layer}'" in line
    assert "is not the recorded 931d12a8ce29" in line  # and the file is named as not the recorded one


def test_round_off_sized_change_is_within_not_bit_equal(tmp_path: Path, empty_cache: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    w = _perturbed(tmp_path, "fc2.bias", (0,), 1e-6)
    code, out, _ = run_cli(["selftest", "--protocol", "digits", "--weights", str(w)], capsys)
    assert code == 0 and "reproduces protocol digits within " in out and "bit for bit" not in out


def test_another_preprocessing_is_named_at_preprocess(tmp_path: Path, empty_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from bench.backbones import digits

    monkeypatch.setattr(digits, "to_input", lambda images: digits.match_channels(images, 1).float() / 256.0)
    code, out, _ = run_cli(["selftest", "--protocol", "digits"], capsys)
    assert code == 1 and "the first layer whose output differs is 'preprocess'" in out


def test_record_round_trip_and_missing_record(tmp_path: Path, empty_cache: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["selftest", "--protocol", "digits", "--record", "--records", str(tmp_path)], capsys)
    assert code == 0 and (tmp_path / "digits.npz").is_file()
    code, out, _ = run_cli(["selftest", "--protocol", "digits", "--records", str(tmp_path)], capsys)
    assert code == 0 and "bit for bit" in out  # same machine, same process: the same bits
    code, _, err = run_cli(["selftest", "--protocol", "tf-compat", "--records", str(tmp_path)], capsys)
    assert code == 2 and "no self-test record" in err and "--record" in err and len(err.splitlines()) == 1
    (tmp_path / "clean.npz").write_bytes(b"not a record")
    code, _, err = run_cli(["selftest", "--protocol", "clean", "--records", str(tmp_path)], capsys)
    assert code == 2 and "not a genbench self-test record" in err and len(err.splitlines()) == 1


def test_manifest_records_the_outcome(tmp_path: Path, empty_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b = get_backbone("digits")
    b.resolve_weights()
    assert manifest_record({"digits": b}) == {}  # no self-test run yet: the manifest says nothing
    assert run_cli(["selftest", "--protocol", "digits"], capsys)[0] == 0
    rec = manifest_record({"digits": b})["selftest"]["digits"]
    assert rec["status"] in ("bit-equal", "within") and rec["line"].startswith("this machine reproduces")
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nseed: 0\ndatasets:\n  d: {kind: digits, split: train}\nmodels:\n"
                     "  noise: {adapter: noise, args: {shape: [1, 8, 8]}}\n"
                     "tasks:\n  - {name: u, reference: d, n: 150, metrics: {fid: {}}}\n")
    assert run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)[0] == 0
    (run,) = (tmp_path / "r" / "s").iterdir()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["selftest"]["digits"]["status"] == rec["status"]
