"""The CI gate through the CLI: exit codes, values in the reports, and refusal of mismatched protocols."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.cli import main
from bench.results import unchecked
from tests.conftest import NOISE_AS_GMM, write_tiny


@pytest.fixture(scope="module")
def baseline(tiny_run: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, run = tiny_run
    d = tmp_path_factory.mktemp("baselines")
    assert main(["baseline", "save", str(run), "tiny", "--dir", str(d)]) == 0
    return d / "tiny.json"


def test_baseline_file_holds_run_values(baseline: Path, tiny_run: tuple[Path, Path]) -> None:
    data = json.loads(baseline.read_text())
    rows = {(r["model"], r["metric"]): r for r in data["rows"]}
    run_rows = [json.loads(line) for line in (tiny_run[1] / "rows.jsonl").read_text().splitlines()]
    fid = next(r for r in run_rows if r["model"] == "gmm" and r["metric"] == "fid")
    assert rows[("gmm", "fid")]["value"] == fid["value"]
    assert rows[("gmm", "fid")]["higher_is_better"] is False
    assert rows[("noise", "kid")]["std"] > 0
    assert data["run_id"] == tiny_run[1].name


def test_gate_passes_on_rerun_of_same_suite(baseline: Path, tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    suite, _ = tiny_run
    junit, summary = tmp_path / "check.xml", tmp_path / "check.md"
    rc = main(["check", str(suite), "--baseline", str(baseline), "--out", str(tmp_path / "results"), "--quiet",
               "--junit", str(junit), "--summary", str(summary)])
    assert rc == 0
    tree = ET.parse(junit).getroot()
    assert tree.get("failures") == "0"
    assert int(tree.get("tests")) == 3 * 5  # 3 models × (fid, kid, precision, recall, f_score)
    assert int(tree.get("skipped")) == 3  # f_score has no rule: informational
    assert "✅ passed" in summary.read_text()


def test_gate_fails_on_degraded_model(baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_tiny(tmp_path, gmm=NOISE_AS_GMM)  # "gmm" silently replaced by noise
    junit = tmp_path / "check.xml"
    rc = main(["check", str(suite), "--baseline", str(baseline), "--out", str(tmp_path / "results"), "--quiet",
               "--junit", str(junit)])
    assert rc == 1
    failures = {c.get("name") for c in ET.parse(junit).getroot() if c.find("failure") is not None}
    assert "unconditional/gmm/fid" in failures and "unconditional/gmm/recall" in failures
    assert not any(f.startswith("unconditional/noise/") or "heldout" in f for f in failures)
    out = capsys.readouterr().out
    assert "❌ failed" in out and "regression" in out


def test_gate_tolerates_seed_noise(baseline: Path, tmp_path: Path) -> None:
    suite = write_tiny(tmp_path, seed=1)
    summary = tmp_path / "check.md"
    rc = main(["check", str(suite), "--baseline", str(baseline), "--out", str(tmp_path / "results"), "--quiet",
               "--summary", str(summary)])
    assert rc == 0, summary.read_text()
    # the values did move: the gate passed because of the bands, not because nothing changed
    run = next((tmp_path / "results" / "tiny").iterdir())
    base = {(r["model"], r["metric"]): r["value"] for r in json.loads(baseline.read_text())["rows"]}
    now = {(r["model"], r["metric"]): r["value"] for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines())}
    assert now[("gmm", "fid")] != base[("gmm", "fid")]


def test_two_sided_window_flags_too_good(baseline: Path, tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    """A noise model whose FID suddenly drops far below its baseline fails a two-sided rule."""
    suite, run = tiny_run
    fake = tmp_path / "run"
    fake.mkdir()
    rows = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        if r["model"] == "noise" and r["metric"] == "fid":
            r["value"] = r["value"] * 0.2
    (fake / "rows.jsonl").write_text("".join(json.dumps(unchecked(r)) + "\n" for r in rows))
    rc = main(["check", str(suite), "--baseline", str(baseline), "--run", str(fake), "--summary", str(tmp_path / "s.md")])
    assert rc == 1
    assert "suspiciously better" in (tmp_path / "s.md").read_text()


def test_protocol_mismatch_exits_2(baseline: Path, tiny_run: tuple[Path, Path], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = tiny_run
    fake = tmp_path / "run"
    fake.mkdir()
    rows = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        r["protocol_id"] = "000000000000"
    (fake / "rows.jsonl").write_text("".join(json.dumps(unchecked(r)) + "\n" for r in rows))
    assert main(["check", str(suite), "--baseline", str(baseline), "--run", str(fake)]) == 2
    err = capsys.readouterr().err
    assert "different protocols" in err and "Traceback" not in err


def test_bad_inputs_exit_2(tiny_run: tuple[Path, Path], baseline: Path, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = tiny_run
    assert main(["check", str(suite), "--baseline", str(tmp_path / "nope.json"), "--run", str(run)]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text(suite.read_text().replace("fid: {abs: 5", "fdi: {abs: 5"))
    assert main(["check", str(bad), "--baseline", str(baseline), "--run", str(run)]) == 2
    assert "did you mean 'fid'" in capsys.readouterr().err
    bad.write_text(suite.read_text().replace("two_sided: true}\n    kid", "two_sided: true, tol: 1}\n    kid"))
    assert main(["validate", str(bad)]) == 2


def test_window_only_rule_gates_just_its_model(baseline: Path, tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    suite, run = tiny_run
    text = suite.read_text().split("check:")[0]
    gmm_fid = next(r["value"] for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines())
                   if r["model"] == "gmm" and r["metric"] == "fid")
    ok = tmp_path / "ok.yaml"
    ok.write_text(text + f"check:\n  metrics:\n    fid: {{windows: {{gmm: [{gmm_fid - 1}, {gmm_fid + 1}]}}}}\n")
    assert main(["check", str(ok), "--baseline", str(baseline), "--run", str(run), "--junit", str(tmp_path / "j.xml"),
                 "--summary", str(tmp_path / "s.md")]) == 0
    assert ET.parse(tmp_path / "j.xml").getroot().get("skipped") == str(3 * 5 - 1)  # only gmm/fid gated
    tight = tmp_path / "tight.yaml"
    tight.write_text(text + f"check:\n  metrics:\n    fid: {{windows: {{gmm: [0, {gmm_fid - 1}]}}}}\n")
    assert main(["check", str(tight), "--baseline", str(baseline), "--run", str(run), "--summary", str(tmp_path / "s.md")]) == 1
    empty = tmp_path / "empty.yaml"
    empty.write_text(text + "check:\n  metrics:\n    fid: {two_sided: true}\n")
    assert main(["validate", str(empty)]) == 2


def test_changed_n_is_refused_before_running_and_named(baseline: Path, tiny_run: tuple[Path, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = tiny_run
    changed = tmp_path / "tiny.yaml"
    changed.write_text(suite.read_text().replace("n: 200", "n: 150"))
    assert main(["check", str(changed), "--baseline", str(baseline), "--out", str(tmp_path / "results"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "refusing before running" in err and "n: baseline 200, suite 150" in err
    assert not (tmp_path / "results").exists()  # nothing was run
    # a run folder of another protocol names the fields that differ, not only the hashes
    fake = tmp_path / "run"
    fake.mkdir()
    rows = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        if r.get("protocol"):
            r["protocol"] = {**r["protocol"], "n": 150}
            r["protocol_id"] = "000000000000"
    (fake / "rows.jsonl").write_text("".join(json.dumps(unchecked(r)) + "\n" for r in rows))
    assert main(["check", str(suite), "--baseline", str(baseline), "--run", str(fake)]) == 2
    assert "n: baseline 200, run 150" in capsys.readouterr().err


def test_noisy_timing_verdict_says_so() -> None:
    from types import SimpleNamespace

    from bench.check import evaluate
    from bench.suite import CheckRule

    base = {"rows": [{"task": "speed", "model": "m", "metric": "throughput", "value": 100.0, "higher_is_better": True,
                      "protocol_id": "p"}], "protocols": {}}
    run = [{"task": "speed", "model": "m", "metric": "throughput", "value": 99.0, "higher_is_better": True,
            "protocol_id": "p", "extras": {"noisy": "throughput of 5 repeats spreads 40% (range/median) > 10%"}}]
    (v,) = evaluate(run, base, SimpleNamespace(metrics={"throughput": CheckRule(rel=0.1)}))
    assert v.ok and "WARNING: throughput of 5 repeats spreads 40%" in v.message
