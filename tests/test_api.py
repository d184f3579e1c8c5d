"""The Python API returns the CLI's numbers: paths, arrays, tensors and generator objects (issue: bring your own
model, item 5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import bench
from bench.cli import main
from bench.data import digits
from bench.images import save_png, to_uint8
from bench.seeding import latents_from_seeds, model_seed, sample_seeds
from tests.models import LinearDigits


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("api")
    x, _ = digits.load("test")
    for name, part in (("gen", x[:60]), ("ref", x[60:160])):
        (root / name).mkdir()
        for i, img in enumerate(part):
            save_png(img, root / name / f"{i:03d}.png")
    return {"gen": root / "gen", "ref": root / "ref", "x": root}


def test_paths_arrays_and_tensors_equal_the_cli(sets: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "images", str(sets["gen"]), str(sets["ref"]), "--fid", "--kid", "--protocol", "digits",
                 "--json"]) == 0
    cli = {k: v["value"] for k, v in json.loads(capsys.readouterr().out)["metrics"].items()}
    got = bench.score_images(str(sets["gen"]), sets["ref"], ["fid", "kid"], protocol="digits")
    assert got == cli and set(got) == {"fid", "kid"} and all(isinstance(v, float) for v in got.values())
    x, _ = digits.load("test")
    nhwc = x[:60].permute(0, 2, 3, 1).numpy()  # uint8 NHWC numpy, as images usually sit in memory
    # the same pixels (PNG and array), read in other batch sizes: equal to float32 round-off of the backbone
    arrays = bench.score_images(nhwc, x[60:160], ["fid", "kid"], protocol="digits")
    assert arrays == pytest.approx(cli, rel=1e-5)
    floats = x[:60].float() / 127.5 - 1  # float tensors need their range
    assert bench.score_images(floats, x[60:160], ["fid"], protocol="digits", range="-1,1")["fid"] == arrays["fid"]
    with pytest.raises(bench.errors.InputError, match="float images need range="):
        bench.score_images(floats, x[60:160], ["fid"], protocol="digits")


def test_generator_object_gets_the_seeded_samples(sets: dict[str, Path]) -> None:
    """An nn.Module is sampled with the CLI's per-sample seeds: its FID equals that of those samples as an array."""
    model = LinearDigits()
    got = bench.score_images(model, sets["ref"], ["fid"], n=50, protocol="digits")
    with torch.no_grad():
        z = latents_from_seeds(sample_seeds(model_seed(0, "input1"), 0, 50), (16,))
        samples = to_uint8(model(z), (-1.0, 1.0))
    assert got == bench.score_images(samples, sets["ref"], ["fid"], protocol="digits")
    with pytest.raises(bench.errors.InputError, match="a generator needs n="):
        bench.score_images(model, sets["ref"], ["fid"], protocol="digits")


def test_run_suite_returns_the_runs_rows(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: api\ndatasets:\n  train: {kind: digits, split: train}\n  test: {kind: digits, split: test}\n"
                     "models:\n  real: {adapter: dataset, args: {dataset: test}}\n"
                     "  noise: {adapter: noise, args: {shape: [1, 8, 8]}}\noutput: {grid: 0}\n"
                     "tasks:\n  - {name: u, reference: train, n: 100, metrics: [fid, prc]}\n")
    df = bench.run_suite(suite, out=tmp_path / "out")
    rows = [json.loads(x) for x in (Path(df.attrs["run_dir"]) / "rows.jsonl").read_text().splitlines()]
    assert len(df) == len(rows) == 2 * 4 and df.attrs["errors"] == []
    by = df.set_index(["model", "metric"])["value"]
    assert by[("real", "fid")] < by[("noise", "fid")]
    assert {(r["model"], r["metric"]): r["value"] for r in rows} == by.to_dict()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_pairs_and_captions(sets: dict[str, Path]) -> None:
    same = bench.score_pairs(sets["gen"], sets["gen"], ["l1", "psnr"])
    assert same["l1"] == 0.0
    scores = bench.score_captions({1: ["a red circle", "a circle that is red"], 2: ["two blue squares"]},
                                  {1: "a red circle", 2: "a green triangle"}, meteor=False, spice=False)
    assert scores["BLEU-1"] == pytest.approx(0.5) and scores["ROUGE-L"] == 0.5 and scores["CIDEr-D"] > 0
