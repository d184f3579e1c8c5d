"""The quickstart through the real CLI: orderings, reproducibility, batch-size invariance, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.results import RunDir
from tests.conftest import ROOT, run_cli


def _values(run_dir: Path) -> dict[tuple[str, str], float]:
    """Quality values (the speed task's timings differ from run to run by nature)."""
    return {(r["model"], r["metric"]): r["value"] for r in RunDir(run_dir).rows() if r["task"] == "unconditional"}


def _only_run(out: Path, suite: str = "quickstart") -> Path:
    runs = sorted((out / suite).iterdir())
    assert len(runs) == 1
    return runs[0]


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.cli import main

    out = tmp_path_factory.mktemp("results")
    assert main(["run", str(ROOT / "suites/quickstart.yaml"), "--out", str(out), "--quiet", "--no-cache", "--report"]) == 0
    return _only_run(out)


def test_quickstart_orderings(quickstart_run: Path) -> None:
    v = _values(quickstart_run)
    models = ["heldout-real", "gmm", "mode-drop", "noise"]
    fid = {m: v[(m, "fid")] for m in models}
    assert min(fid, key=fid.get) == "heldout-real"
    assert max(fid, key=fid.get) == "noise"
    assert fid["heldout-real"] < fid["gmm"] < fid["mode-drop"] < fid["noise"]
    # mode dropping keeps precision (its samples are real) but loses recall
    assert v[("mode-drop", "recall")] < 0.5 * v[("heldout-real", "recall")]
    assert v[("mode-drop", "precision")] > 0.8
    assert v[("heldout-real", "isc")] > v[("mode-drop", "isc")]
    kid = {m: v[(m, "kid")] for m in models}
    assert min(kid, key=kid.get) == "heldout-real" and max(kid, key=kid.get) == "noise"


def test_quickstart_run_folder(quickstart_run: Path) -> None:
    manifest = json.loads((quickstart_run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["errors"] == []
    for key in ("suite_hash", "seed", "versions", "git_sha", "hardware", "backbones"):
        assert key in manifest
    assert manifest["versions"]["torch-fidelity"] == "0.4.0"
    rows = [r for r in RunDir(quickstart_run).rows() if r["task"] == "unconditional"]
    assert len(rows) == 4 * 6  # 4 models x (fid, kid, isc, precision, recall, f_score)
    r = next(r for r in rows if r["metric"] == "fid")
    for key in ("run_id", "suite", "task", "model", "dataset", "metric", "value", "ci_low", "ci_high", "n", "backbone",
                "higher_is_better", "unit", "seconds", "extras", "protocol"):
        assert key in r
    assert r["higher_is_better"] is False and r["n"] == 500
    assert r["protocol"]["weights_sha256"] == manifest["backbones"]["digits"]["weights_sha256"]
    table = (quickstart_run / "table.md").read_text()
    assert "fid ↓" in table and "recall ↑" in table and "heldout-real" in table
    assert (quickstart_run / "table.csv").read_text().startswith("run_id,")
    assert (quickstart_run / "samples" / "unconditional" / "gmm.png").stat().st_size > 100
    html = (quickstart_run / "report" / "index.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "Quality vs speed" in html


def test_rerun_reproduces_exactly_and_batch_size_does_not_matter(quickstart_run: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "suites/quickstart.yaml").read_text().replace("batch_size: 250", "batch_size: 37")
    suite = tmp_path / "quickstart.yaml"
    suite.write_text(text)
    code, out, _ = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 0
    assert "| heldout-real |" in out  # the table is printed
    assert _values(_only_run(tmp_path / "r")) == _values(quickstart_run)


def test_resume_skips_finished_models(quickstart_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run killed after two models resumes with the other two, and ends with the same numbers."""
    partial = tmp_path / "partial"
    shutil.copytree(quickstart_run, partial)
    rows = [r for r in RunDir(partial).row_dicts() if r["model"] in ("heldout-real", "gmm")]
    (partial / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn": ')
    code, _, err = run_cli(["run", str(ROOT / "suites/quickstart.yaml"), "--resume", str(partial), "--quiet"], capsys)
    assert code == 0
    assert "heldout-real: already in" in err and "gmm: already in" in err
    assert _values(partial) == _values(quickstart_run)


def test_resume_refuses_other_suite(quickstart_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "quickstart.yaml"
    suite.write_text((ROOT / "suites/quickstart.yaml").read_text().replace("seed: 0", "seed: 1"))
    partial = tmp_path / "p"
    shutil.copytree(quickstart_run, partial)
    code, _, err = run_cli(["run", str(suite), "--resume", str(partial), "--quiet"], capsys)
    assert code == 2 and "different suite" in err


def test_committed_baseline_gates_a_fresh_quickstart_run(quickstart_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The committed baseline must stay comparable with what the code computes (same protocol ids): after a
    change of protocol record it has to be regenerated with `genbench baseline save`."""
    code, out, err = run_cli(["check", str(ROOT / "suites/quickstart.yaml"), "--baseline",
                              str(ROOT / "results/baselines/quickstart.json"), "--run", str(quickstart_run)], capsys)
    assert code == 0, out + err
