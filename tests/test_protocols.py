"""Protocol presets, refusal to compare across protocols, weights manifest and missing-weights reporting (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.backbones import BACKBONES
from bench.cli import main
from bench.errors import ConfigError, ProtocolMismatchError
from bench.plan import check_suite
from bench.protocol import PRESETS, get_preset, require_same_protocol
from bench.suite import load_suite


def test_every_preset_names_a_registered_backbone() -> None:
    for p in PRESETS.values():
        assert p.backbone in BACKBONES


def test_unknown_presets_are_refused() -> None:
    assert get_preset("fd-dinov2").backbone == "dinov2" and get_preset("clip-fd").backbone == "clip"
    with pytest.raises(ConfigError, match="did you mean 'tf-compat'"):
        get_preset("tf-compt")


def test_comparing_across_protocols_is_refused() -> None:
    a = {"name": "tf-compat", "backbone": "inception-v3-compat", "n": 50000, "layer": "pool"}
    b = {"name": "clean", "backbone": "inception-v3-clean", "n": 50000, "layer": "pool"}
    require_same_protocol(a, dict(a, layer="logits"))  # the layer is fixed per metric, not part of the protocol
    with pytest.raises(ProtocolMismatchError, match="name: tf-compat vs clean"):
        require_same_protocol(a, b)


def test_missing_weights_fail_validation_naming_url_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "models: {real: {adapter: dataset, args: {dataset: d}}}\n"
        "datasets: {d: {kind: digits, split: test}}\n"
        "tasks:\n"
        "  - {name: a, reference: d, n: 10, protocol: tf-compat, metrics: [fid]}\n"
        "  - {name: b, reference: d, n: 10, protocol: clean, metrics: [fid]}\n")
    with pytest.raises(ConfigError) as e:
        check_suite(load_suite(suite))
    msg = str(e.value)
    assert "torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth" in msg
    assert str(tmp_path / "cache" / "weights" / "weights-inception-2015-12-05-6726825d.pth") in msg
    assert str(tmp_path / "cache" / "weights" / "inception-2015-12-05.pt") in msg


def test_protocol_contradicting_backbone_is_a_config_error(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "models: {real: {adapter: dataset, args: {dataset: d}}}\n"
        "datasets: {d: {kind: digits, split: test}}\n"
        "tasks: [{name: a, reference: d, n: 10, protocol: clean, backbone: digits, metrics: [fid]}]\n")
    with pytest.raises(ConfigError, match="contradicts protocol 'clean'"):
        check_suite(load_suite(suite), check_weights=False)


def test_weights_cli_list_path_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path))
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2" in out and "[missing]" in out
    assert main(["weights", "path", "inception-torchscript"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "weights" / "inception-2015-12-05.pt")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "weights-inception-2015-12-05-6726825d.pth").write_bytes(b"not the weights")
    assert main(["weights", "verify", "inception-v3-compat"]) == 2
    assert "MISMATCH" in capsys.readouterr().out
