"""Replays of what an attacker or an unlucky user did to a run (issue: TorchScript files run code; hung models
defeat timeout_s; ways a run could still mislead). Each case is refused with one line and exit code 2, or recovered
with nothing lost."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.errors import ModelTimeout, WeightsError
from bench.guard import time_limit
from bench.results import RunDir
from tests.conftest import run_cli, write_tiny
from tests.test_reliability import _errors, _policy_suite, stable


# -- timeout_s against a model that swallows what it is sent ----------------------------------------------------------
def test_timeout_stops_a_loop_that_catches_exception() -> None:
    t0 = time.monotonic()
    with pytest.raises(ModelTimeout, match="no answer within 0.3 s"), time_limit(0.3, "m"):
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # noqa: BLE001, S110
                pass
    assert time.monotonic() - t0 < 3


def test_timeout_stops_a_blocking_sleep_and_a_late_answer() -> None:
    with pytest.raises(ModelTimeout), time_limit(0.2, "m"):
        time.sleep(30)
    # an answer that came late (the alarm was swallowed once, then the call returned) is refused too
    with pytest.raises(ModelTimeout), time_limit(0.2, "m"):
        try:
            time.sleep(30)
        except BaseException:  # noqa: BLE001, S110
            pass
    with time_limit(5, "m"):  # a prompt answer: nothing raised, no alarm left behind
        pass
    time.sleep(0.6)


def test_swallowing_model_times_out_in_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hung = "{adapter: python, args: {target: 'tests.models:Swallowing'}}"
    suite = _policy_suite(tmp_path, task_policy="    timeout_s: 0.5\n", first=hung)
    t0 = time.monotonic()
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert time.monotonic() - t0 < 240  # the old alarm never stopped it; the run itself takes ~10 s on a quiet machine
    assert code == 2
    assert "model 'first' (task t): model 'first' on samples 0..29: no answer within 0.5 s (timeout_s)" in err
    (run,) = (tmp_path / "r" / "pol").iterdir()
    assert {r["model"] for r in RunDir(run).rows()} == {"noise"}
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"


# -- TorchScript files run code: only the pinned published file loads -------------------------------------------------
class _Planted(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _jit_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path torch.jit.load is asked to open (none may be opened when the file is refused)."""
    opened: list[str] = []
    real = torch.jit.load

    def spy(f: Any, *a: Any, **k: Any) -> Any:
        opened.append(str(f))
        return real(f, *a, **k)

    monkeypatch.setattr(torch.jit, "load", spy)
    return opened


def _two_folders(tmp_path: Path) -> tuple[Path, Path]:
    from PIL import Image

    out = []
    for k in range(2):
        d = tmp_path / f"img{k}"
        d.mkdir()
        rng = np.random.default_rng(k)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(d / f"{i}.png")
        out.append(d)
    return out[0], out[1]


@pytest.mark.parametrize("where", ["cache", "explicit"])
def test_an_unpinned_torchscript_weights_file_is_never_loaded(
        tmp_path: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        where: str) -> None:
    planted = empty_cache / "weights" / "inception-2015-12-05.pt" if where == "cache" else tmp_path / "x.pt"
    planted.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(_Planted()).save(str(planted))
    opened = _jit_loads(monkeypatch)
    a, b = _two_folders(tmp_path)
    extra = ["--weights", str(planted)] if where == "explicit" else []
    code, _, err = run_cli(["score", "images", str(a), str(b), "--fid", "--protocol", "clean", "--no-cache", *extra],
                           capsys)
    assert code == 2 and opened == []
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"{planted}: 'inception-torchscript' is a TorchScript file, and loading one runs code stored in it" in err
    assert "GENBENCH_TRUST_CODE" in err
    # named as code by the user, a file given by path is loaded (and then fails as the wrong network, in one line);
    # the cache holds only the published file, trusted or not
    monkeypatch.setenv("GENBENCH_TRUST_CODE", str(planted))
    code, _, err = run_cli(["score", "images", str(a), str(b), "--fid", "--protocol", "clean", "--no-cache", *extra],
                           capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    if where == "explicit":
        assert opened == [str(planted)]
    else:
        assert opened == [] and "does not match the published f58cb9b6ec323ed6" in err


def test_torchscript_pin_is_the_published_hash() -> None:
    from bench.backbones.inception import INCEPTION_TORCHSCRIPT
    from bench.weights import WeightsFile, check_executable

    assert INCEPTION_TORCHSCRIPT.executable and INCEPTION_TORCHSCRIPT.sha256 is not None
    check_executable(INCEPTION_TORCHSCRIPT, Path("x.pt"), INCEPTION_TORCHSCRIPT.sha256)  # the published file loads
    unpinned = WeightsFile("t", "t.pt", None, None, executable=True)
    with pytest.raises(WeightsError, match="no pinned sha256"):
        check_executable(unpinned, Path("t.pt"), "0" * 64)


# -- run folders: a damaged manifest, a non-run folder, counted rows, a second Ctrl-C, a baseline --------------------
@pytest.mark.parametrize("content", ["[]", "3", '"x"'])
def test_a_manifest_that_is_not_an_object_is_one_line(run_copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
                                                      content: str) -> None:
    suite, run = run_copy
    (run / "manifest.json").write_text(content)
    for args in (["run", str(suite), "--resume", str(run), "--quiet"], ["table", str(run)],
                 ["baseline", "save", str(run), "b", "--dir", str(run.parent / "bl")]):
        code, _, err = run_cli(args, capsys)
        assert code == 2 and "Traceback" not in err, (args, err)
        assert _errors(err) == [f"genbench: error: {run}/manifest.json: holds a JSON "
                                f"{type(json.loads(content)).__name__}, not a manifest object; the file is damaged"]


def test_resume_of_a_folder_that_is_not_a_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write_tiny(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    code, _, err = run_cli(["run", str(suite), "--resume", str(home), "--quiet"], capsys)
    assert code == 2
    assert _errors(err) == [f"genbench: error: {home}: not a run folder (no manifest.json or rows.jsonl); "
                            "nothing to resume"]
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]  # nothing written into it


def test_a_deleted_row_plus_a_duplicated_row_is_recomputed(run_copy: tuple[Path, Path], tiny_run: tuple[Path, Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = run_copy
    lines = (run / "rows.jsonl").read_bytes().splitlines(keepends=True)
    # the pair of line 1 loses its second row and gets its first twice: the line count is unchanged
    assert json.loads(lines[0])["model"] == json.loads(lines[1])["model"]
    (run / "rows.jsonl").write_bytes(lines[0] + lines[0] + b"".join(lines[2:]))
    assert len(RunDir(run).scan().complete()) == len(RunDir(tiny_run[1]).scan().complete()) - 1
    code, _, err = run_cli(["run", str(suite), "--resume", str(run), "--quiet"], capsys)
    assert code == 0, err
    assert "rows incomplete; recomputed" in err
    assert stable(RunDir(run).rows()) == stable(RunDir(tiny_run[1]).rows())
    assert len(RunDir(run).rows()) == len(RunDir(tiny_run[1]).rows())  # no row twice


def test_a_repeated_line_of_a_complete_pair_is_set_aside(run_copy: tuple[Path, Path], tiny_run: tuple[Path, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    suite, run = run_copy
    lines = (run / "rows.jsonl").read_bytes().splitlines(keepends=True)
    (run / "rows.jsonl").write_bytes(b"".join(lines) + lines[-1])
    assert len(RunDir(run).rows()) == len(lines)  # a reader shows it once (and warns)
    assert f"{run}/rows.jsonl:{len(lines) + 1}: a repeat of an earlier line; row skipped" in capsys.readouterr().err
    code, _, err = run_cli(["run", str(suite), "--resume", str(run), "--quiet"], capsys)
    assert code == 0 and f"{run}/rows.jsonl:{len(lines) + 1}: a repeat of an earlier line; set aside" in err
    assert (run / "rows.rejected.jsonl").read_bytes() == lines[-1]
    assert len(RunDir(run).rows()) == len(RunDir(tiny_run[1]).rows())


def test_baseline_save_refuses_a_run_with_a_damaged_line(run_copy: tuple[Path, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _, run = run_copy
    lines = (run / "rows.jsonl").read_bytes().splitlines(keepends=True)
    (run / "rows.jsonl").write_bytes(b"".join(lines[:2]) + lines[2].replace(b'"value": ', b'"value": 1') +
                                     b"".join(lines[3:]))
    code, _, err = run_cli(["baseline", "save", str(run), "b", "--dir", str(run.parent / "bl")], capsys)
    assert code == 2 and not (run.parent / "bl").exists()
    assert _errors(err) == [f"genbench: error: {run}/rows.jsonl:3: checksum mismatch (garbled) (and 1 more); a "
                            f"baseline must come from sound rows (genbench run --resume {run} recomputes them)"]


def test_a_second_ctrl_c_during_the_final_manifest_write_still_leaves_it_written(
        run_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT arriving inside the write (here: during its fsync) acts after the file is in place."""
    _, run = run_copy
    real = os.fsync

    def interrupted(fd: int) -> None:
        real(fd)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "fsync", interrupted)
    manifest = json.loads((run / "manifest.json").read_text())
    with pytest.raises(KeyboardInterrupt):
        RunDir(run).write_json("manifest.json", {**manifest, "status": "interrupted"})
    monkeypatch.setattr(os, "fsync", real)
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) == []


# -- partial feature chunks carry their sha256 ----------------------------------------------------------------------
class _Layers:
    layers = ("pool",)


def _two_chunks(tmp_path: Path) -> tuple[Any, list[np.ndarray]]:
    from bench.features import PartialFeatures
    from bench.images import StreamHash

    part = PartialFeatures(tmp_path / "p", [_Layers()], every=0)  # type: ignore[list-item]
    hasher = StreamHash()
    rows = [np.full((2, 4), k, np.float32) for k in range(2)]
    outs: list[dict[str, list[np.ndarray]]] = [{"pool": []}]
    for k, block in enumerate(rows):
        hasher.update(torch.full((2, 1, 2, 2), k, dtype=torch.uint8))
        outs[0]["pool"].append(block)
        part.write(2 * (k + 1), outs, hasher, force=True)
    return part, rows


def test_partial_chunks_load_when_sound(tmp_path: Path) -> None:
    part, rows = _two_chunks(tmp_path)
    done, outs, state = part.load()
    assert done == 4 and np.array_equal(np.concatenate(outs[0]["pool"]), np.concatenate(rows))
    assert state is not None and len(state[0]) == 4 * 32


@pytest.mark.parametrize("how", ["altered", "no digest"])
def test_an_altered_partial_chunk_is_recomputed_not_used(tmp_path: Path, how: str) -> None:
    """The second chunk's features are changed on disk (its stored digest kept, or dropped): the resumed pass
    trusts the first chunk only, so the altered rows are computed again instead of being cached as verified."""
    part, rows = _two_chunks(tmp_path)
    second = sorted((tmp_path / "p").glob("chunk-*.npz"))[1]
    with np.load(second) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["0/pool"] = arrays["0/pool"] + 1
    if how == "no digest":
        del arrays["sha256"]
    np.savez(second, **arrays)
    done, outs, _ = part.load()
    assert done == 2 and np.array_equal(np.concatenate(outs[0]["pool"]), rows[0])


# -- symlinks: an output.dir that leads out of the working directory, a grid that embeds another file ---------------
def test_a_symlinked_grid_is_refused_not_embedded(run_copy: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _, run = run_copy
    secret = tmp_path / "id_rsa"
    secret.write_bytes(b"\x89PNG\r\n\x1a\nPRIVATE KEY")
    (grid,) = [p for p in (run / "samples").glob("*/gmm.png")]
    grid.unlink()
    grid.symlink_to(secret)
    code, _, err = run_cli(["report", str(run), "--out", str(tmp_path / "rep")], capsys)
    assert code == 2 and "Traceback" not in err
    assert _errors(err) == [f"genbench: error: {grid}: a symlink (to {secret}); a report embeds only the sample grids "
                            "a run wrote, not what a link points to (remove the link)"]
    assert not (tmp_path / "rep" / "index.html").exists()


def test_a_symlinked_output_dir_that_leaves_the_working_directory_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    (work / "results").symlink_to(elsewhere)
    suite = write_tiny(work)
    monkeypatch.chdir(work)
    code, _, err = run_cli(["run", str(suite), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert _errors(err) == [f"genbench: error: output.dir 'results': results/tiny resolves to {elsewhere}/tiny, "
                            f"outside the working directory {work} (through a symlink); a suite's outputs stay under "
                            "it; write elsewhere with --out DIR on the command line, your own choice"]
    assert list(elsewhere.iterdir()) == []


# -- a decompression bomb is named ------------------------------------------------------------------------------------
def test_a_decompression_bomb_is_one_line_naming_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """PIL refuses an image of more than 2 x MAX_IMAGE_PIXELS pixels (lowered here so that a 16x16 file is one)."""
    from PIL import Image

    a, b = _two_folders(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    code, _, err = run_cli(["score", "images", str(a), str(b), "--fid", "--protocol", "digits", "--no-cache"], capsys)
    assert code == 2 and "Traceback" not in err
    (line,) = _errors(err)
    assert f"{b / '0.png'}: cannot decode image (DecompressionBombError: Image size (256 pixels) exceeds limit of " \
        "200 pixels" in line


# -- the batch-size statement: samples are bit-identical, values agree to float32 round-off ---------------------------
def test_fid_with_batches_of_50_and_6_agrees_to_the_documented_bound() -> None:
    """docs/installing.md: another batch size gives the same samples (per-sample seeds) and features equal up to
    the last float32 bits of the backbone's matrix products (a BLAS blocks 6 rows differently from 50), so metric
    values agree to 1e-5 relative (measured 8.8e-7 here); the same batch size gives the same bytes."""
    from bench.backbones import get_backbone
    from bench.data import digits
    from bench.metrics.base import on_features
    from bench.metrics.distribution import FID

    gen, _ = digits.load("test")
    ref, _ = digits.load("train")
    b = get_backbone("digits")
    r = b.extract(ref)

    def fid(batch: int) -> float:
        g = b.extract_batches(gen[i: i + batch] for i in range(0, len(gen), batch))
        return float(on_features(FID(), g, r, layer="pool", seed=0)[0].value)

    f50, f6 = fid(50), fid(6)
    assert fid(50) == f50  # the same batch size: the same bytes
    assert abs(f6 - f50) <= 1e-5 * f50


def test_ctrl_c_twice_in_a_run_leaves_the_manifest_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The first Ctrl-C comes from a model call; the second while the run writes its `interrupted` manifest."""
    once = tmp_path / "signalled"
    signalling = f"{{adapter: python, args: {{target: 'tests.models:Signalling', kwargs: {{once: '{once}', " \
                 "signal: SIGINT}}}"
    seeded = "{adapter: python, args: {target: 'tests.models:SeededDigits'}}"
    suite = _policy_suite(tmp_path, first=seeded, second=signalling)
    real = os.fsync

    def second_ctrl_c(fd: int) -> None:
        real(fd)
        if os.readlink(f"/proc/self/fd/{fd}").split("/")[-1].startswith("manifest.json.") and once.exists():
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(os, "fsync", second_ctrl_c)
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    monkeypatch.setattr(os, "fsync", real)
    (run,) = (tmp_path / "r" / "pol").iterdir()
    assert code == 130 and "Traceback" not in err
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert [r["model"] for r in RunDir(run).rows()] == ["first"]
    assert main(["run", str(suite), "--resume", str(run), "--quiet"]) == 0
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"
