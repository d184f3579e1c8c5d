"""``genbench compare``: bootstrap significance on cached features, paired tests, protocol refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.compare import compare_runs
from bench.results import unchecked


def _copy_run(run: Path, dest: Path, edit=None) -> Path:  # type: ignore[no-untyped-def]
    dest.mkdir()
    rows = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        r["run_id"] = dest.name
        if edit:
            edit(r, rows)
    (dest / "rows.jsonl").write_text("".join(json.dumps(unchecked(r)) + "\n" for r in rows))
    (dest / "manifest.json").write_text((run / "manifest.json").read_text())
    return dest


def test_bootstrap_flags_real_change_not_identity(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, run = tiny_run
    noise = {r["metric"]: r for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines()) if r["model"] == "noise"}

    def gmm_becomes_noise(r, rows):  # type: ignore[no-untyped-def]
        if r["model"] == "gmm":
            r["value"] = noise[r["metric"]]["value"]
            r["extras"] = noise[r["metric"]]["extras"]

    b = _copy_run(run, tmp_path / "b", gmm_becomes_noise)
    deltas = {(d.model, d.metric): d for d in compare_runs(run, b, n_boot=30)}
    gmm = deltas[("gmm", "fid")]
    assert gmm.test == "bootstrap ×30" and gmm.delta > 100 and gmm.ci_low > 0 and gmm.verdict == "worse"
    same = deltas[("heldout-real", "fid")]
    assert same.delta == 0 and same.ci_low < 0 < same.ci_high and same.verdict == "no significant change"
    assert deltas[("gmm", "precision")].verdict == "untested"


def test_paired_test_on_per_sample_scores(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    _, run = tiny_run

    def scores(shift):  # type: ignore[no-untyped-def]
        def edit(r, rows):  # type: ignore[no-untyped-def]
            if r["metric"] == "precision":
                r["extras"]["per_sample"] = [0.5 + 0.01 * (i % 7) + shift for i in range(40)]
        return edit

    a = _copy_run(run, tmp_path / "a", scores(0.0))
    b = _copy_run(run, tmp_path / "b", scores(0.05))
    d = {(x.model, x.metric): x for x in compare_runs(a, b, n_boot=10)}[("gmm", "precision")]
    assert d.test == "paired Wilcoxon" and d.p_value < 1e-6 and d.significant


def test_compare_refuses_other_protocol(tiny_run: tuple[Path, Path], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    _, run = tiny_run

    def other(r, rows):  # type: ignore[no-untyped-def]
        r["protocol_id"] = "ffffffffffff"

    b = _copy_run(run, tmp_path / "b", other)
    assert main(["compare", str(run), str(b)]) == 2
    assert "different protocols" in capsys.readouterr().err
    assert main(["compare", str(run), str(tmp_path / "missing")]) == 2


def test_paired_test_reads_per_image_scores_of_real_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two `score pairs` runs of the same ground truth: slightly vs heavily corrupted outputs. compare finds the
    translation task's per-image scores on disk and runs the paired Wilcoxon test on them."""
    import numpy as np
    import torch

    from bench.data import digits
    from bench.images import save_png
    from tests.conftest import run_cli

    x, _ = digits.load("test")
    rng = np.random.default_rng(0)
    for name, sd in (("gt", 0), ("small", 8), ("large", 60)):
        for i in range(40):
            img = x[i].numpy().astype(float) + rng.normal(0, sd, x[i].shape) if sd else x[i].numpy()
            save_png(torch.from_numpy(np.clip(img, 0, 255).astype(np.uint8)), _mk(tmp_path / name) / f"{i:03d}.png")
    runs = []
    for name in ("small", "large"):
        code, _, err = run_cli(["score", "pairs", str(tmp_path / name), str(tmp_path / "gt"), "--l1",
                                "--out", str(tmp_path / f"runs-{name}"), "--json"], capsys)
        assert code == 0, err
        runs.append(next((tmp_path / f"runs-{name}").glob("*/*")))
    deltas = {d.metric: d for d in compare_runs(runs[0], runs[1])}
    assert deltas["l1"].test == "paired Wilcoxon"
    assert deltas["l1"].p_value is not None and deltas["l1"].p_value < 1e-6 and deltas["l1"].b > deltas["l1"].a
    code, out, _ = run_cli(["compare", str(runs[0]), str(runs[1])], capsys)
    assert code in (0, 1) and "paired Wilcoxon" in out


def _mk(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p
