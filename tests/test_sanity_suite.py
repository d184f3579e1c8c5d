"""suites/sanity.yaml through the CLI: FID (and KID) rise monotonically with the level of every disturbance of
the FID paper. The default test runs the suite file with n = 250 and FID only (fast); the slow one runs it as
written (n = 500, FID and KID)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from bench.adapters.disturbances import KINDS, disturb, disturb_batch

from bench.data import digits
from bench.results import RunDir
from tests.conftest import ROOT, run_cli

LEVELS = ("0.25", "0.5", "0.75", "1")


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> dict[tuple[str, str], float]:
    suite = tmp_path / "sanity.yaml"
    suite.write_text(text)
    code, _, _ = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet", "--no-cache"], capsys)
    assert code == 0
    (run_dir,) = sorted((tmp_path / "r" / "sanity").iterdir())
    return {(r["model"], r["metric"]): r["value"] for r in RunDir(run_dir).rows()}


def _assert_monotone(values: dict[tuple[str, str], float], metric: str) -> None:
    for kind in KINDS:
        curve = [values[("clean", metric)]] + [values[(f"{kind.replace('_', '-')}-{lv}", metric)] for lv in LEVELS]
        assert all(a < b for a, b in zip(curve, curve[1:], strict=False)), f"{metric} not increasing for {kind}: {curve}"


def test_fid_rises_with_every_disturbance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (ROOT / "suites/sanity.yaml").read_text().replace("n: 500", "n: 250")
    text = "\n".join(ln for ln in text.splitlines() if "kid:" not in ln) + "\n"
    values = _run(tmp_path, capsys, text)
    _assert_monotone(values, "fid")
    assert values[("clean", "fid")] < 25 and min(values[(f"{k.replace('_', '-')}-1", "fid")] for k in KINDS) > 400


@pytest.mark.slow
def test_sanity_suite_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = _run(tmp_path, capsys, (ROOT / "suites/sanity.yaml").read_text())
    _assert_monotone(values, "fid")
    _assert_monotone(values, "kid")


def test_disturbances_are_seeded_and_level_zero_is_identity() -> None:
    x = digits.load("test")[0][:20]
    seeds = list(range(20))
    for kind in KINDS:
        assert torch.equal(disturb_batch(x, kind, 0.0, seeds), x)
        a, b = disturb_batch(x, kind, 0.5, seeds), disturb_batch(x, kind, 0.5, seeds)
        assert torch.equal(a, b) and a.dtype == torch.uint8 and a.shape == x.shape and not torch.equal(a, x)
        assert torch.equal(disturb(x[3], kind, 0.5, 3), a[3])  # batch and single-image paths agree
    sp = disturb_batch(x, "salt_pepper", 1.0, seeds)
    changed = (sp != x).float().mean().item()
    assert 0.2 < changed < 0.5  # half the pixels hit, some already at the value drawn
