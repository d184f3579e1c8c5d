"""suites/translation.yaml through the CLI: the leaderboard orderings the baselines exist to show."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.translation import measures
from tests.conftest import ROOT, run_cli

SUITE = ROOT / "suites" / "translation.yaml"


def _rows(out_dir: Path) -> dict[tuple[str, str, str], float | None]:
    (rows_file,) = out_dir.rglob("rows.jsonl")
    return {(r["task"], r["model"], r["metric"]): r["value"] for r in map(json.loads, rows_file.read_text().splitlines())}


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[tuple[str, str, str], float | None], Path]:
    """The shipped suite with n = 200 inputs per task (same models, metrics and seeds: fast enough to run always)."""
    d = tmp_path_factory.mktemp("translation")
    spec = yaml.safe_load(SUITE.read_text())
    for t in spec["tasks"]:
        t["n"] = 200
    suite = d / "translation.yaml"
    suite.write_text(yaml.safe_dump(spec, sort_keys=False))
    import os

    os.environ.setdefault("GENBENCH_OFFLINE", "1")
    from bench.cli import main

    assert main(["run", str(suite), "--out", str(d / "out"), "--quiet", "--no-cache"]) == 0
    return _rows(d / "out"), d / "out"


def test_identity_wins_cycle_and_loses_fid(board) -> None:
    rows, _ = board
    for task, models in (("edges2digits", ["pix2pix", "blurred-oracle", "identity", "copier-edges"]),
                         ("thin2thick", ["cyclegan", "identity", "copier-strokes"])):
        for tag in ("aba", "bab"):
            cyc = {m: rows[(task, m, f"cycle_l1_{tag}")] for m in models}
            assert cyc["identity"] == 0.0 and all(v > 0 for m, v in cyc.items() if m != "identity")
            assert rows[(task, "identity", f"cycle_perceptual_digits_{tag}")] == 0.0
        fid = {m: rows[(task, m, "fid")] for m in models}
        assert max(fid, key=fid.get) == "identity", fid
        assert rows[(task, "identity", "identity_l1")] == 0.0


def test_copier_wins_fid_and_loses_paired_metrics_and_labels(board) -> None:
    rows, _ = board
    for task, copier, models in (("edges2digits", "copier-edges", ["pix2pix", "blurred-oracle", "identity"]),
                                 ("thin2thick", "copier-strokes", ["cyclegan", "identity"])):
        fid = {m: rows[(task, m, "fid")] for m in [*models, copier]}
        assert min(fid, key=fid.get) == copier, fid
        labels = {m: rows[(task, m, "label_preservation")] for m in [*models, copier]}
        assert min(labels, key=labels.get) == copier, labels
        assert rows[(task, copier, "label_preservation")] < 0.2  # chance is 0.1
    for good in ("pix2pix", "blurred-oracle"):
        assert rows[("edges2digits", "copier-edges", "l1")] > 2 * rows[("edges2digits", good, "l1")]
        assert rows[("edges2digits", "copier-edges", "psnr")] < rows[("edges2digits", good, "psnr")] - 5
        assert rows[("edges2digits", "copier-edges", "ssim")] < rows[("edges2digits", good, "ssim")] - 0.3
        assert rows[("edges2digits", "copier-edges", "perceptual_digits")] > 5 * rows[("edges2digits", good, "perceptual_digits")]


def test_zoo_quality_and_reported_values(board) -> None:
    rows, out = board
    assert rows[("edges2digits", "pix2pix", "label_preservation")] > 0.9
    assert rows[("edges2digits", "pix2pix", "l1")] < 0.06
    assert rows[("thin2thick", "cyclegan", "fid")] < rows[("thin2thick", "identity", "fid")] / 5
    assert rows[("edges2digits", "pix2pix", "diversity_perceptual_digits")] > 0  # the noise channel is barely used
    assert rows[("thin2thick", "cyclegan", "diversity_perceptual_digits")] == 0.0  # deterministic
    assert rows[("edges2digits", "pix2pix", "ms_ssim")] is None
    # the row equals the per-sample file's mean, and the per-image L1 equals a direct computation on the zoo model
    (per_file,) = out.rglob("per_sample/edges2digits/pix2pix.json")
    per = json.loads(per_file.read_text())
    assert len(per["sample_ids"]) == 200 and len(per["l1"]) == 200
    l1 = np.array(per["l1"])
    assert l1.mean() == pytest.approx(rows[("edges2digits", "pix2pix", "l1")], rel=1e-12)
    from bench.data import digits
    from bench.seeding import model_seed, sample_seeds
    from bench.translation.data import edge_map
    from bench.translation.zoo import load_zoo

    x, _ = digits.load("test")
    seeds = sample_seeds(model_seed(0, "pix2pix", "a2b", "main"), 0, 200)  # seeded by model, not task
    direct = measures.l1(load_zoo("pix2pix-edges").translate(edge_map(x[:200]), "a2b", seeds), x[:200])
    np.testing.assert_allclose(l1, direct, rtol=1e-12)


@pytest.mark.slow
def test_shipped_suite_runs_unchanged(tmp_path: Path, capsys) -> None:
    code, out, err = run_cli(["run", str(SUITE), "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 0, err
    rows = _rows(tmp_path)
    assert rows[("edges2digits", "copier-edges", "fid")] < rows[("edges2digits", "pix2pix", "fid")]
