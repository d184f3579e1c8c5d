"""GAN Dissection: hook semantics, IoU and thresholds on hand-made masks, the whole study on a toy generator whose
units are known, the shipped shapes GAN and segmenter, and the suite through the real command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from bench.dissection.hooks import UnitEdit, capture, edited, find_layer, torch_module
from bench.dissection.measures import (
    bootstrap_drop,
    concept_fractions,
    iou,
    relative_drop,
    unit_masks,
    unit_thresholds,
)
from bench.errors import ConfigError
from tests.conftest import ROOT, run_cli


# ------------------------------------------------------------------------------------------------ hooks
def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 3, 3, padding=1)).eval()


def _layer_out(net: nn.Module, x: torch.Tensor, edit: UnitEdit | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(the edited layer's output as the next module sees it, the network's output)."""
    seen: list[torch.Tensor] = []
    with torch.no_grad(), edited(net[1], "1", edit):
        h = net[2].register_forward_pre_hook(lambda _m, inp: seen.append(inp[0].clone()))
        try:
            y = net(x)
        finally:
            h.remove()
    return seen[0], y


def test_alpha_zero_leaves_the_output_unchanged() -> None:
    net, x = _net(), torch.randn(4, 2, 6, 6)
    plain_h, plain_y = _layer_out(net, x, None)
    for value in (0.0, 7.5, torch.tensor([1.0, -2.0])):
        h, y = _layer_out(net, x, UnitEdit([0, 3], alpha=0.0, value=value))
        assert torch.equal(h, plain_h) and torch.equal(y, plain_y)


def test_ablation_zeroes_exactly_the_named_units() -> None:
    net, x = _net(), torch.randn(4, 2, 6, 6)
    plain, _ = _layer_out(net, x, None)
    assert (plain[:, [1, 4]] != 0).any()  # the ReLU leaves positive activations to remove
    h, _ = _layer_out(net, x, UnitEdit([1, 4], alpha=1.0, value=0.0))
    assert torch.equal(h[:, [1, 4]], torch.zeros_like(h[:, [1, 4]]))
    assert torch.equal(h[:, [0, 2, 3]], plain[:, [0, 2, 3]])  # the others untouched, bit for bit


def test_partial_per_sample_and_per_location_edits() -> None:
    net, x = _net(), torch.randn(3, 2, 4, 4)
    plain, _ = _layer_out(net, x, None)
    h, _ = _layer_out(net, x, UnitEdit([2], alpha=0.25, value=8.0))  # x(1-a) + r a
    assert torch.allclose(h[:, 2], plain[:, 2] * 0.75 + 2.0)
    h, _ = _layer_out(net, x, UnitEdit([2], alpha=torch.tensor([0.0, 1.0, 0.5]), value=0.0))  # per sample
    assert torch.equal(h[0, 2], plain[0, 2]) and torch.equal(h[1, 2], torch.zeros(4, 4))
    assert torch.allclose(h[2, 2], plain[2, 2] * 0.5)
    where = torch.zeros(3, 4, 4)
    where[:, 1:3, 1:3] = 1  # insert at one 2x2 window: r inside, x outside
    h, _ = _layer_out(net, x, UnitEdit([0, 2], alpha=where, value=torch.tensor([5.0, 9.0])))
    assert torch.equal(h[:, 0, 1:3, 1:3], torch.full((3, 2, 2), 5.0))
    assert torch.equal(h[:, 2, 1:3, 1:3], torch.full((3, 2, 2), 9.0))
    outside = where == 0
    assert torch.equal(h[:, 0][outside], plain[:, 0][outside]) and torch.equal(h[:, 1], plain[:, 1])


def test_capture_and_layer_lookup() -> None:
    net, x = _net(), torch.randn(2, 2, 5, 5)
    got: list[torch.Tensor] = []
    with capture(net[1], "1", got):
        net(x)
    assert len(got) == 1 and got[0].shape == (2, 5, 5, 5) and (got[0] >= 0).all()
    with pytest.raises(ConfigError, match="has no layer 'lyer1'.*its layers: 0, 1, 2"):
        find_layer(net, "lyer1", "m")
    with pytest.raises(ConfigError, match="out of range"):
        _layer_out(net, x, UnitEdit([5]))

    class Holder:
        model = torch.jit.script(_net())

    with pytest.raises(ConfigError, match="TorchScript"):
        torch_module(Holder(), "m")


# ------------------------------------------------------------------------------------------------ measures
def test_iou_on_hand_made_masks() -> None:
    units = torch.zeros(2, 2, 4, 4, dtype=torch.bool)
    concepts = torch.zeros(2, 2, 4, 4, dtype=torch.bool)
    units[0, 0, :2, :2] = True  # 4 pixels in sample 0
    units[1, 0, 0, :] = True  # 4 pixels in sample 1
    concepts[0, 0, :2, :] = True  # 8 pixels: contains the unit's 4
    concepts[1, 0, 0, :2] = True  # 2 pixels, both in the unit's
    # pooled over samples: intersection 4 + 2 = 6, union 8 + 4 = 12
    # unit 1 is empty: IoU = 0 with concept 0; concept 1 is empty too: union 0 → 0
    table = iou(units, concepts)
    assert table[0, 0].item() == pytest.approx(6 / 12)
    assert table[1, 0].item() == 0 and table[0, 1].item() == 0 and table[1, 1].item() == 0
    units[0, 1] = concepts[0, 0]
    units[1, 1] = concepts[1, 0]
    assert iou(units, concepts)[1, 0].item() == 1.0


def test_thresholds_and_upsampled_unit_masks() -> None:
    acts = torch.arange(200, dtype=torch.float32).view(2, 1, 10, 10)  # 0..199
    t = unit_thresholds(acts, 0.01)  # linear-interpolated 99th percentile of 0..199: 197.01
    assert t.item() == pytest.approx(197.01)
    assert unit_masks(acts, t, (10, 10)).sum().item() == 2  # 198 and 199
    a = torch.zeros(1, 1, 2, 2)
    a[0, 0, 0, 0] = 1.0  # bilinear to 4x4 (align_corners=False): the top-left quadrant is 1.0, 0.75, 0.75, 0.5625
    m = unit_masks(a, torch.tensor([0.6]), (4, 4))
    assert m[0, 0].nonzero().tolist() == [[0, 0], [0, 1], [1, 0]]


def test_fractions_drop_and_its_bootstrap() -> None:
    masks = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    masks[0, 0, 0] = True  # 4 of 16 pixels
    assert concept_fractions(masks)[:, 0].tolist() == [0.25, 0.0]
    region = torch.zeros(2, 4, 4, dtype=torch.bool)
    region[:, :2, :2] = True
    assert concept_fractions(masks, region)[:, 0].tolist() == [0.5, 0.0]
    before, after = np.array([0.2, 0.4, 0.0, 0.4]), np.array([0.1, 0.1, 0.0, 0.1])
    assert relative_drop(before, after) == pytest.approx(1 - 0.3 / 1.0)
    v, lo, hi, info = bootstrap_drop(before, after, 300, 0.9, seed=3)
    assert v == pytest.approx(0.7) and lo is not None and hi is not None and lo <= v <= hi
    assert bootstrap_drop(before, after, 300, 0.9, seed=3)[1] == lo  # seeded
    assert np.isnan(relative_drop(np.zeros(3), np.zeros(3)))


# ------------------------------------------------------------------------------------------------ the study on a toy
class ToyGenerator(nn.Module):
    """z [n, 4] → 16x16 RGB: ``layer`` has 4 units at 4x4; unit 0 lights a 2x2 block of its location red where
    z's first coordinate says, unit 1 the same in green, units 2 and 3 are noise that draws nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        h = torch.zeros(n, 4, 4, 4)
        for i in range(n):
            cell = int(abs(float(z[i, 0])) * 100) % 16
            h[i, 0 if z[i, 1] > 0 else 1, cell // 4, cell % 4] = 2.0
        h[:, 2:] = torch.rand(n, 2, 4, 4, generator=torch.Generator().manual_seed(int(abs(float(z[0, 2])) * 1e6)))
        h = self.layer(h)
        up = torch.nn.functional.interpolate(h, scale_factor=4, mode="nearest")
        img = torch.zeros(n, 3, 16, 16)
        img[:, 0] = (up[:, 0] > 1).float()
        img[:, 1] = (up[:, 1] > 1).float()
        return img * 2 - 1


class ToySegmenter:
    concepts = ("red", "green")

    def masks(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([images[:, 0] > 128, images[:, 1] > 128], 1)


def test_study_finds_the_toy_units_and_their_effects() -> None:
    from bench.dissection.study import StudyConfig, run_study
    from bench.seeding import latents_from_seeds

    gen = ToyGenerator()
    z = latents_from_seeds(list(range(200)), (4,))

    def generate(edit_for: Any, into: Any) -> torch.Tensor:
        out = []
        for s in range(0, 200, 50):
            e = edit_for(range(s, s + 50)) if edit_for is not None else None
            with edited(gen.layer, "layer", e):
                if into is not None:
                    with capture(gen.layer, "layer", into):
                        out.append(gen(z[s: s + 50]))
                else:
                    out.append(gen(z[s: s + 50]))
        return torch.round((torch.cat(out) + 1) / 2 * 255).to(torch.uint8)

    # unit 0 or 1 is on at one of 16 locations in half the samples (3.1%): at the top 5% its threshold is 0
    r = run_study(generate, ToySegmenter(), StudyConfig(quantile=0.05, top_k=1, curve=(1, 2), random_sets=4,
                                                        insert_size=1, bootstrap=50))
    red, green = r.per_concept["red"], r.per_concept["green"]
    # bilinear upsampling spreads a unit's one 4x4 cell over its neighbours: IoU well below 1, far above noise's
    assert red.best_units[0][0] == 0 and red.best_units[0][1] > 0.3 > 0.05 > red.best_units[1][1]
    assert green.best_units[0][0] == 1 and green.best_units[0][1] > 0.3 > 0.05 > green.best_units[1][1]
    assert r.interpretable.tolist() == [True, True, False, False]
    assert red.drop is not None and red.drop.value == 1.0 and red.curve[1] == 1.0
    assert red.random_drop is not None and red.random_drop.value < 0.5  # 1 random unit in 4: red's unit 1 time in 4
    # inserting unit 0 at its "on" level (2.0, its mean above the threshold) in a 1x1 window draws red there
    assert red.gain is not None and red.gain.value > 0.9 and red.random_gain is not None
    assert red.gain.value > red.random_gain.value


# ------------------------------------------------------------------------------------------------ shipped models
def test_shipped_gan_and_segmenter_verify_and_record_quality() -> None:
    from bench.shapes import scene_nets, zoo

    m = zoo.manifest()
    for name, file in (("segmenter", "segmenter.pt"), ("gan", "gan.pt")):
        net, sha = zoo.load(name)
        assert sha == m[file]["sha256"] and zoo.weights_path(name).stat().st_size < 1_000_000
        assert m[file]["trained_by"] == f"scripts/shapes/train_{name}.py" and "trained_with" in m[file]
    seg = m["segmenter.pt"]["quality"]
    assert seg["colour_pixel_accuracy"] > 0.99 and seg["shape_pixel_accuracy"] > 0.99
    assert min(v for k, v in seg.items() if k.startswith("iou_")) > 0.9
    gan = m["gan.pt"]["quality"]
    assert gan["fid_shapes_clip"] > 0 and gan["object_fraction"] > 0.5 * gan["object_fraction_test"]
    g, _ = zoo.load("gan")
    assert isinstance(g, scene_nets.ShapesGenerator)


def test_segmenter_agrees_with_the_rendered_masks() -> None:
    from bench.shapes import world, zoo

    seg, _ = zoo.load("segmenter")
    pred = seg.segment(world.load("test", 50).images)  # type: ignore[operator]
    truth = world.load_labels("test", 50)
    assert (pred == truth).float().mean().item() > 0.99


def test_render_labels_match_the_rendered_colours() -> None:
    from bench.shapes import world

    split = world.load("test", 20)
    labels = world.load_labels("test", 20)
    palette = torch.tensor([world.BACKGROUND, *world.COLOURS.values()], dtype=torch.float32)
    # a pixel whose colour is exactly a palette entry (inside a shape or on plain background) has that label
    img = split.images.permute(0, 2, 3, 1).float()
    exact = (img[..., None, :] == palette).all(-1)  # [N, H, W, 7]
    hit = exact.any(-1)
    assert hit.float().mean() > 0.9
    assert torch.equal(exact.float().argmax(-1)[hit], labels[:, 0][hit])
    assert set(labels[:, 1].unique().tolist()) <= {0, 1, 2, 3}


# ------------------------------------------------------------------------------------------------ suites and the CLI
def test_validate_refuses_compiled_models_and_bad_args(write_suite: Any, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_suite("""
datasets: {test: {kind: shapes, split: test}}
models:
  ts: {adapter: torchscript, args: {path: gen.pt, latent_dim: 4}}
tasks:
  - {name: d, kind: dissection, reference: test, n: 20, backbone: shapes-clip, models: [ts], metrics: [dissection],
     args: {layer: layer1}}
""")
    (p.parent / "gen.pt").write_bytes(b"x")
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "tasks.0.models.0: model 'ts' is a compiled graph (TorchScript, ONNX or torch.export)" in err
    p.write_text(p.read_text().replace("layer: layer1", "layer: layer1, quantile: 2"))
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2 and "tasks.0.args.quantile: Input should be less than 1 (got 2)" in err
    p.write_text(p.read_text().replace("layer: layer1, quantile: 2", "quantile: 0.01"))
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2 and "tasks.0.args: a dissection task needs args.layer" in err


def test_unknown_layer_is_one_clear_line(write_suite: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = write_suite("""
datasets: {test: {kind: shapes, split: test}}
models: {g: {adapter: shapes-gan}}
tasks:
  - {name: d, kind: dissection, reference: test, n: 20, backbone: shapes-clip, metrics: [dissection],
     args: {layer: layr1}}
""")
    code, _out, err = run_cli(["run", str(p), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code != 0 and "Traceback" not in err
    assert "model 'g' has no layer 'layr1'; did you mean 'layer1'?" in err


def test_a_python_generator_through_the_command_line(write_suite: Any, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    """Any torch module through the ``python`` adapter: the toy's red unit is found by the shapes segmenter's
    masks, and ablating it removes the red it draws."""
    from bench.results import RunDir

    p = write_suite("""
datasets: {test: {kind: shapes, split: test}}
models: {toy: {adapter: python, args: {target: "tests.test_dissection:ToyGenerator", latent_dim: 4}}}
tasks:
  - {name: d, kind: dissection, reference: test, n: 60, batch_size: 30, backbone: shapes-clip, metrics: [dissection],
     args: {layer: layer, quantile: 0.05, top_k: 1, curve: [1], random_sets: 2, bootstrap: 20, fid: false}}
""")
    code, _out, err = run_cli(["run", str(p), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "r").glob("*/*")
    rows = {r["metric"]: r for r in RunDir(run).rows()}
    assert rows["best_iou@red"]["extras"]["best_units"][0]["unit"] == 0
    assert rows["concept_drop@red"]["value"] == 1.0
    assert rows["concept_drop@blue"]["value"] is None and "no 'blue' pixel" in rows["concept_drop@blue"]["extras"]["reason"]
    assert "fid_unedited" not in rows


@pytest.fixture(scope="module")
def dissection_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.cli import main

    out = tmp_path_factory.mktemp("results")
    assert main(["run", str(ROOT / "suites/dissection.yaml"), "--out", str(out), "--quiet", "--no-cache"]) == 0
    (run,) = sorted((out / "dissection").iterdir())
    return run


@pytest.mark.slow
def test_dissection_suite_finds_units_that_remove_their_concept(dissection_run: Path) -> None:
    """The issue's check: interpretable units, and a concept whose own units remove at least half of it, at least
    three times what as many random units of the layer remove."""
    from bench.results import RunDir

    rows = {r["metric"]: r for r in RunDir(dissection_run).rows()}
    assert rows["interpretable_units"]["value"] >= 5
    drops = {m.split("@")[1]: r["value"] for m, r in rows.items() if m.startswith("concept_drop@") and r["value"] is not None}
    rand = {m.split("@")[1]: r["value"] for m, r in rows.items() if m.startswith("random_drop@") and r["value"] is not None}
    strong = [c for c in drops if drops[c] >= 0.5 and drops[c] >= 3 * max(rand[c], 0.0)]
    assert strong, (drops, rand)
    assert rows["removable_concepts"]["value"] == len(strong) and rows["removable_concepts"]["extras"]["concepts"] == strong
    assert rows["mean_concept_drop"]["value"] > 3 * rows["mean_random_drop"]["value"]
    for c in strong:  # the interval is real and excludes the random baseline
        r = rows[f"concept_drop@{c}"]
        assert r["ci_low"] is not None and r["ci_low"] > rand[c]
    gains = {m.split("@")[1]: r["value"] for m, r in rows.items() if m.startswith("concept_gain@") and r["value"] is not None}
    assert any(gains[c] > 0 for c in gains)
    assert all(f"fid_change@{c}" in rows for c in drops)
    folder = dissection_run / rows["interpretable_units"]["extras"]["dissection_folder"]
    with (folder / "units.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == rows["interpretable_units"]["extras"]["units"]
    assert sum(float(t["best_iou"]) > 0.05 for t in table) == rows["interpretable_units"]["value"]
    summary = json.loads((folder / "summary.json").read_text())
    assert all((folder / rel).is_file() for g in summary["grids"].values() for rel in g.values())


@pytest.mark.slow
def test_dissection_report_has_heatmap_curves_and_grids(dissection_run: Path, tmp_path: Path) -> None:
    from bench.report import build_report

    html = build_report([dissection_run], tmp_path).read_text()
    assert "<h2>Dissection</h2>" in html and 'class="heatmap"' in html
    assert "drop vs units ablated" in html and html.count('class="grid dissection"') >= 2


@pytest.mark.retrain
def test_segmenter_training_script_reproduces_manifest(tmp_path: Path) -> None:
    """scripts/shapes/train_segmenter.py (about 2 minutes on one core) gives the shipped bytes under the recorded
    versions, or its pixel accuracies and IoUs within the band elsewhere."""
    from bench.retrain import reproduce
    from bench.shapes import zoo

    e = zoo.manifest()["segmenter.pt"]
    r = reproduce(ROOT / "scripts/shapes/train_segmenter.py", ["--epochs", str(e["epochs"])], tmp_path / "segmenter.pt",
                  e, cwd=ROOT, timeout=1200)
    assert r.ok, r.describe()


@pytest.mark.retrain
def test_gan_training_script_reproduces_manifest(tmp_path: Path) -> None:
    """scripts/shapes/train_gan.py (about 8-11 minutes on one core) gives the shipped bytes under the recorded
    versions and CPU. Elsewhere the test skips: adversarial training amplifies another CPU's round-off into another
    GAN (the digits GANs moved FID by up to 27%), and this GAN's band on other CPUs has not been measured, so no
    band is claimed for it."""
    from bench.retrain import ENVIRONMENT_KEYS, reproduce, training_environment
    from bench.shapes import zoo

    e = zoo.manifest()["gan.pt"]
    here, recorded = training_environment(), e.get("trained_with", {})
    other = [k for k in ENVIRONMENT_KEYS if recorded.get(k) != here[k]]
    if other:
        pytest.skip(f"trained under other {', '.join(other)} ({', '.join(str(recorded.get(k)) for k in other)}): "
                    "an adversarial retrain there is not comparable and its band is unmeasured")
    r = reproduce(ROOT / "scripts/shapes/train_gan.py", ["--steps", str(e["steps"])], tmp_path / "gan.pt", e, cwd=ROOT,
                  timeout=2400)
    assert r.ok, r.describe()
