"""Translation through the CLI: `score pairs`, `score cycle`, translator sources, and bad inputs (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.adapters.translators import gaussian_blur
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from bench.data import digits
from bench.images import save_png
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor, torch.Tensor]:
    """gt/ (30 digits), out/ (their blurred versions, as .jpg-free PNGs), rec/ (same as out)."""
    d = tmp_path_factory.mktemp("pairs")
    x, _ = digits.load("test")
    gt, out = x[:30], gaussian_blur(x[:30], 0.6)
    for sub in ("gt", "out", "rec"):
        (d / sub).mkdir()
    for i in range(30):
        save_png(gt[i], d / "gt" / f"im{i:02d}.png")
        save_png(out[i], d / "out" / f"im{i:02d}.png")
        save_png(out[i], d / "rec" / f"im{i:02d}.png")
    return d, out, gt


def test_score_pairs_equals_references(folders, capsys) -> None:
    d, out, gt = folders
    code, stdout, err = run_cli(["score", "pairs", str(d / "out"), str(d / "gt"), "--json", "--net", "digits"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    m = res["metrics"]
    assert res["n"] == 30 and set(m) == {"l1", "psnr", "ssim", "perceptual_digits"}
    psnr = peak_signal_noise_ratio(out.double(), gt.double(), data_range=255.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(out.double(), gt.double(), data_range=255.0, reduction="none")
    assert m["psnr"]["value"] == pytest.approx(float(psnr.mean()), rel=1e-7)
    assert m["ssim"]["value"] == pytest.approx(float(ssim.mean()), abs=1e-6)  # float32 SSIM, see test_translation_measures
    assert m["l1"]["value"] == pytest.approx(float((out.double() - gt.double()).abs().mean() / 255), rel=1e-12)
    assert m["l1"]["higher_is_better"] is False and m["psnr"]["higher_is_better"] is True
    assert m["l1"]["ci_low"] < m["l1"]["value"] < m["l1"]["ci_high"]
    assert [r["name"] for r in res["per_image"]] == [f"im{i:02d}" for i in range(30)]
    np.testing.assert_allclose([r["ssim"] for r in res["per_image"]], ssim.numpy(), atol=1e-6)


def test_score_pairs_flags_and_table(folders, capsys) -> None:
    d, _, _ = folders
    code, stdout, _ = run_cli(["score", "pairs", str(d / "gt"), str(d / "gt"), "--l1", "--psnr", "--ms-ssim"], capsys)
    assert code == 0
    assert "ms_ssim" in stdout and "n/a (MS-SSIM needs images of at least 176x176" in stdout
    assert "  l1 " in stdout and "  psnr " in stdout and "  ssim " not in stdout
    assert " 0\n" in stdout.split("psnr")[0] + "\n" or "↓ 0" in stdout  # identical sets: L1 = 0
    assert "↑ 100" in stdout  # PSNR of identical images: the documented 100 dB cap


def test_score_cycle(folders, capsys) -> None:
    d, out, gt = folders
    code, stdout, err = run_cli(["score", "cycle", str(d / "gt"), str(d / "rec"), "--json", "--net", "digits"], capsys)
    assert code == 0, err
    m = json.loads(stdout)["metrics"]
    assert set(m) == {"cycle_l1_aba", "cycle_perceptual_digits_aba"}
    assert m["cycle_l1_aba"]["value"] == pytest.approx(float((out.double() - gt.double()).abs().mean() / 255), rel=1e-12)
    code, stdout, _ = run_cli(["score", "cycle", str(d / "gt"), str(d / "gt"), "--json"], capsys)
    assert json.loads(stdout)["metrics"]["cycle_l1_aba"]["value"] == 0.0


def test_score_pairs_bad_inputs(folders, tmp_path: Path, capsys) -> None:
    d, out, gt = folders
    partial = tmp_path / "partial"
    partial.mkdir()
    for i in range(5):
        save_png(out[i], partial / f"im{i:02d}.png")
    save_png(out[0], partial / "stray.png")
    code, _, err = run_cli(["score", "pairs", str(partial), str(d / "gt")], capsys)
    assert code == 2
    assert f"only in {partial}: stray" in err and "only in" in err and "im05, im06" in err
    big = tmp_path / "big"
    big.mkdir()
    for i in range(30):
        save_png(torch.zeros(1, 16, 16, dtype=torch.uint8), big / f"im{i:02d}.png")
    code, _, err = run_cli(["score", "pairs", str(big), str(d / "gt")], capsys)
    assert code == 2 and "16x16" in err and "8x8" in err and "im00" in err
    code, _, err = run_cli(["score", "pairs", str(tmp_path / "nope"), str(d / "gt")], capsys)
    assert code == 2 and "nope: no such folder" in err
    code, _, err = run_cli(["score", "cycle", str(d / "gt"), str(partial)], capsys)
    assert code == 2 and "do not match by name" in err


SUITE = """
name: tr
datasets:
  edges: {kind: digits-edges, split: test}
  strokes: {kind: digits-strokes, split: test}
models:
  invert: {adapter: python-translator, args: {target: "tests.models:InvertTranslator"}}
  neg-a2b: {adapter: python-translator, args: {target: "tests.models:NegModule", directions: [a2b]}}
  noisy: {adapter: python-translator, args: {target: "tests.models:NoisyInvert"}}
tasks:
  - name: t
    kind: translation
    reference: %(ref)s
    models: %(models)s
    n: 40
    batch_size: %(bs)s
    metrics: %(metrics)s
"""


def _suite(write_suite, ref="edges", models="[invert]", bs=16, metrics="[l1]") -> Path:
    return write_suite(SUITE % {"ref": ref, "models": models, "bs": bs, "metrics": metrics})


def _values(tmp_path: Path) -> dict[tuple[str, str], float]:
    (f,) = tmp_path.rglob("rows.jsonl")
    return {(r["model"], r["metric"]): r["value"] for r in map(json.loads, f.read_text().splitlines())}


def test_python_translators_known_values(write_suite, tmp_path: Path, capsys) -> None:
    suite = _suite(write_suite, models="[invert, neg-a2b]", metrics="[l1, psnr]")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 0, err
    v = _values(tmp_path / "o")
    x, _ = digits.load("test")
    from bench.translation.data import edge_map

    want = float(((255 - edge_map(x[:40]).double()) - x[:40].double()).abs().mean() / 255)
    assert v[("invert", "l1")] == pytest.approx(want, rel=1e-12)
    assert v[("neg-a2b", "l1")] == v[("invert", "l1")]


def test_stochastic_translator_is_batch_size_invariant(write_suite, tmp_path: Path, capsys) -> None:
    vals = []
    for bs in (7, 40):
        out = tmp_path / f"bs{bs}"
        suite = _suite(write_suite, models="[noisy]", bs=bs, metrics="[l1, {diversity: {inputs: 10, samples: 3, net: digits}}]")
        code, _, err = run_cli(["run", str(suite), "--out", str(out), "--quiet"], capsys)
        assert code == 0, err
        vals.append(_values(out))
    assert vals[0] == vals[1]
    assert vals[0][("noisy", "diversity_perceptual_digits")] > 0


def test_missing_direction_is_reported(write_suite, tmp_path: Path, capsys) -> None:
    suite = _suite(write_suite, models="[neg-a2b]", metrics="[l1, cycle]")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2
    assert "model 'neg-a2b' does not translate b2a (it has: a2b); cycle-consistency translates there and back" in err


def test_paired_metric_on_unpaired_data_is_a_config_error(write_suite, tmp_path: Path, capsys) -> None:
    suite = _suite(write_suite, ref="strokes", metrics="[l1]")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and "metric 'l1' compares with ground truth; dataset 'strokes' is unpaired" in err


def test_validation_rejects_generation_metrics_and_generators(write_suite, capsys) -> None:
    suite = write_suite((SUITE % {"ref": "edges", "models": "[invert, noise]", "bs": 8, "metrics": "[cond_acc, l1]"})
                        .replace("models:\n", "models:\n  noise: {adapter: noise}\n", 1))
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2
    assert "metric 'cond_acc' needs classes (the class label requested for each sample" in err
    assert "which this translation task does not provide" in err
    assert "model 'noise' is a image-generator; a translation task needs ['translator']" in err


def test_paired_folder_dataset_and_folder_translator(folders, write_suite, tmp_path: Path, capsys) -> None:
    d, out, gt = folders
    suite = write_suite(f"""
datasets:
  p: {{kind: paired-folder, a: {d / 'gt'}, b: {d / 'gt'}}}
  bad: {{kind: paired-folder, path: {tmp_path / 'bad'}}}
models:
  sub: {{adapter: folder-translator, args: {{a2b: {d / 'out'}}}}}
tasks:
  - {{name: ok, kind: translation, reference: p, metrics: [l1, identity, {{diversity: {{net: digits}}}}]}}
  - {{name: broken, kind: translation, reference: bad, metrics: [l1]}}
""")
    (tmp_path / "bad" / "A").mkdir(parents=True)
    (tmp_path / "bad" / "B").mkdir()
    save_png(gt[0], tmp_path / "bad" / "A" / "x1.png")
    save_png(gt[0], tmp_path / "bad" / "B" / "x2.png")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2
    assert "only in " + str(tmp_path / "bad" / "A") + ": x1" in err and str(tmp_path / "bad" / "B") + ": x2" in err
    v = _values(tmp_path / "o")
    assert v[("sub", "l1")] == pytest.approx(float((out.double() - gt.double()).abs().mean() / 255), rel=1e-12)
    assert v[("sub", "identity_l1")] is None and v[("sub", "diversity_perceptual_digits")] is None  # undefined for files


def test_torchscript_translator_cycle_and_identity(write_suite, tmp_path: Path, capsys) -> None:
    from tests.models import NegModule

    torch.jit.script(NegModule()).save(str(tmp_path / "neg.pt"))
    suite = write_suite(f"""
datasets:
  strokes: {{kind: digits-strokes, split: test}}
models:
  ts: {{adapter: torchscript-translator, args: {{a2b: {tmp_path / 'neg.pt'}, b2a: {tmp_path / 'neg.pt'}}}}}
  ident: {{adapter: identity}}
tasks:
  - {{name: t, kind: translation, reference: strokes, n: 50, metrics: [{{cycle: {{net: digits}}}}, identity, label_preservation]}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 0, err
    v = _values(tmp_path / "o")
    assert v[("ts", "cycle_l1_aba")] == 0.0 and v[("ts", "cycle_l1_bab")] == 0.0  # negating twice is exact in uint8
    from bench.translation.data import thick_strokes

    x, y = digits.load("test")
    b = thick_strokes(x[298:348]).double()
    assert v[("ts", "identity_l1")] == pytest.approx(float(((255 - b) - b).abs().mean() / 255), rel=1e-12)
    assert v[("ident", "identity_l1")] == 0.0
    from bench.backbones.digits import DigitsBackbone
    from bench.translation.data import thin_strokes

    logits = DigitsBackbone().extract(thin_strokes(x[:50]))["logits"]
    assert v[("ident", "label_preservation")] == pytest.approx(float((logits.argmax(1) == y[:50].numpy()).mean()), abs=1e-12)


def test_b2a_direction_and_unpaired_folders(write_suite, tmp_path: Path, capsys) -> None:
    x, _ = digits.load("test")
    for side, imgs, prefix in (("A", x[:6], "a"), ("B", x[100:109], "b")):
        (tmp_path / "dom" / side).mkdir(parents=True)
        for i, im in enumerate(imgs):
            save_png(im, tmp_path / "dom" / side / f"{prefix}{i}.png")
    suite = write_suite(f"""
datasets:
  edges: {{kind: digits-edges, split: test}}
  dom: {{kind: unpaired-folder, path: {tmp_path / 'dom'}}}
models:
  invert: {{adapter: python-translator, args: {{target: "tests.models:InvertTranslator"}}}}
  ident: {{adapter: identity}}
tasks:
  - {{name: back, kind: translation, reference: edges, models: [invert], n: 20, args: {{direction: b2a}}, metrics: [l1]}}
  - {{name: unp, kind: translation, reference: dom, models: [ident], metrics: [{{cycle: {{net: digits}}}}, label_preservation, fid]}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 0, err
    (f,) = (tmp_path / "o").rglob("rows.jsonl")
    rows = {(r["task"], r["metric"]): r for r in map(json.loads, f.read_text().splitlines())}
    from bench.translation.data import edge_map

    want = float(((255 - x[:20].double()) - edge_map(x[:20]).double()).abs().mean() / 255)  # invert(digit) vs its edges
    assert rows[("back", "l1")]["value"] == pytest.approx(want, rel=1e-12)
    assert rows[("back", "l1")]["extras"]["direction"] == "b2a"
    assert rows[("unp", "cycle_l1_aba")]["value"] == 0.0 and rows[("unp", "cycle_l1_aba")]["n"] == 6
    assert rows[("unp", "label_preservation")]["value"] is None
    assert "has no labels" in rows[("unp", "label_preservation")]["extras"]["reason"]
    assert rows[("unp", "fid")]["protocol"]["n"] == 6 and rows[("unp", "fid")]["protocol"]["n_ref"] == 9
    assert rows[("unp", "fid")]["protocol"]["reference"].endswith("#B")
