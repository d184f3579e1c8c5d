"""Captioning through the CLI: the shapes captioner beats the blind baseline on every available metric; CLIPScore
follows Hessel et al.'s formula; data-only COCO results files give the live model's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.results import RunDir
from tests.conftest import ROOT, run_cli


def _run(tmp_path: Path, capsys, text: str) -> list[dict]:
    suite = tmp_path / "captioning.yaml"
    suite.write_text(text)
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "res"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "res" / "captioning").iterdir()
    return RunDir(run).rows()


def _assert_beats(rows: list[dict], good: str, bad: str) -> int:
    v = {(r["model"], r["metric"]): r for r in rows}
    checked = 0
    for m in {r["metric"] for r in rows}:
        g, b = v[(good, m)], v[(bad, m)]
        if g["value"] is None:  # unavailable (SPICE offline): reported with the reason, for both models
            assert g["extras"]["reason"] and b["value"] is None
            continue
        assert g["value"] > b["value"], m
        checked += 1
    return checked


def _fast_suite() -> str:
    return (ROOT / "suites/captioning.yaml").read_text().replace("batch_size: 250", "batch_size: 250\n    n: 100") \
        .replace("meteor: true", "meteor: false")


def test_captioner_beats_blind_baseline_fast(tmp_path: Path, capsys) -> None:
    rows = _run(tmp_path, capsys, _fast_suite())
    assert _assert_beats(rows, "shapes-captioner", "blind") == 9  # 6 caption metrics + clip_s, refclip_s, tm
    v = {(r["model"], r["metric"]): r for r in rows}
    assert v[("shapes-captioner", "cider_d")]["value"] > 1.5 and v[("blind", "bleu4")]["value"] < 0.05
    meteor = v[("blind", "meteor")]
    assert meteor["value"] is None and "disabled" in meteor["extras"]["reason"]
    cs = v[("shapes-captioner", "clip_s")]
    assert cs["protocol"]["backbone"] == "shapes-clip" and "not OpenAI CLIP" in cs["protocol"]["scorer"]
    assert cs["ci_low"] < cs["value"] < cs["ci_high"]


def test_clipscore_formula_by_hand(tmp_path: Path, capsys) -> None:
    """clip_s = 2.5 * max(cos(image, 'A photo depicts ' + caption), 0), recomputed from the backbone."""
    from bench.backbones.textimage import ShapesClipBackbone
    from bench.shapes import world

    rows = _run(tmp_path, capsys, _fast_suite().replace("coco_captions: {meteor: false, spice: true}", ""))
    run = tmp_path / "res" / "captioning"
    (rd,) = run.iterdir()
    per = json.loads((rd / "per_sample/shapes-captions/shapes-captioner.json").read_text())
    bb = ShapesClipBackbone()
    test = world.load("test")
    im = bb.embed_images(test.images[:100])
    tx = bb.embed_texts(["A photo depicts " + c for c in per["captions"]])
    cos = (im * tx).sum(1) / np.linalg.norm(im, axis=1) / np.linalg.norm(tx, axis=1)
    expect = 2.5 * np.clip(cos, 0, None)
    assert np.allclose(per["clip_s"], expect, atol=1e-5)
    v = {(r["model"], r["metric"]): r["value"] for r in rows}
    assert v[("shapes-captioner", "clip_s")] == pytest.approx(expect.mean(), abs=1e-5)
    tm = 100 * (im * bb.embed_texts(per["captions"])).sum(1) / np.linalg.norm(im, axis=1) / np.linalg.norm(
        bb.embed_texts(per["captions"]), axis=1)
    assert v[("shapes-captioner", "clip_score_tm")] == pytest.approx(max(tm.mean(), 0), abs=1e-3)


def test_coco_results_file_equals_live_model(tmp_path: Path, capsys) -> None:
    from bench.shapes import world, zoo

    net, _ = zoo.load("captioner")
    caps = net.caption(world.load("test").images[:100])  # type: ignore[operator]
    res = tmp_path / "res.json"
    res.write_text(json.dumps([{"image_id": i, "caption": c} for i, c in enumerate(caps)]))
    text = _fast_suite().replace("  blind:\n    adapter: blind-captioner\n    args: {dataset: shapes-train}",
                                 f"  submitted:\n    adapter: coco-results\n    args: {{path: {res}}}")
    rows = _run(tmp_path, capsys, text)
    a = {r["metric"]: r["value"] for r in rows if r["model"] == "shapes-captioner"}
    b = {r["metric"]: r["value"] for r in rows if r["model"] == "submitted"}
    assert a == b


@pytest.mark.slow
def test_full_captioning_suite(tmp_path: Path, capsys) -> None:
    rows = _run(tmp_path, capsys, (ROOT / "suites/captioning.yaml").read_text())
    assert _assert_beats(rows, "shapes-captioner", "blind") == 10  # METEOR included (Java)


def test_missing_coco_files_reported_at_run_time(tmp_path: Path, capsys) -> None:
    code, out, _ = run_cli(["validate", str(ROOT / "suites/coco-captions.yaml")], capsys)
    assert code == 0
    suite = tmp_path / "coco-captions.yaml"
    suite.write_text((ROOT / "suites/coco-captions.yaml").read_text())
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    # offline, the OpenAI CLIP weights are the first thing missing: the error names the URL and where to put the file
    assert code == 2 and "Traceback" not in err
    assert "openaipublic.azureedge.net" in err and "weights/clip-openai-ViT-B-32.pt" in err
    # with the backbone served, the missing annotations file is the next clear line
    suite.write_text(suite.read_text().replace("backbone: clip-vit-b32", "backbone: shapes-clip"))
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and "captions_val2014.json: captions file does not exist" in err and "Traceback" not in err


TS_SUITE = """
name: captioning
seed: 0
datasets:
  shapes-test: {{kind: shapes, split: test}}
models:
{models}
tasks:
  - name: caps
    kind: captioning
    reference: shapes-test
    n: 60
    batch_size: 25
    backbone: shapes-clip
    metrics:
      coco_captions: {{meteor: false, spice: false}}
      clipscore_torchmetrics: {{}}
"""


def test_torchscript_captioner_equals_python_captioner(tmp_path: Path, capsys) -> None:
    """Token ids + the module's vocab, a vocab JSON file, and List[str] output all score like the live model."""
    import torch

    from tests.models import ColourCaptioner, StringCaptioner

    torch.jit.script(ColourCaptioner()).save(str(tmp_path / "ids.pt"))
    torch.jit.script(StringCaptioner()).save(str(tmp_path / "strings.pt"))
    from bench.shapes import world

    (tmp_path / "vocab.json").write_text(json.dumps(list(world.VOCAB)))
    models = (f"  live: {{adapter: python-captioner, args: {{target: 'tests.models:ColourCaptioner'}}}}\n"
              f"  scripted: {{adapter: torchscript-captioner, args: {{path: {tmp_path / 'ids.pt'}}}}}\n"
              f"  scripted-vocab: {{adapter: torchscript-captioner, args: {{path: {tmp_path / 'ids.pt'}, "
              f"vocab: {tmp_path / 'vocab.json'}}}}}\n"
              f"  strings: {{adapter: torchscript-captioner, args: {{path: {tmp_path / 'strings.pt'}}}}}")
    rows = _run(tmp_path, capsys, TS_SUITE.format(models=models))
    v = {(r["model"], r["metric"]): r["value"] for r in rows}
    metrics = {r["metric"] for r in rows if r["value"] is not None}
    assert {"cider_d", "bleu4", "clip_score_tm"} <= metrics
    for m in metrics:
        assert v[("scripted", m)] == v[("live", m)] == v[("scripted-vocab", m)], m
    assert v[("live", "bleu1")] > 0.2 and v[("strings", "bleu1")] > 0
    per = json.loads((next((tmp_path / "res" / "captioning").iterdir()) / "per_sample/caps/scripted.json").read_text())
    assert per["captions"][0].startswith("a ") and per["captions"][0].endswith(" shape")


@pytest.mark.parametrize("case, needle", [
    ("missing", "TorchScript captioner file does not exist"),
    ("float", "returned a torch.float32 tensor (25,); expected a list of 25 strings"),
    ("short", "returned 24 captions for a batch of 25 images"),
    ("novocab", "returned token ids but there is no vocabulary"),
])
def test_torchscript_captioner_bad_input_is_one_line(tmp_path: Path, capsys, case: str, needle: str) -> None:
    import torch

    from tests.models import ColourCaptioner, FloatOutput, StringCaptioner

    path = tmp_path / f"{case}.pt"
    if case == "float":
        torch.jit.script(FloatOutput()).save(str(path))
    elif case == "short":
        torch.jit.script(StringCaptioner(short=True)).save(str(path))
    elif case == "novocab":
        m = ColourCaptioner()
        torch.jit.trace(m, torch.zeros(2, 3, 32, 32, dtype=torch.uint8)).save(str(path))  # a trace keeps no vocab
    models = ("  good: {adapter: python-captioner, args: {target: 'tests.models:ColourCaptioner'}}\n"
              f"  bad: {{adapter: torchscript-captioner, args: {{path: {path}}}}}")
    suite = tmp_path / "captioning.yaml"
    suite.write_text(TS_SUITE.format(models=models))
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "res"), "--quiet", "--no-cache"], capsys)
    assert code == 2 and "Traceback" not in err
    line = next(ln for ln in err.splitlines() if needle in ln)
    assert str(path) in line
    (run,) = (tmp_path / "res" / "captioning").iterdir()
    assert {r["model"] for r in RunDir(run).rows()} == {"good"}
