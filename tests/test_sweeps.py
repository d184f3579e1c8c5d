"""Sweeps (``sweep:`` beside a model's ``args:``): one model row per point, named ``model[arg=value]``, every point
with the swept model's seeds, errors at the sweep's line, and trade-off curves in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

SUITE = """name: sw
seed: 4
datasets: {{train: {{kind: digits, split: train}}}}
models:
  gmm:
    adapter: digits-gmm
    args: {{covariance: full}}
    {sweep}
  noise: {{adapter: noise, args: {{shape: [1, 8, 8]}}}}
output: {{grid: 0}}
tasks:
  - {{name: u, reference: train, n: 120, batch_size: 60, models: [gmm], metrics: [fid, isc, prc]}}
"""


def _rows(out: Path) -> dict[str, dict[str, float]]:
    (run,) = list((out / "sw").iterdir())
    rows: dict[str, dict[str, float]] = {}
    for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines()):
        rows.setdefault(r["model"], {})[r["metric"]] = r["value"]
    return rows


def test_a_sweep_is_one_model_per_point_with_the_swept_models_seeds(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    swept = tmp_path / "swept.yaml"
    swept.write_text(SUITE.format(sweep="sweep: {components: [2, 10]}"))
    code, out, err = run_cli(["run", str(swept), "--out", str(tmp_path / "a"), "--quiet"], capsys)
    assert code == 0, err
    rows = _rows(tmp_path / "a")
    assert list(rows) == ["gmm[components=2]", "gmm[components=10]"]  # the task named 'gmm': all its points
    assert rows["gmm[components=10]"]["fid"] < rows["gmm[components=2]"]["fid"]  # more components, closer to data
    # each point equals the model written by hand under the swept model's name (same seeds: same latents)
    for k in (2, 10):
        one = tmp_path / f"one{k}.yaml"
        one.write_text(SUITE.format(sweep="").replace("args: {covariance: full}",
                                                      f"args: {{covariance: full, components: {k}}}"))
        assert run_cli(["run", str(one), "--out", str(tmp_path / f"o{k}"), "--quiet"], capsys)[0] == 0
        assert _rows(tmp_path / f"o{k}")["gmm"] == rows[f"gmm[components={k}]"]
    code, _, _ = run_cli(["report", str(next((tmp_path / "a" / "sw").iterdir())), "--out", str(tmp_path / "r")],
                         capsys)
    html = (tmp_path / "r" / "index.html").read_text()
    assert code == 0 and "Sweep: fid vs isc (best fid ringed)" in html and "Sweep: precision vs recall" in html
    assert 'class="best"' in html and "best: components=10" in html  # the lower FID is ringed
    # and a browser draws it: the sweep's curve (a polyline through both points) and its ring in the rendered DOM
    from tests.test_report import _chromium, _headless

    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    dom = _headless(browser, tmp_path / "profile", "--dump-dom", (tmp_path / "r" / "index.html").resolve().as_uri())
    import re

    section = dom[dom.index("Sweep: fid vs isc"):]
    svg = section[section.index("<svg"): section.index("</svg>")]
    line = re.search(r'<polyline points="([^"]+)"', svg)
    assert line is not None and len(line.group(1).split()) == 2  # one vertex per sweep point
    assert svg.count('<circle class="best"') == 1 and ">components=10</text>" in svg  # labelled on the page


@pytest.mark.parametrize(("sweep", "message"), [
    ("sweep: {components: [2, 0]}", ":8: models.gmm[components=0].args.components:"),  # the sweep's own line
    ("sweep: {components: []}", "sweep 'components' has no values"),
    ("sweep: {covariance: [full, diag]}", "'covariance' is both in args and in sweep"),
    ("sweep: {components: [2, 2]}", "sweep 'components' repeats a value"),
])
def test_bad_sweeps_fail_validation_at_their_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], sweep: str,
                                                  message: str) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text(SUITE.format(sweep=sweep))
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and message in err, err
    assert "Traceback" not in err
