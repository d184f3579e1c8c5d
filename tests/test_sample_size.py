"""Sample-size advice and ties: the n at which a bootstrap interval reaches a requested half-width
(``genbench table --target-ci``), checked against intervals measured at a larger n; models whose confidence
intervals overlap are tied in tables, the leaderboard and win rates instead of being ranked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bench.metrics.bootstrap import n_for_half_width
from bench.tables import html_tables, leaderboards, tie_ranks, to_markdown, win_rates
from tests.conftest import run_cli


def test_n_for_half_width_hand_computed() -> None:
    assert n_for_half_width(500, 9.0, 11.0, 0.5) == 2000  # half-width 1 -> 0.5 needs 4x the samples
    assert n_for_half_width(500, 9.0, 11.0, 2.0) == 125  # already narrower than asked: fewer would do
    with pytest.raises(ValueError):
        n_for_half_width(500, 9.0, 11.0, 0.0)


def test_predicted_n_matches_the_half_width_measured_at_larger_n() -> None:
    """FID on the digits features (d = 128): the interval at n = 600 predicts the n at which the half-width
    measured at n = 1,200 is reached within 25 %; from n = 150 (close to d) the prediction errs on the safe side
    (more samples than needed, at most 4x), and the plain 1/sqrt(n) rule more so."""
    from bench.backbones import get_backbone
    from bench.data.digits import load
    from bench.metrics.base import on_features
    from bench.metrics.distribution import FID

    b = get_backbone("digits")
    train, _ = load("train")
    test, _ = load("test")
    gen, ref = b.extract(train), b.extract(test)
    rows = {}
    for n in (150, 600, 1200):
        (v,) = on_features(FID({"bootstrap": 200}), {"pool": gen["pool"][:n]}, ref, layer="pool", seed=1)
        rows[n] = v
    target = (rows[1200].ci_high - rows[1200].ci_low) / 2

    def predict(n: int, two_point: bool = True) -> int:
        v = rows[n]
        bs = v.extras["bootstrap"]
        return n_for_half_width(n, v.ci_low, v.ci_high, target, bs["std"] if two_point else None, bs["std_half_n"])

    assert predict(600) == pytest.approx(1200, rel=0.25)
    assert 1200 <= predict(150, two_point=False)  # the 1/sqrt(n) rule: conservative
    four_x = (rows[600].ci_high - rows[600].ci_low) / 2
    from_150 = n_for_half_width(150, rows[150].ci_low, rows[150].ci_high, four_x, rows[150].extras["bootstrap"]["std"],
                                rows[150].extras["bootstrap"]["std_half_n"])
    plain = n_for_half_width(150, rows[150].ci_low, rows[150].ci_high, four_x)
    assert 600 <= from_150 <= min(plain, 4 * 600), (from_150, plain)


def _row(model: str, value: float, lo: float | None, hi: float | None, metric: str = "fid",
         higher: bool = False) -> dict[str, Any]:
    return {"run_id": "r", "suite": "s", "task": "t", "protocol_id": "p", "model": model, "dataset": "d",
            "metric": metric, "value": value, "ci_low": lo, "ci_high": hi, "n": 500, "backbone": "digits",
            "higher_is_better": higher, "unit": "", "seconds": 0.0,
            "extras": {"bootstrap": {"confidence": 0.95}} if lo is not None else {}}


def test_overlapping_intervals_are_tied_not_ranked() -> None:
    rows = [_row("a", 10.0, 9.0, 11.0), _row("b", 10.5, 9.8, 11.6), _row("c", 20.0, 19.0, 21.0),
            _row("d", 12.0, 11.5, 12.5)]
    (lb,) = leaderboards(rows)
    assert lb["ranks"]["fid"] == {"a": 1, "b": 1, "d": 2, "c": 4}  # d: beaten by a only (b's interval overlaps it)
    assert lb["best"]["fid"] == {"a", "b"} and lb["ties"]["fid"] == {"a", "b"}
    # a vs b and b vs d: half a point each; every clear separation a whole one
    assert lb["win_rate"].to_dict() == pytest.approx({"a": (0.5 + 1 + 1) / 3, "b": (0.5 + 0.5 + 1) / 3,
                                                      "d": (0 + 0.5 + 1) / 3, "c": 0.0})
    md = to_markdown(rows)
    assert md.count("(tied #1)") == 2 and "12 [11.5, 12.5] |" in md  # d shares no rank: shown plainly
    html = html_tables(rows)
    assert html.count('class="best tied"') == 2 and "tied #1 with b: confidence intervals overlap" in html


def test_without_intervals_values_rank_as_before() -> None:
    num = pd.DataFrame({"fid": [1.0, 2.0, 3.0]}, index=["x", "y", "z"])
    assert win_rates(num, {"fid": False}).to_dict() == {"x": 1.0, "y": 0.5, "z": 0.0}
    assert tie_ranks(num, {"fid": False}, {}) == {"fid": {"x": 1, "y": 2, "z": 3}}


def test_digits_leaderboard_shows_overlapping_models_as_tied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two held-out real samplings of the digits test split are the same model up to sampling noise: their 95 %
    FID intervals overlap and the leaderboard says tied; the mixture model and noise stay ranked below them."""
    suite = tmp_path / "ties.yaml"
    suite.write_text("""\
name: ties
seed: 0
datasets:
  digits-train: {kind: digits, split: train}
  digits-test: {kind: digits, split: test}
models:
  heldout-real: {adapter: dataset, args: {dataset: digits-test}}
  heldout-resampled: {adapter: dataset, args: {dataset: digits-test, replace: true}}
  noise: {adapter: noise, args: {shape: [1, 8, 8]}}
tasks:
  - name: unconditional
    reference: digits-train
    n: 400
    batch_size: 200
    metrics:
      fid: {bootstrap: 100}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet", "--report"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "r" / "ties").iterdir()
    code, out, _ = run_cli(["table", str(run), "--target-ci", "0.5"], capsys)
    assert code == 0
    line = {m: next(x for x in out.splitlines() if x.startswith(f"| {m} ")) for m in ("heldout-real", "heldout-resampled", "noise")}
    assert "(tied #1)" in line["heldout-real"] and "(tied #1)" in line["heldout-resampled"]
    assert "tied" not in line["noise"]
    assert "### Samples for a ± 0.5 interval" in out and "| unconditional | noise | fid | 400 |" in out
    page = (run / "report" / "index.html").read_text()
    assert page.count('class="best tied"') == 2
    code, _, err = run_cli(["table", str(run), "--target-ci", "0"], capsys)
    assert code == 2 and "must be positive" in err
