"""Reference statistics: FID from stored statistics equals FID from features, each tool's file format round-trips
through the tool's own reader/writer, and statistics are refused under another protocol (exit 2).

All on the embedded digits backbone (128-d features, 300 + 200 images): a few seconds on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.backbones import get_backbone
from bench.data import digits
from bench.metrics.frechet import frechet_distance, gaussian_stats
from bench.refstats import (
    build_reference,
    import_reference,
    load_reference,
    read_stats_file,
    write_stats_file,
)
from bench.score import score_images
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("refs")
    train, _ = digits.load("train")
    test, _ = digits.load("test")
    np.savez(root / "train.npz", images=train[:300].numpy())
    np.savez(root / "test.npz", images=test[:200].numpy())
    b = get_backbone("digits")
    feats_train = b.extract(train[:300])["pool"]
    feats_test = b.extract(test[:200])["pool"]
    return {"root": root, "train": root / "train.npz", "test": root / "test.npz", "f_train": feats_train, "f_test": feats_test}


def _fid(f1: np.ndarray, f2: np.ndarray) -> float:
    s1, s2 = gaussian_stats(f1), gaussian_stats(f2)
    return frechet_distance(s1.mu, s1.sigma, s2.mu, s2.sigma).value


def _fid_exact(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID through the nuclear norm of the centred cross-product (bench.metrics.frechet's module docstring): no
    square root of a rank-deficient matrix, so no round-off eigenvalue enters; the exact value to compare with."""
    x, y = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    xc, yc = x - x.mean(0), y - y.mean(0)
    m = xc @ yc.T / np.sqrt((len(x) - 1) * (len(y) - 1))
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + (xc * xc).sum() / (len(x) - 1) + (yc * yc).sum() / (len(y) - 1)
                 - 2 * np.linalg.svd(m, compute_uv=False).sum())


def _check_tool_stats(value: float, file: Path, data: dict[str, Any]) -> None:
    """A tool's statistics equal ours to 1e-12, and FID from them equals FID from features.

    Why two tolerances: the digits features are rank-deficient (dead ReLU units), so sqrt of near-zero eigenvalues
    turns a 1e-16 difference in sigma (np.cov vs our chunked sum) into ~1e-7 relative in FID. The statistics
    themselves agree to round-off, and FID from the tool's own file equals our Fréchet on that file to 1e-12."""
    mu, sigma = read_stats_file(file)
    ours = gaussian_stats(data["f_train"])
    np.testing.assert_allclose(mu, ours.mu, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sigma, ours.sigma, rtol=1e-10, atol=1e-12)
    from bench.metrics.frechet import frechet_distance_to_features, psd_sqrt

    # a statistics reference is scored reference-first with its (cached) square root, from the new set's features
    assert value == pytest.approx(frechet_distance_to_features(mu, sigma, psd_sqrt(sigma), data["f_test"]).value,
                                  rel=1e-12, abs=1e-12)
    assert value == pytest.approx(_fid(data["f_test"], data["f_train"]), rel=1e-6)


def test_fid_from_built_stats_equals_fid_from_features(data: dict[str, Any], empty_cache: Path) -> None:
    path, ref = build_reference("digits-train", str(data["train"]), "digits", progress=False)
    assert path == empty_cache / "refs" / "digits-train.npz" and ref.n == 300
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["protocol"]["backbone"] == "digits" and meta["protocol"]["weights_sha256"] and meta["n"] == 300
    kw: dict[str, Any] = {"progress": False, "cache": False}
    from_images = score_images(str(data["test"]), str(data["train"]), ["fid"], protocol="digits",
                               **kw)["metrics"]["fid"]["value"]
    from_name = score_images(str(data["test"]), "digits-train", ["fid"], **kw)
    from_file = score_images(str(data["test"]), str(path), ["fid"], **kw)["metrics"]["fid"]["value"]
    # statistics-only references: the reference's square root (cached by content) takes roots of its near-zero
    # eigenvalues (dead ReLU units, see _check_tool_stats), ~1e-7 relative; the features path is exact
    assert from_name["metrics"]["fid"]["value"] == pytest.approx(from_images, rel=1e-6)
    assert from_file == pytest.approx(from_name["metrics"]["fid"]["value"], abs=1e-12, rel=1e-12)
    assert from_file == pytest.approx(from_images, rel=1e-6)
    exact = _fid_exact(data["f_test"], data["f_train"])
    print(f"\nFID exact {exact!r}, genbench {from_images!r}, d x d generated-first {_fid(data['f_test'], data['f_train'])!r}")
    assert from_images == pytest.approx(exact, rel=1e-6)  # the d x d paths' rank-deficiency round-off, above
    assert _fid(data["f_test"], data["f_train"]) == pytest.approx(exact, rel=1e-6)
    assert from_images > 1.0  # held-out digits vs train: a real, non-trivial distance
    assert from_name["n"] == 200 and from_name["n_ref"] == 300
    assert from_name["protocol"]["reference"].startswith("stats:digits-train@")
    # statistics as A: FID is symmetric, so B's images are scored against them
    swapped = score_images("digits-train", str(data["test"]), ["fid"], **kw)
    assert swapped["metrics"]["fid"]["value"] == pytest.approx(from_images, rel=1e-6)
    assert (swapped["n"], swapped["n_ref"]) == (300, 200)


def test_clean_fid_files_round_trip(data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_cache: Path) -> None:
    """clean-fid's own writer (make_custom_stats) and reader (get_reference_statistics), redirected from its
    package folder to tmp_path; features are ours, the file handling and statistics are clean-fid's."""
    import cleanfid
    import cleanfid.features
    import cleanfid.fid

    monkeypatch.setattr(cleanfid, "__file__", str(tmp_path / "cleanfid" / "__init__.py"))
    monkeypatch.setattr(cleanfid.fid, "build_feature_extractor", lambda mode, device: None)
    monkeypatch.setattr(cleanfid.fid, "get_folder_features", lambda *a, **k: data["f_train"].astype(np.float64))
    cleanfid.fid.make_custom_stats("digits", str(tmp_path), mode="clean", device="cpu", verbose=False)
    theirs = tmp_path / "cleanfid" / "stats" / "digits_clean_custom_na.npz"
    import_reference("cf-digits", str(theirs), "digits", n=300, tool="clean-fid")
    kw: dict[str, Any] = {"progress": False, "cache": False}
    value = score_images(str(data["test"]), "cf-digits", ["fid"], **kw)["metrics"]["fid"]["value"]
    _check_tool_stats(value, theirs, data)
    # our export read back by clean-fid's reader
    path, _ = build_reference("ours", str(data["train"]), "digits", progress=False)
    write_stats_file(tmp_path / "cleanfid" / "stats" / "ours_clean_custom_na.npz", *read_stats_file(path))
    mu, sigma = cleanfid.features.get_reference_statistics("ours", 0, mode="clean", split="custom")
    ref = load_reference("ours")
    np.testing.assert_array_equal(mu, ref.mu)
    np.testing.assert_array_equal(sigma, ref.sigma)


def test_pytorch_fid_files_round_trip(data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_cache: Path) -> None:
    """pytorch-fid's save_fid_stats writes, its calculate_fid_given_paths reads ours (network stubbed: offline)."""
    pf = pytest.importorskip("pytorch_fid.fid_score")

    class NoNet:
        BLOCK_INDEX_BY_DIM = {128: 0}

        def __init__(self, *a: Any) -> None:
            pass

        def to(self, device: Any) -> NoNet:
            return self

    monkeypatch.setattr(pf, "InceptionV3", NoNet)
    monkeypatch.setattr(pf, "get_activations", lambda *a, **k: data["f_train"].astype(np.float64))
    (tmp_path / "imgs").mkdir()
    theirs = tmp_path / "pf_train.npz"
    pf.save_fid_stats([str(tmp_path / "imgs"), str(theirs)], 1, "cpu", 128)
    assert read_stats_file(theirs)[0].shape == (128,)
    path, _ = build_reference("ours", str(data["train"]), "digits", progress=False)
    # pytorch-fid reads our file and theirs: same statistics, so its own FID is ~0
    assert abs(pf.calculate_fid_given_paths([str(path), str(theirs)], 1, "cpu", 128)) < 1e-6
    import_reference("pf-digits", str(theirs), "digits", tool="pytorch-fid")
    value = score_images(str(data["test"]), "pf-digits", ["fid"], progress=False, cache=False)["metrics"]["fid"]["value"]
    _check_tool_stats(value, theirs, data)


def test_torch_fidelity_files_round_trip(data: dict[str, Any], tmp_path: Path, empty_cache: Path) -> None:
    """torch-fidelity's statistics cache entry (.pt of {mu, sigma}) in both directions, and its FID."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.utils import cache_lookup_one_recompute_on_miss, torch_atomic_save

    stat_train = fid_features_to_statistics(torch.from_numpy(data["f_train"].astype(np.float64)))
    stat_test = fid_features_to_statistics(torch.from_numpy(data["f_test"].astype(np.float64)))
    theirs = tmp_path / "digits-train-stat-fid-pool.pt"
    torch_atomic_save(stat_train, str(theirs))
    import_reference("tf-digits", str(theirs), "digits", tool="torch-fidelity")
    value = score_images(str(data["test"]), "tf-digits", ["fid"], progress=False, cache=False)["metrics"]["fid"]["value"]
    expected = fid_statistics_to_metric(stat_test, stat_train, verbose=False)["frechet_inception_distance"]
    assert value == pytest.approx(expected, rel=1e-6)
    _check_tool_stats(value, theirs, data)
    # `genbench ref export NAME x.pt` is read by torch-fidelity's own cache lookup (never recomputed)
    build_reference("ours", str(data["train"]), "digits", progress=False)
    assert run_cli_ok(["ref", "export", "ours", str(tmp_path / "ours-stat-fid-pool.pt")])
    got = cache_lookup_one_recompute_on_miss("ours-stat-fid-pool", lambda: pytest.fail("recomputed"), cache=True,
                                             cache_root=str(tmp_path), verbose=False)
    np.testing.assert_array_equal(got["mu"], load_reference("ours").mu)


def run_cli_ok(args: list[str]) -> bool:
    from bench.cli import main

    return main(args) == 0


SUITE = """\
datasets:
  real: {{kind: stats, {ref}}}
  test: {{kind: npz, path: {test}}}
models:
  heldout: {{adapter: dataset, args: {{dataset: test}}}}
tasks:
  - {{name: gen, reference: real, n: 100, {proto}, metrics: [{metrics}]}}
output: {{grid: 0}}
"""


def test_protocol_mismatch_and_stats_only_refused_via_cli(data: dict[str, Any], tmp_path: Path, empty_cache: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["ref", "build", "digits-train", "--from", str(data["train"]), "--protocol", "digits", "--quiet"], capsys)
    assert code == 0 and "n=300" in out
    code, out, _ = run_cli(["ref", "list"], capsys)
    assert "digits-train  protocol digits" in out
    suite = tmp_path / "s.yaml"
    # a different protocol at validate time: the statistics record backbone digits
    suite.write_text(SUITE.format(ref="ref: digits-train", test=data["test"], proto="protocol: tf-compat", metrics="fid"))
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and "statistics made under protocol 'digits'" in err and "inception-v3-compat" in err
    # metrics that need reference features are refused, naming the metric
    suite.write_text(SUITE.format(ref="ref: digits-train", test=data["test"], proto="backbone: digits", metrics="fid, kid"))
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and "metric 'kid' needs the reference's features" in err
    # the same suite with FID only runs
    suite.write_text(SUITE.format(ref="ref: digits-train", test=data["test"], proto="backbone: digits", metrics="fid"))
    code, out, err = run_cli(["run", str(suite), "--out", str(tmp_path / "res"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    # same backbone, different weights file: refused at run time by the weights sha256, exit 2
    other = tmp_path / "other.pt"
    sd = torch.load(Path(__import__("bench.backbones.digits", fromlist=["x"]).WEIGHTS_FILE), weights_only=True)
    torch.save({k: v + 0.01 if v.is_floating_point() else v for k, v in sd.items()}, other)
    code, _, err = run_cli(["score", "images", str(data["test"]), "digits-train", "--weights", str(other), "--no-cache"], capsys)
    assert code == 2 and "different protocol (weights_sha256" in err
    # a tool's bare file needs a declared protocol
    bare = tmp_path / "bare.npz"
    write_stats_file(bare, *read_stats_file(empty_cache / "refs" / "digits-train.npz"))
    suite.write_text(SUITE.format(ref=f"path: {bare}", test=data["test"], proto="backbone: digits", metrics="fid"))
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and "without a sidecar" in err
    suite.write_text(SUITE.format(ref=f"path: {bare}, protocol: digits", test=data["test"], proto="backbone: digits", metrics="fid"))
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 0, err
