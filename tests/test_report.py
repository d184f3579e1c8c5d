"""Tables in every format, and the HTML leaderboard — the latter rendered in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from bench.report import pareto_front
from bench.results import unchecked
from bench.tables import leaderboards, load_runs, to_latex, win_rates

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def test_latex_bolds_best_by_direction(tiny_run: tuple[Path, Path]) -> None:
    rows = load_runs([tiny_run[1]])
    tex = to_latex(rows)
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"FID $\downarrow$" in tex  # the paper name, not the row name
    line = next(line for line in tex.splitlines() if line.startswith("heldout-real"))
    fid = next(r["value"] for r in rows if r["model"] == "heldout-real" and r["metric"] == "fid")
    assert rf"\textbf{{{fid:.4g}}}" in line  # lowest FID is bold
    noise = next(line for line in tex.splitlines() if line.startswith("noise"))
    assert r"$\pm$" in noise  # KID carries ± std
    lb = leaderboards(rows)[0]
    assert lb["win_rate"]["heldout-real"] > lb["win_rate"]["gmm"] > lb["win_rate"]["noise"]


def test_win_rate_and_pareto_values() -> None:
    import pandas as pd

    num = pd.DataFrame({"fid": [1.0, 2.0, 3.0], "recall": [0.9, 0.9, 0.1]}, index=["a", "b", "c"])
    wr = win_rates(num, {"fid": False, "recall": True})
    assert wr.to_dict() == {"a": (1.0 + 0.75) / 2, "b": (0.5 + 0.75) / 2, "c": 0.0}
    assert pareto_front([(10, 5), (20, 6), (5, 7), (15, 5)], maximize_x=True, minimize_y=True) == [(15, 5), (20, 6)]


def test_two_runs_side_by_side(tiny_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tiny_run[1]
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "rows.jsonl").write_text("".join(json.dumps(unchecked(json.loads(line.replace(run.name, "other-run"))))
                                              + "\n" for line in (run / "rows.jsonl").read_text().splitlines()))
    assert main(["table", str(run), str(other), "--format", "csv"]) == 0
    csv = capsys.readouterr().out
    assert f"gmm@{run.name}" in csv and "gmm@other-run" in csv
    assert main(["table", str(run), "--format", "html"]) == 0
    html = capsys.readouterr().out
    assert '<tr data-model="gmm">' in html and 'data-metric="fid" data-higher="0"' in html


def test_report_is_self_contained(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    assert main(["report", str(tiny_run[1]), "--out", str(tmp_path)]) == 0
    html = (tmp_path / "index.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing fetched from the network
    assert html.count("<svg") == 2  # quality-vs-speed, precision-vs-recall; the others skip with a note
    assert "skipped: every run used one sample count" in html and "skipped: no latency rows" in html


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _headless(browser: str, profile: Path, *args: str) -> str:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--virtual-time-budget=3000", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_report_renders_in_chromium(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium chromium-driver)")
    assert main(["report", str(tiny_run[1]), "--out", str(tmp_path)]) == 0
    url = (tmp_path / "index.html").resolve().as_uri()
    dom = _headless(browser, tmp_path / "profile", "--dump-dom", url)
    assert 'data-ready="1"' in dom  # the inline script ran to the end
    assert re.findall(r'<tr data-model="([^"]+)"', dom) == ["heldout-real", "gmm", "noise"]  # one row per model
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) == 3 and min(widths) > 0  # every embedded grid decoded
    worst = _headless(browser, tmp_path / "profile", "--dump-dom", url + "#sort=fid:worst")
    assert re.findall(r'<tr data-model="([^"]+)"', worst) == ["noise", "gmm", "heldout-real"]
    best = _headless(browser, tmp_path / "profile", "--dump-dom", url + "#sort=recall")
    assert re.findall(r'<tr data-model="([^"]+)"', best)[0] == "heldout-real"
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _headless(browser, tmp_path / "profile", "--hide-scrollbars", "--window-size=1280,1600", f"--screenshot={shot}", url)
    assert shot.stat().st_size > 10_000


def test_plots_for_sample_counts_and_latency() -> None:
    """FID-vs-n and latency-vs-batch plots appear only when their data exists, with one marker per point."""
    from bench.report import plots

    base = {"task": "t", "protocol_id": "p", "higher_is_better": False, "extras": {}}
    rows = [{**base, "model": m, "metric": "fid", "n": n, "value": v}
            for m, pts in {"a": [(100, 30.0), (200, 20.0), (400, 15.0)], "b": [(100, 50.0), (200, 45.0)]}.items()
            for n, v in pts]
    # as the perf task writes them: a variant per batch size, plus the single-stream summary (not plotted twice)
    rows += [{**base, "model": "a", "metric": f"latency_p50@bs{bs}", "n": 8, "value": 0.01 * bs, "extras": {"batch_size": bs}}
             for bs in (1, 4, 16)]
    rows += [{**base, "model": "a", "metric": "latency_p50", "n": 8, "value": 0.01, "extras": {"batch_size": 1}}]
    got = dict(plots(rows))
    fid_n = got["FID vs sample count (FID is biased in n)"]
    assert fid_n.count("<circle") == 5 and fid_n.count("<polyline") == 2
    assert got["Latency (p50) vs batch size"].count("<circle") == 3
    assert "skipped" in got["Precision vs recall"]


def test_report_bad_run_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "not a run folder" in err and "Traceback" not in err
