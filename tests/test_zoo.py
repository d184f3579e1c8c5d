"""The digits zoo: shipped weights verify, the digits suite ranks models as their construction predicts, the
conditional task refuses unconditional models, PPL is finite exactly where a latent space exists, and a training
script reproduces the quality its manifest records."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from bench import zoo
from bench.errors import WeightsError
from bench.results import RunDir
from bench.retrain import reproduce
from bench.weights import sha256_file
from tests.conftest import ROOT, run_cli

ZOO_NAMES = {"vae", "gan", "dcgan", "cgan", "ddpm", "collapsed-gan"}
AUTOENCODERS = {"vqvae"}  # autoencoders without a prior: not generators (adapter zoo-autoencoder)
LATENT_MODELS = ["vae", "gan", "dcgan", "cgan", "ddpm", "collapsed-gan"]


def test_shipped_weights_verify_against_manifest() -> None:
    m = zoo.manifest()
    assert set(m) == ZOO_NAMES | AUTOENCODERS
    for name, e in m.items():
        path = zoo.ZOO_DIR / e["file"]
        assert sha256_file(path) == e["sha256"], name
        assert path.stat().st_size < 1_000_000, name
        net = zoo.load(name)
        assert e["trained_by"].startswith("scripts/zoo/") and not net.training
        if name in AUTOENCODERS:
            assert not net.generator and "rfid_test" in e["quality"] and 0 < e["quality"]["codebook_usage"] <= 1
        else:
            assert net.generator and net.latent_dim > 0 and "fid_test" in e["quality"]


def test_tampered_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(zoo.ZOO_DIR, tmp_path / "zoo")
    p = tmp_path / "zoo" / "gan.pt"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensor data
    p.write_bytes(bytes(data))
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp_path / "zoo")
    zoo._load.cache_clear()
    with pytest.raises(WeightsError, match="does not match"):
        zoo.load("gan")
    zoo._load.cache_clear()


def test_collapsed_gan_really_collapsed() -> None:
    m = zoo.manifest()
    col, dc = m["collapsed-gan"]["quality"], m["dcgan"]["quality"]
    assert col["pixel_diversity_ratio"] < 0.5 * dc["pixel_diversity_ratio"]
    assert col["classes_covered"] <= 3 < dc["classes_covered"]


def test_zoo_adapter_is_batch_size_invariant() -> None:
    from bench.adapters import GenerationRequest, build_adapter

    a = build_adapter("zoo", {"name": "cgan"}, None)  # type: ignore[arg-type]
    seeds, classes = list(range(100, 110)), [i % 10 for i in range(10)]
    whole = a.generate(GenerationRequest(range(10), seeds, classes))  # type: ignore[attr-defined]
    parts = torch.cat([a.generate(GenerationRequest(range(s, s + 5), seeds[s:s + 5], classes[s:s + 5]))  # type: ignore[attr-defined]
                       for s in (0, 5)])
    assert whole.dtype == torch.uint8 and whole.shape == (10, 1, 8, 8)
    assert torch.equal(whole, parts)


def test_unconditional_model_in_conditional_task_is_refused(write_suite, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_suite("""
datasets: {train: {kind: digits, split: train}}
models:
  dcgan: {adapter: zoo, args: {name: dcgan}}
  cgan: {adapter: zoo, args: {name: cgan}}
tasks:
  - {name: cond, reference: train, n: 20, args: {classes: 10}, models: [cgan, dcgan], metrics: [cond_acc]}
""")
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2
    assert "tasks.0.models.1: model 'dcgan' is unconditional" in err
    assert "Traceback" not in err


def test_unknown_zoo_name_is_one_clear_line(write_suite, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_suite("""
datasets: {train: {kind: digits, split: train}}
models: {m: {adapter: zoo, args: {name: dcgna}}}
tasks: [{name: t, reference: train, n: 20, metrics: [fid]}]
""")
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2 and "unknown zoo model 'dcgna'; did you mean 'dcgan'?" in err


@pytest.fixture(scope="module")
def digits_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    from bench.cli import main

    out = tmp_path_factory.mktemp("results")
    assert main(["run", str(ROOT / "suites/digits.yaml"), "--out", str(out), "--quiet", "--no-cache"]) == 0
    (run,) = sorted((out / "digits").iterdir())
    return list(RunDir(run).rows())


@pytest.fixture(scope="module")
def digits_run(digits_rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], float | None]:
    return {(r["task"], r["model"], r["metric"]): r["value"] for r in digits_rows}


@pytest.mark.slow
def test_digits_leaderboard_flags_pathologies_and_ranks_the_rest(digits_rows: list[dict[str, Any]]) -> None:
    """The leaderboard as the issue asks: held-out real best on FID, noise worst; the copier flagged by
    memorization although its FID is the lowest of all, mode-drop and the collapsed GAN flagged by coverage and
    diversity although mode-drop's precision is high. Flagged models are listed with their values, unranked."""
    from bench.tables import leaderboards, to_markdown

    lb = next(t for t in leaderboards(digits_rows) if t["task"] == "unconditional")
    flags = lb["flags"]
    assert set(flags) == {"copier", "collapsed-gan", "mode-drop"}, flags
    assert flags["copier"] == ["memorizes training data (near-copies 100%)"]
    assert any(f.startswith("mode collapse") for f in flags["collapsed-gan"])
    assert flags["mode-drop"] == ["drops modes (class coverage 0.3)"]
    fid = lb["numeric"]["fid"]
    ranked = [m for m in lb["numeric"].index if m not in flags]
    assert lb["best"]["fid"] == {"heldout-real"}
    assert fid[ranked].idxmax() == "noise"
    assert fid.idxmin() == "copier"  # the value is shown: FID alone would have crowned the copier
    assert list(lb["numeric"].index[-3:]) == [m for m in lb["numeric"].index if m in flags]  # listed last
    assert all(pd.isna(lb["win_rate"][m]) for m in flags)
    md = to_markdown(digits_rows)
    assert "flags (not ranked)" in md and "memorizes training data (near-copies 100%)" in md


@pytest.mark.slow
def test_digits_suite_orderings(digits_run: dict[tuple[str, str, str], float | None]) -> None:
    v = digits_run
    fid = {m: val for (t, m, k), val in v.items() if t == "unconditional" and k == "fid"}
    # noise is the worst of every model that covers the data; the collapsed GAN is worse still: on the digits
    # features even real images of one or two classes score a worse FID than noise (see train_collapsed_gan.py)
    assert max((m for m in fid if m != "collapsed-gan"), key=fid.get) == "noise"  # type: ignore[arg-type]
    assert fid["collapsed-gan"] > fid["dcgan"]
    # held-out real beats every model that does not copy the reference itself
    others = {m: f for m, f in fid.items() if m not in ("heldout-real", "copier")}
    assert fid["heldout-real"] < min(others.values())
    assert fid["copier"] < fid["heldout-real"]  # memorization looks "better than real" to FID
    rec = {m: val for (t, m, k), val in v.items() if t == "unconditional" and k == "recall"}
    assert rec["collapsed-gan"] < 0.5 * rec["dcgan"]
    assert rec["mode-drop"] < rec["heldout-real"]
    assert fid["blurred-real"] > fid["heldout-real"]
    # mode dropping and collapse are flagged by coverage and the LPIPS-diversity ratio (mode-drop keeps a high
    # precision); the copier by memorization while its FID is the best of all
    u = {(m, k): val for (t, m, k), val in v.items() if t == "unconditional"}
    assert u[("mode-drop", "precision")] > 0.9
    for m in ("mode-drop", "collapsed-gan"):
        assert u[(m, "coverage")] < 0.5 * u[("heldout-real", "coverage")], m
        assert u[(m, "perceptual_diversity_digits_ratio")] < 0.9 < u[("heldout-real", "perceptual_diversity_digits_ratio")], m
        assert u[(m, "class_coverage")] < 0.5, m
    assert u[("copier", "near_copy_fraction")] > 0.9
    assert all(u[(m, "near_copy_fraction")] < 0.2 for m in fid if m != "copier")
    # class-conditional task: the cGAN honours its labels; real images of the class are the ceiling
    assert v[("conditional", "cgan", "cond_acc")] > 0.8  # type: ignore[operator]
    assert v[("conditional", "heldout-real", "cond_acc")] > 0.95  # type: ignore[operator]
    assert v[("conditional", "heldout-real", "intra_fid")] < v[("conditional", "cgan", "intra_fid")]  # type: ignore[operator]
    # PPL: finite for every latent model, unavailable (None) where there is no latent space
    for m in LATENT_MODELS:
        ppl = v[("unconditional", m, "ppl")]
        assert ppl is not None and math.isfinite(ppl) and ppl > 0, m
    for m in ("heldout-real", "noise", "copier"):
        assert v[("unconditional", m, "ppl")] is None


@pytest.mark.retrain
def test_training_script_reproduces_manifest_quality(tmp_path: Path) -> None:
    """Same bytes under the versions the manifest records; the same quality within the band under others."""
    e = zoo.entry("gan")
    out = tmp_path / "gan.pt"
    r = reproduce(ROOT / "scripts/zoo/train_gan.py", ["--steps", str(e["steps"])], out, e, cwd=ROOT, timeout=600)
    assert r.ok, r.describe()


@pytest.mark.retrain
def test_vqvae_training_script_reproduces_manifest_quality(tmp_path: Path) -> None:
    """The VQ-VAE's script (about 45 s on one core) gives the shipped bytes under the recorded versions, or its
    rFID, PSNR and codebook figures within the band elsewhere."""
    e = zoo.entry("vqvae")
    r = reproduce(ROOT / "scripts/zoo/train_vqvae.py", ["--steps", str(e["steps"])], tmp_path / "vqvae.pt", e, cwd=ROOT,
                  timeout=600)
    assert r.ok, r.describe()


def test_conditional_metrics_and_ppl_report_unavailable_instead_of_crashing() -> None:
    import numpy as np

    from bench.metrics.base import on_features
    from bench.metrics.conditional import ClassAccuracy, IntraClassFID
    from bench.metrics.ppl import PPL

    feats = {"pool": np.zeros((4, 128), np.float32), "logits": np.eye(4, 10, dtype=np.float32)}
    for metric in (ClassAccuracy(), IntraClassFID()):
        (v,) = on_features(metric, feats, feats, layer="pool")
        assert v.value is None and "class-conditional task" in v.extras["reason"]
    (v,) = on_features(ClassAccuracy(), feats, None, layer="logits", classes=np.array([0, 1, 2, 0]))
    assert v.value == 0.75  # sample 3 was asked for class 0 and classified as 3
    (v,) = on_features(PPL(), feats, None, layer="pool", model=object())
    assert v.value is None and "latent" in v.extras["reason"]


def test_ppl_is_seeded_and_orders_smooth_below_rough() -> None:
    from bench.adapters import build_adapter

    from bench.backbones.digits import DigitsBackbone
    from bench.metrics.base import Reference, SampleSet
    from bench.metrics.ppl import PPL

    backbone = DigitsBackbone()
    backbone.load()
    ppl = PPL({"samples": 50})
    vals = {}
    for name in ("cgan", "gan"):
        samples = SampleSet(model=build_adapter("zoo", {"name": name}, None), backbone=backbone, layer="pool")  # type: ignore[arg-type]
        a = ppl.compute(samples, Reference(), seed=7)[0].value
        b = ppl.compute(samples, Reference(), seed=7)[0].value
        assert a == b and a is not None and math.isfinite(a)
        vals[name] = a
    assert vals["cgan"] < vals["gan"]  # as in the digits suite: the cGAN's latent space is the smoother
