"""suites/digits-metrics.yaml through the CLI: mode dropping and collapse are flagged by recall, coverage,
class coverage and the LPIPS-diversity ratio while precision stays high; the copier has the best FID and is
flagged by memorization. Also: memorization's training set is validated with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.results import RunDir
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    from bench.cli import main

    out = tmp_path_factory.mktemp("results")
    assert main(["run", str(ROOT / "suites/digits-metrics.yaml"), "--out", str(out), "--quiet", "--no-cache"]) == 0
    (run_dir,) = sorted((out / "digits-metrics").iterdir())
    rows = {(r["model"], r["metric"]): r for r in RunDir(run_dir).rows()}
    rows[("", "run_dir")] = {"path": run_dir}
    return rows


def v(run: dict, model: str, metric: str) -> float:
    return float(run[(model, metric)]["value"])


def test_mode_drop_and_collapse_flagged_where_precision_is_high(run: dict) -> None:
    for m in ("mode-drop", "collapse"):
        assert v(run, m, "precision") > 0.9 and v(run, m, "density") > 0.9  # its samples are real digits
        assert v(run, m, "recall") < 0.25 * v(run, "heldout-real", "recall")
        assert v(run, m, "coverage") < 0.35 * v(run, "heldout-real", "coverage")
        # diversity ratio below real data's, with non-overlapping intervals
        assert run[(m, "perceptual_diversity_digits_ratio")]["ci_high"] < run[("heldout-real", "perceptual_diversity_digits_ratio")]["ci_low"]
    assert v(run, "heldout-real", "perceptual_diversity_digits_ratio") == pytest.approx(1.0, abs=0.03)
    assert v(run, "mode-drop", "perceptual_diversity_digits_ratio") < 0.92 and v(run, "collapse", "perceptual_diversity_digits_ratio") < 0.6
    assert v(run, "mode-drop", "class_coverage") == pytest.approx(0.3) and v(run, "collapse", "class_coverage") == 0.1
    assert v(run, "mode-drop", "class_kl") == pytest.approx(1.2, abs=0.1)  # ≈ log(10/3)
    assert v(run, "heldout-real", "class_coverage") == 1.0 and v(run, "heldout-real", "class_kl") < 0.02
    # Vendi (order 1, recorded): collapse < mode-drop < held-out real ≈ the reference's own
    assert v(run, "collapse", "vendi_ratio") < v(run, "mode-drop", "vendi_ratio") < v(run, "heldout-real", "vendi_ratio")
    assert v(run, "heldout-real", "vendi_ratio") == pytest.approx(1.0, abs=0.1) and v(run, "collapse", "vendi_ratio") < 0.6
    assert run[("collapse", "vendi")]["extras"]["q"] == 1.0


def test_copier_good_fid_but_flagged_by_memorization(run: dict) -> None:
    fid = {m: v(run, m, "fid") for m in ("heldout-real", "mode-drop", "collapse", "copier", "gmm", "noise")}
    assert min(fid, key=fid.get) == "copier" and fid["copier"] < fid["heldout-real"] < fid["gmm"]
    assert v(run, "copier", "near_copy_fraction") == 1.0 and v(run, "copier", "nn_distance_ratio") == 0.0
    extras = run[("copier", "near_copy_fraction")]["extras"]
    assert extras["spaces"]["pixels"]["near_copy_fraction"] == 1.0  # exact copies, in pixels too
    for m in ("heldout-real", "gmm", "noise"):  # fresh samples: about the calibrated 5 %, or fewer
        assert v(run, m, "near_copy_fraction") < 0.1
    assert v(run, "heldout-real", "nn_distance_ratio") == pytest.approx(1.0, abs=0.1)
    grid = Path(extras["grid"])
    assert grid == run[("", "run_dir")]["path"] / "samples" / "unconditional" / "copier-nn.png" and grid.stat().st_size > 100


def test_fid_intervals_and_curve(run: dict) -> None:
    for m in ("heldout-real", "gmm", "noise"):
        r = run[(m, "fid")]
        assert r["ci_low"] < r["value"] < r["ci_high"] and r["extras"]["bootstrap"]["resamples"] == 50
    assert run[("gmm", "fid")]["ci_low"] > run[("heldout-real", "fid")]["ci_high"]
    curve = run[("heldout-real", "fid_inf")]["extras"]["curve"]
    assert curve["n"] == [100, 200, 300, 500] and curve["fid"] == sorted(curve["fid"], reverse=True)
    assert run[("heldout-real", "fid@n100")]["n"] == 100  # the curve at n=500 is the FID (float64 round-off of two paths)
    assert run[("heldout-real", "fid@n500")]["value"] == pytest.approx(v(run, "heldout-real", "fid"), rel=1e-6)
    assert v(run, "heldout-real", "fid_inf") < v(run, "heldout-real", "fid")


def test_memorization_train_dataset_is_validated(write_suite, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "suites/digits-metrics.yaml").read_text().replace("memorization: {train: digits-train",
                                                                    "memorization: {train: digits-trian")
    code, _, err = run_cli(["validate", str(write_suite(text))], capsys)
    lines = [ln for ln in err.splitlines() if "memorization" in ln]
    assert code == 2 and len(lines) == 1
    assert "metrics.memorization.train: unknown dataset 'digits-trian'; did you mean 'digits-train'?" in lines[0]
    assert ".yaml:" in lines[0].split(": tasks")[0]
    code, _, err = run_cli(["validate", str(write_suite(text.replace("{train: digits-trian, ", "{")))], capsys)
    assert code == 2 and "memorization.train: required field is missing" in err


def test_bad_metric_and_disturbance_options_point_at_lines(write_suite, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "suites/digits-metrics.yaml").read_text()
    text = text.replace("lpips_diversity: {distance: digits-features", "lpips_diversity: {distance: lpips-squeeze")
    text = text.replace("fid_curve: {ns: [100,", "fid_curve: {ns: [1,").replace("fid: {bootstrap: 50}", "fid: {bootstrap: -1}")
    code, _, err = run_cli(["validate", str(write_suite(text))], capsys)
    assert code == 2
    assert "metrics.lpips_diversity.distance: Input should be 'auto', 'digits-features', 'lpips-alex' or 'lpips-vgg'" in err
    assert "metrics.fid_curve.ns.0: Input should be greater than or equal to 2 (got 1)" in err
    assert "metrics.fid.bootstrap: Input should be greater than or equal to 0 (got -1)" in err
    sanity = (ROOT / "suites/sanity.yaml").read_text().replace("kind: swirl, level: 1}", "kind: swril, level: 1}")
    code, _, err = run_cli(["validate", str(write_suite(sanity, "sanity.yaml"))], capsys)
    assert code == 2 and "models.swirl-1.args.kind: Input should be 'gaussian_noise'" in err


def test_near_copy_fraction_counts_a_partial_copier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """200 training images among 300 held-out ones (an .npz made elsewhere): 40 % copies, plus the ~5 % of
    fresh real images that fall under the threshold by design; the grid shows the copies first."""
    import numpy as np

    from bench.data import digits

    train, test = digits.load("train")[0], digits.load("test")[0]
    mix = np.concatenate([train[:200].numpy(), test[:300].numpy()])
    np.savez(tmp_path / "mix.npz", images=mix[np.random.default_rng(0).permutation(500)])
    (tmp_path / "s.yaml").write_text(
        "name: partial\ndatasets:\n  digits-train: {kind: digits, split: train}\n"
        "models:\n  partial:\n    adapter: npz\n    args: {path: mix.npz}\n"
        "tasks:\n  - name: t\n    reference: digits-train\n    n: 500\n    backbone: digits\n"
        "    metrics:\n      memorization: {train: digits-train, space: pixels, grid: 8}\n")
    code, _, _ = run_cli(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "r"), "--quiet", "--no-cache"], capsys)
    assert code == 0
    (run_dir,) = (tmp_path / "r" / "partial").iterdir()
    row = next(r for r in RunDir(run_dir).rows() if r["metric"] == "near_copy_fraction")
    assert row["extras"]["space"] == "pixels" and 0.40 < row["value"] < 0.45
    assert 0.40 < row["extras"]["spaces"]["features"]["near_copy_fraction"] < 0.45
    assert row["extras"]["spaces"]["pixels"]["nn_quantiles"]["0.25"] == 0.0  # a quarter and more are exact copies
    from PIL import Image

    grid = np.asarray(Image.open(run_dir / "samples" / "t" / "partial-nn.png"))
    assert grid.shape == (2 * (64 + 1) + 1, 8 * (64 + 1) + 1)  # 8 pairs, 4 per row, 8 px upscaled to 64
    assert (grid[1:65, 1:65] == grid[1:65, 66:130]).all()  # the closest sample is its training image
