"""Fault injection (docs/reliability.md): torn and garbled rows, a crash between two models, a second writer,
concurrent appends, a full or read-only disk, a read-only cache, a bad cache entry, a hung model, an out-of-memory
model or backbone, SIGTERM. Each asserts identical rows after recovery, one clear line, exit code 2 where the input
or the environment is at fault, and nothing lost. Real ``kill -9`` cycles: scripts/fault_injection.py (and the slow
test at the end)."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.results import RunDir
from tests.conftest import ROOT, run_cli, write_tiny

#: row fields that differ between two computations of the same numbers (wall-clock times, the run's name)
VOLATILE = ("seconds", "run_id")


def stable(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Rows keyed by (task, model, metric), without their timings: what must be identical after recovery."""
    out = {}
    for r in rows:
        extras = {k: v for k, v in (r.get("extras") or {}).items() if not k.endswith("seconds")}
        out[(r["task"], r["model"], r["metric"])] = {**{k: v for k, v in r.items() if k not in VOLATILE},
                                                     "extras": extras}
    return out


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("genbench: error:")]


# -- rows: torn, garbled, a crash between two models ---------------------------------------------------------------
def test_torn_and_garbled_rows_are_reported_and_recomputed(run_copy: tuple[Path, Path], tiny_run: tuple[Path, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = run_copy
    lines = (run / "rows.jsonl").read_bytes().split(b"\n")[:-1]
    assert len(lines) == 15  # 3 models x (fid, kid, precision, recall, f_score)
    lines[1] = lines[1].replace(b'"value": ', b'"value": 1', 1)  # a changed digit: still JSON, checksum fails
    lines[2] = lines[2][: len(lines[2]) // 2]  # half a line in the middle
    data = b"\n".join(lines) + b"\n"
    (run / "rows.jsonl").write_bytes(data[:-30])  # and a torn last line
    code, _, err = run_cli(["table", str(run)], capsys)
    assert code == 0 and err.count("row skipped") == 3 and "rows.jsonl:2: checksum mismatch" in err
    code, _, err = run_cli(["run", str(suite), "--resume", str(run), "--quiet"], capsys)
    assert code == 0, err
    assert "rows.jsonl:3: not JSON" in err and "rows.jsonl:15: torn last line" in err
    assert "gmm: already in" in err  # what was sound is not recomputed
    after = RunDir(run).rows()
    assert len(after) == 15 and stable(after) == stable(RunDir(tiny_run[1]).rows())
    assert len((run / "rows.rejected.jsonl").read_text().splitlines()) >= 3  # kept aside, not thrown away
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"


def test_crash_between_models_then_resume_gives_identical_rows(tiny_run: tuple[Path, Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_tiny(tmp_path)
    real = RunDir.append
    calls = []

    def dies_on_second(self: RunDir, *rows: Any) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C just before the second model's rows
        real(self, *rows)

    monkeypatch.setattr(RunDir, "append", dies_on_second)
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    (run,) = (tmp_path / "r" / "tiny").iterdir()
    assert code == 130 and f"resume with --resume {run}" in err
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert len(RunDir(run).rows()) == 5
    monkeypatch.setattr(RunDir, "append", real)
    assert main(["run", str(suite), "--resume", str(run), "--quiet"]) == 0
    assert stable(RunDir(run).rows()) == stable(RunDir(tiny_run[1]).rows())


# -- run ids, the run-folder lock, concurrent appends ----------------------------------------------------------------
def test_run_ids_are_unique_within_a_second() -> None:
    ids = {RunDir.new_id("ab" * 32) for _ in range(2000)}
    assert len(ids) == 2000


def test_a_second_writer_is_refused_with_one_line(run_copy: tuple[Path, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = run_copy
    before = (run / "rows.jsonl").read_bytes()
    with RunDir(run).lock():  # a run writing this folder
        code, _, err = run_cli(["run", str(suite), "--resume", str(run), "--quiet"], capsys)
    assert code == 2 and _errors(err) == [
        f"genbench: error: {run}: another genbench run (pid {os.getpid()}) is writing this run folder; wait for it "
        "to end, or start a new run"]
    assert (run / "rows.jsonl").read_bytes() == before


def _append_many(path: str, worker: int) -> None:
    from bench.results import Row

    rd = RunDir(path)
    for i in range(40):
        rd.append(*[Row(run_id="r", suite="s", task="t", model=f"w{worker}-{i}", dataset="d", metric=f"m{k}",
                        value=float(k), ci_low=None, ci_high=None, n=1, backbone=None, higher_is_better=True,
                        unit="", seconds=0.0) for k in range(3)])


def test_short_writes_are_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data)[:100]))  # a pipe-like 100-byte write
    _append_many(str(tmp_path), 0)
    monkeypatch.setattr(os, "write", real)
    scan = RunDir(tmp_path).scan()
    assert not scan.bad and len(scan.good) == 40 * 3 and len(scan.complete()) == 40


def test_concurrent_appends_of_one_run_are_whole(tmp_path: Path) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    scan = RunDir(tmp_path).scan()
    assert not scan.bad and len(scan.good) == 4 * 40 * 3 and len(scan.complete()) == 4 * 40


# -- the environment: a full disk, a read-only folder, a read-only cache, a damaged manifest -------------------------
def test_full_disk_mid_run_keeps_rows_and_says_one_line(tiny_run: tuple[Path, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """ENOSPC on the third model's rows, after a short write: the file is cut back to whole rows."""
    suite = write_tiny(tmp_path)
    real = os.write
    seen = []

    def filling(fd: int, data: Any) -> int:
        if not os.readlink(f"/proc/self/fd/{fd}").endswith("rows.jsonl"):
            return real(fd, data)
        seen.append(len(data))
        if len(seen) == 3:
            return real(fd, bytes(data)[: len(data) // 2])  # a short write ...
        if len(seen) == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... and then the disk is full
        return real(fd, data)

    monkeypatch.setattr(os, "write", filling)
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    monkeypatch.setattr(os, "write", real)
    (run,) = (tmp_path / "r" / "tiny").iterdir()
    assert code == 2 and "Traceback" not in err
    assert _errors(err) == [f"genbench: error: {run}/rows.jsonl: No space left on device (ENOSPC)"]
    scan = RunDir(run).scan()
    assert not scan.bad and len(scan.good) == 10  # two models' rows, whole; nothing of the third
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"
    assert main(["run", str(suite), "--resume", str(run), "--quiet"]) == 0
    assert stable(RunDir(run).rows()) == stable(RunDir(tiny_run[1]).rows())


def test_read_only_output_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A read-only disk, injected at mkdir (tests may run as root, where permissions do not stop a write)."""
    suite = write_tiny(tmp_path)
    ro = tmp_path / "ro"
    real = os.mkdir

    def read_only(path: Any, *a: Any, **kw: Any) -> None:
        if str(path).startswith(str(ro)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        real(path, *a, **kw)

    monkeypatch.setattr(os, "mkdir", read_only)
    code, _, err = run_cli(["run", str(suite), "--out", str(ro), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    (line,) = _errors(err)
    assert line.startswith(f"genbench: error: {ro}/tiny/") and line.endswith(": Read-only file system (EROFS)")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions; the injected "
                    "read-only test above covers root")
def test_permission_denied_output_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_tiny(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = run_cli(["run", str(suite), "--out", str(locked), "--quiet"], capsys)
    finally:
        locked.chmod(0o755)
    assert code == 2 and len(_errors(err)) == 1 and "Permission denied (EACCES)" in err and "Traceback" not in err


def test_read_only_cache_degrades_to_no_cache(tiny_run: tuple[Path, Path], tmp_path: Path, empty_cache: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import bench.features

    def read_only(path: Path, arrays: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path.parent))

    monkeypatch.setattr(bench.features, "_atomic_savez", read_only)
    suite = write_tiny(tmp_path)
    with pytest.warns(UserWarning) as caught:  # the CLI prints each warning as one stderr line
        code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 0, err
    warned = [str(w.message) for w in caught if "feature cache:" in str(w.message)]
    assert len(warned) == 1 and "Read-only file system; continuing without the disk cache" in warned[0]
    (run,) = (tmp_path / "r" / "tiny").iterdir()
    assert stable(RunDir(run).rows()) == stable(RunDir(tiny_run[1]).rows())


def test_damaged_manifest_on_resume_is_one_line(run_copy: tuple[Path, Path],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = run_copy
    rows = (run / "rows.jsonl").read_bytes()
    (run / "manifest.json").write_text((run / "manifest.json").read_text()[:200])
    code, _, err = run_cli(["run", str(suite), "--resume", str(run), "--quiet"], capsys)
    assert code == 2 and len(_errors(err)) == 1 and f"{run}/manifest.json: unreadable (JSONDecodeError" in err
    assert (run / "rows.jsonl").read_bytes() == rows


# -- the feature cache ------------------------------------------------------------------------------------------------
def test_entry_under_the_wrong_key_is_discarded_and_recomputed(tmp_path: Path) -> None:
    """A valid entry of the right shape copied under another key (the issue's FID 6.75 -> 459) is not used."""
    from bench.backbones import get_backbone
    from bench.features import FeatureStore

    store = FeatureStore(tmp_path / "cache", progress=False)
    bb = get_backbone("digits")
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    b = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g)
    mask = os.umask(0o022)  # a team's usual umask: entries must come out 0644, not mkstemp's 0600
    try:
        fa, fb = store.get(a, bb), store.get(b, bb)
    finally:
        os.umask(mask)
    files = sorted((tmp_path / "cache").rglob("*.npz"))
    assert len(files) == 2 and all(f.stat().st_mode & 0o044 == 0o044 for f in files)  # group/other readable
    key_a = next(f for f in files if np.allclose(np.load(f)["pool"], fa["pool"]))
    key_b = next(f for f in files if f != key_a)
    shutil.copy(key_a, key_b)  # a's features now sit under b's key
    fresh = FeatureStore(tmp_path / "cache", progress=False)
    with pytest.warns(UserWarning, match="holds the entry of key .*discarded and recomputed"):
        again = fresh.get(b, bb)
    assert fresh.misses == 1 and all(np.array_equal(again[k], fb[k]) for k in fb)
    assert np.array_equal(np.load(key_b)["pool"], fb["pool"])  # the entry is rewritten right


def test_damaged_feature_bytes_are_discarded(tmp_path: Path) -> None:
    from bench.backbones import get_backbone
    from bench.features import FeatureStore

    store = FeatureStore(tmp_path / "cache", progress=False)
    bb = get_backbone("digits")
    x = torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    want = store.get(x, bb)
    (path,) = (tmp_path / "cache").rglob("*.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["pool"] = arrays["pool"] + 1e-3  # a changed value, well-formed file
    np.savez(path, **arrays)
    with pytest.warns(UserWarning, match="do not match their recorded sha256"):
        got = FeatureStore(tmp_path / "cache", progress=False).get(x, bb)
    assert np.array_equal(got["pool"], want["pool"])


# -- error policy: a hung model, fail_fast / max_failures, SIGTERM, partial runs -------------------------------------
POLICY_SUITE = """\
name: pol
{policy}
datasets:
  digits-train: {{kind: digits, split: train}}
models:
  first: {first}
  second: {second}
  noise: {{adapter: noise, args: {{shape: [1, 8, 8]}}}}
tasks:
  - name: t
    reference: digits-train
    n: 60
    batch_size: 30
{task_policy}    metrics: [fid]
output: {{grid: 0}}
check:
  metrics:
    fid: {{abs: 5}}
"""
CRASH = "{adapter: python, args: {target: 'tests.models:Crashing'}}"


def _policy_suite(tmp_path: Path, policy: str = "", task_policy: str = "", first: str = CRASH,
                  second: str = CRASH) -> Path:
    p = tmp_path / "pol.yaml"
    p.write_text(POLICY_SUITE.format(policy=policy, task_policy=task_policy, first=first, second=second))
    return p


def test_hung_model_times_out_and_the_run_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hung = "{adapter: python, args: {target: 'tests.models:Hanging', kwargs: {seconds: 30}}}"
    suite = _policy_suite(tmp_path, task_policy="    timeout_s: 0.5\n", first=hung)
    t0 = time.monotonic()
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert time.monotonic() - t0 < 25  # not the 30 s the model would take
    assert code == 2
    assert "model 'first' (task t): model 'first' on samples 0..29: no answer within 0.5 s (timeout_s)" in err
    (run,) = (tmp_path / "r" / "pol").iterdir()
    assert {r["model"] for r in RunDir(run).rows()} == {"noise"}  # the run went on past both failures
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and len(manifest["errors"]) == 2


@pytest.mark.parametrize("policy,tried", [("on_error: fail_fast", 1), ("on_error: {max_failures: 1}", 2),
                                          ("on_error: continue", 3)])
def test_error_policy_stops_the_run_where_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                policy: str, tried: int) -> None:
    suite = _policy_suite(tmp_path, policy=policy)
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2
    assert sum("RuntimeError: boom" in line for line in _errors(err)) == min(tried, 2)
    (run,) = (tmp_path / "r" / "pol").iterdir()
    assert len(RunDir(run).rows()) == (1 if tried == 3 else 0)  # noise, the third model, only when not stopped
    assert ("run stopped after" in err) == (tried < 3)


def test_task_policy_overrides_the_suites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _policy_suite(tmp_path, policy="on_error: fail_fast", task_policy="    on_error: continue\n")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and sum("RuntimeError: boom" in line for line in _errors(err)) == 2 and "run stopped" not in err


def test_policy_is_not_part_of_the_suite_hash(tmp_path: Path) -> None:
    from bench.suite import load_suite

    plain = load_suite(_policy_suite(tmp_path)).suite.spec_hash()
    strict = load_suite(_policy_suite(tmp_path, policy="on_error: fail_fast\ntimeout_s: 3",
                                      task_policy="    timeout_s: 1\n")).suite.spec_hash()
    assert plain == strict  # a run resumes under a changed policy


def test_sigterm_leaves_an_interrupted_resumable_run_that_table_and_check_mark(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.check import BASELINE_VERSION

    once = tmp_path / "signalled"
    signalling = f"{{adapter: python, args: {{target: 'tests.models:Signalling', kwargs: {{once: '{once}'}}}}}}"
    seeded = "{adapter: python, args: {target: 'tests.models:SeededDigits'}}"
    suite = _policy_suite(tmp_path, first=seeded, second=signalling)
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    (run,) = (tmp_path / "r" / "pol").iterdir()
    assert code == 130 and f"resume with --resume {run}" in err
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert [r["model"] for r in RunDir(run).rows()] == ["first"]  # the finished model is kept
    with pytest.warns(UserWarning, match="run interrupted: partial results"):
        code, _, err = run_cli(["table", str(run)], capsys)
    assert code == 0
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"baseline_version": BASELINE_VERSION, "suite": "pol", "rows": []}))
    code, _, err = run_cli(["check", str(suite), "--baseline", str(base), "--run", str(run)], capsys)
    assert code == 2 and f"{run}: run interrupted: partial results are not gated" in err
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the run's handler was its own
    from bench.report import build_report

    with pytest.warns(UserWarning, match="run interrupted: partial results"):
        html = build_report([run], tmp_path / "report").read_text()
    assert "status interrupted — <strong>partial results</strong>" in html
    code, _, err = run_cli(["run", str(suite), "--resume", str(run), "--quiet"], capsys)
    assert code == 0, err
    assert "first: already in" in err and [r["model"] for r in RunDir(run).rows()] == ["first", "second", "noise"]
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"


# -- out of memory ----------------------------------------------------------------------------------------------------
def test_out_of_memory_halves_the_batch_and_gives_the_same_rows(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tests.models import SeededDigits

    roomy = "{adapter: python, args: {target: 'tests.models:SeededDigits'}}"
    tight = "{adapter: python, args: {target: 'tests.models:SeededDigits', kwargs: {limit: 8}}}"
    values = {}
    for name, model in (("roomy", roomy), ("tight", tight)):
        SeededDigits.asked.clear()
        with pytest.warns(UserWarning) as caught:
            code, _, err = run_cli(["run", str(_policy_suite(tmp_path, first=model, second=roomy)), "--out",
                                    str(tmp_path / name), "--quiet"], capsys)
        assert code == 0, err
        (run,) = (tmp_path / name / "pol").iterdir()
        values[name] = {r["model"]: r for r in RunDir(run).rows()}
    said = [str(w.message) for w in caught]
    assert "model 'first': out of memory with 30 samples a batch; retrying with 15" in said
    assert "model 'first': out of memory with 15 samples a batch; retrying with 7" in said
    rows = values["tight"]
    assert rows["first"]["extras"]["batch_size_used"] == 7 and "batch_size_used" not in rows["second"]["extras"]
    assert rows["first"]["value"] == values["roomy"]["first"]["value"]  # the same samples, whatever the batch
    assert json.loads((run / "manifest.json").read_text())["oom_batch_sizes"] == {"t/first": 7}
    assert SeededDigits.asked[:4] == [30, 15, 7, 7]


def test_backbone_out_of_memory_halves_its_pieces() -> None:
    from bench.backbones import get_backbone
    from bench.backbones.base import extract_many

    bb = get_backbone("digits")
    x = torch.randint(0, 256, (64, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    want = extract_many([bb], [x[:32], x[32:]])[0]
    real = type(bb).add_rows
    sizes = []

    def small_gpu(self: Any, images: torch.Tensor, outs: Any) -> None:
        sizes.append(int(images.shape[0]))
        outs[next(iter(outs))].append(np.zeros((1, 1), np.float32))  # a partial row, taken back on failure
        outs[next(iter(outs))].pop()
        if images.shape[0] > 10:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        real(self, images, outs)

    bb.add_rows = small_gpu.__get__(bb)  # type: ignore[method-assign]
    with pytest.warns(UserWarning, match="backbone 'digits': out of memory on 32 images; retrying with 16"):
        got = extract_many([bb], [x[:32], x[32:]])[0]
    assert bb.oom_rows == 8 and all(np.allclose(got[k], want[k], atol=1e-6) for k in want)


# -- names are names --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,line", [("name: ../../x", 1), ("models:\n  ../evil: {adapter: noise}", 6)])
def test_suite_names_that_are_paths_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                field: str, line: int) -> None:
    suite = tmp_path / "s.yaml"
    text = _policy_suite(tmp_path, first="{adapter: noise}", second="{adapter: noise}").read_text()
    text = text.replace("name: pol", "name: ../../x") if field.startswith("name") else \
        text.replace("models:\n", "models:\n  ../evil: {adapter: noise}\n")
    suite.write_text(text)
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and f"{suite}:{line}:" in err and "is not a plain name" in err


@pytest.mark.parametrize("out", ["/tmp/elsewhere", "../up", "results/../../up", "~/x"])
def test_suite_output_dirs_stay_under_the_working_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            out: str) -> None:
    suite = tmp_path / "s.yaml"
    text = _policy_suite(tmp_path, first="{adapter: noise}", second="{adapter: noise}").read_text()
    suite.write_text(re.sub(r"(?m)^output: \{", f"output: {{dir: '{out}', ", text))
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and "output.dir" in err and "leaves the working directory" in err and "--out DIR" in err
    assert "Traceback" not in err


# -- real kills: kill -9 at random points, then --resume --------------------------------------------------------------
@pytest.mark.slow
def test_kill_9_at_random_points_then_resume_gives_identical_rows(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "fault_injection.py"), "--suite",
                          str(tiny_run[0]), "--cycles", "2", "--work", str(tmp_path), "--seed", "1",
                          "--no-together"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "rows lost: 0" in out.stdout and "rows differing: 0" in out.stdout


@pytest.mark.parametrize("one", ["generated", "reference"])
def test_score_images_with_one_image_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 one: str) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in (("one", 1), ("many", 5)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    a, b = (tmp_path / "one", tmp_path / "many") if one == "generated" else (tmp_path / "many", tmp_path / "one")
    code, _, err = run_cli(["score", "images", str(a), str(b), "--protocol", "digits", "--no-cache"], capsys)
    assert code == 2 and "Traceback" not in err
    assert _errors(err) == [f"genbench: error: {tmp_path / 'one'}: 1 sample(s); "
                            + ("scoring a set needs at least 2" if one == "generated"
                               else "a reference set needs at least 2")]
