"""`genbench score images` through the CLI: same engine and numbers as suites."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from bench.backbones.digits import DigitsBackbone
from bench.data import digits
from bench.images import save_png
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("sets")
    (d / "gen").mkdir()
    x, _ = digits.load("test")
    y, _ = digits.load("train")
    for i in range(300):
        save_png(x[i], d / "gen" / f"{i:04d}.png")
    np.savez(d / "real.npz", samples=y.numpy())
    return d / "gen", d / "real.npz"


def test_score_images_json_equals_reference_fid(sets: tuple[Path, Path], capsys) -> None:
    gen, real = sets
    code, out, err = run_cli(["score", "images", str(gen), str(real), "--fid", "--prc", "--json", "--protocol", "digits"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["n"] == 300 and res["n_ref"] == 1200
    assert set(res["metrics"]) == {"fid", "precision", "recall", "f_score"}
    assert res["protocol"]["backbone"] == "digits" and len(res["protocol_id"]) == 12
    b = DigitsBackbone()
    fg = torch.from_numpy(b.extract(digits.load("test")[0][:300])["pool"])
    fr = torch.from_numpy(b.extract(digits.load("train")[0])["pool"])
    expected = fid_statistics_to_metric(fid_features_to_statistics(fg), fid_features_to_statistics(fr), verbose=False)
    # singular digits covariances: equal up to round-off (see test_frechet_and_metrics.py)
    assert res["metrics"]["fid"]["value"] == pytest.approx(expected["frechet_inception_distance"], rel=1e-5)
    assert res["metrics"]["fid"]["higher_is_better"] is False


def test_score_leaves_no_run_folder_behind_unless_asked(sets: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    """Without --out the run folder is temporary: removed when the command ends, with bad input too (the numbers are
    printed, the features cached). With --out it is kept where asked."""
    import tempfile

    gen, real = sets
    before = set(Path(tempfile.gettempdir()).iterdir())
    code, out, err = run_cli(["score", "images", str(gen), str(real), "--n", "50", "--json", "--protocol", "digits"], capsys)
    assert code == 0, err
    assert json.loads(out)["run_dir"] is None
    code, _, err = run_cli(["score", "pairs", str(gen), str(gen), "--l1", "--json"], capsys)
    assert code == 0, err
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        save_png(digits.load("test")[0][i], bad / f"{i:04d}.png")
    (bad / "0003.png").write_bytes(b"not a png")  # fails inside the run, after its folder was made
    code, _, err = run_cli(["score", "images", str(bad), str(real), "--protocol", "digits"], capsys)
    assert code == 2 and "0003.png" in err
    code, _, err = run_cli(["score", "images", str(gen), str(real), "--n", "1", "--protocol", "digits"], capsys)
    assert code == 2 and "needs at least 2" in err
    assert set(Path(tempfile.gettempdir()).iterdir()) == before
    code, out, _ = run_cli(["score", "images", str(gen), str(real), "--n", "50", "--json", "--out", str(tmp_path / "k"), "--protocol", "digits"],
                           capsys)
    assert code == 0 and Path(json.loads(out)["run_dir"]).is_relative_to(tmp_path / "k")
    assert (Path(json.loads(out)["run_dir"]) / "rows.jsonl").is_file()


def test_score_images_defaults_to_fid_and_prints_a_table(sets: tuple[Path, Path], capsys) -> None:
    gen, real = sets
    code, out, _ = run_cli(["score", "images", str(gen), str(real), "--n", "100", "--protocol", "digits"], capsys)
    assert code == 0
    assert "n=100" in out and "fid" in out and "precision" not in out


def test_score_images_bad_inputs(sets: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    gen, real = sets
    code, _, err = run_cli(["score", "images", str(tmp_path / "nope"), str(real), "--protocol", "digits"], capsys)
    assert code == 2 and "nope: no such folder or file" in err
    code, _, err = run_cli(["score", "images", str(gen), str(real), "--n", "5000", "--protocol", "digits"], capsys)
    assert code == 2 and "holds 300 samples, fewer than --n 5000" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["score", "images", str(tmp_path / "empty"), str(real), "--protocol", "digits"], capsys)
    assert code == 2 and "empty: no image files" in err


@pytest.mark.parametrize("kind", ["images", "pairs", "cycle", "captions", "retrieval"])
def test_every_score_command_help_shows_an_example(kind: str, capsys) -> None:
    from bench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["score", kind, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and f"genbench score {kind} " in out and "--json" in out
