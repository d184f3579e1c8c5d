"""The shipped zoo translators: sha256-checked weights that still reach the quality their manifest records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.data import digits
from bench.errors import ConfigError, WeightsError
from bench.translation import measures, zoo
from bench.translation.data import edge_map, thick_strokes, thin_strokes


def test_manifest_quality_is_reproduced() -> None:
    man = zoo.manifest()
    x, _ = digits.load("test")
    seeds = list(range(len(x)))
    p2p = zoo.load_zoo("pix2pix-edges")
    q = man["pix2pix_edges.pt"]["quality"]
    assert round(float(measures.l1(p2p.translate(edge_map(x), "a2b", seeds), x).mean()), 4) == q["a2b"]["test_l1"]
    assert round(float(measures.l1(p2p.translate(x, "b2a", seeds), edge_map(x)).mean()), 4) == q["b2a"]["test_l1"]
    cyc = zoo.load_zoo("cyclegan-strokes")
    q = man["cyclegan_strokes.pt"]["quality"]
    got = float(measures.l1(cyc.translate(thin_strokes(x), "a2b", seeds), thick_strokes(x)).mean())
    assert round(got, 4) == q["a2b"]["test_l1_to_synthetic_truth"] < q["a2b"]["identity_baseline_l1"] / 2


def test_unknown_name_and_tampered_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="did you mean 'pix2pix-edges'"):
        zoo.load_zoo("pix2pix-edge")
    fake = tmp_path / "translation"
    shutil.copytree(zoo.ASSETS, fake)
    with open(fake / "cyclegan_strokes.pt", "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(zoo, "ASSETS", fake)
    monkeypatch.setattr(zoo, "MANIFEST", fake / "MANIFEST.json")
    with pytest.raises(WeightsError, match="does not match"):
        zoo.load_zoo("cyclegan-strokes")
