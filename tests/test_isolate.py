"""Model calls in a worker process (``runtime: {isolate: process}``, bench.isolate): ``timeout_s`` stops what the
in-process alarm cannot (a bare ``except:`` loop, native code that never returns), the outputs are the in-process
outputs bit for bit, and a run killed at a hung batch keeps what it made and resumes.

The first worker of a test process starts the fork server (one ``import torch``: 3 s on a quiet machine, 10+ s on
the shared one); later workers are forked from it in well under a second."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.adapters.base import AdapterContext, GenerationRequest, build_adapter
from bench.errors import ConfigError, ModelCrashed, ModelTimeout
from bench.guard import time_limit
from bench.isolate import IsolatedAdapter, SuiteDatasets, isolated_adapter
from bench.results import RunDir
from bench.runtime import model_context
from tests.conftest import run_cli


@pytest.fixture(scope="module", autouse=True)
def _fork_server_folder_outside_the_scratch() -> None:
    """multiprocessing keeps the fork server's socket in a temporary folder it removes at exit, after the test
    session's scratch folder (where tests' temporary folders go) is gone: make it in the system's."""
    import multiprocessing.util

    multiprocessing.util.get_temp_dir()


#: what stopping a hung call may take beyond its limit: the kill and the reaping (0.2 s measured on the shared
#: machine under load 7; generous so a busy machine does not fail the test)
BOUND_S = 3.0


def _worker(target: str, **kwargs: Any) -> IsolatedAdapter:
    return isolated_adapter("model 'm'", "python", {"target": target, "kwargs": kwargs}, AdapterContext())


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _request(start: int, n: int) -> GenerationRequest:
    return GenerationRequest(indices=range(start, start + n), seeds=[1000 + i for i in range(start, start + n)])


def _stopped_in_time(adapter: IsolatedAdapter, limit: float = 0.5) -> float:
    """Seconds until a hung call on ``adapter`` raised ModelTimeout naming its items."""
    t0 = time.monotonic()
    with pytest.raises(ModelTimeout, match=r"model 'm' on samples 0\.\.3: no answer within 0\.5 s \(timeout_s\)"), \
            time_limit(limit, "model 'm' on samples 0..3"):
        adapter.generate(_request(0, 4))
    return time.monotonic() - t0


def test_a_bare_except_loop_is_stopped() -> None:
    adapter = _worker("tests.models:BareExcept")
    pid = adapter.worker_pid
    assert pid is not None
    took = _stopped_in_time(adapter)
    assert 0.5 <= took < 0.5 + BOUND_S
    assert adapter.worker_pid is None and _gone(pid)  # killed, not left spinning


@pytest.mark.parametrize("how", ["lock", "sleep"])
def test_native_code_that_never_returns_is_stopped_and_the_worker_restarts(tmp_path: Path, how: str) -> None:
    # lock: a deadlocked pthread mutex; sleep: libc.sleep with SIGALRM blocked. In the run's process neither would
    # ever return (the alarm's handler never runs); only the first call hangs (`once`)
    once = tmp_path / "hung"
    adapter = _worker("tests.models:NativeHang", how=how, once=str(once))
    first = adapter.worker_pid
    assert first is not None
    assert _stopped_in_time(adapter) < 0.5 + BOUND_S
    assert once.exists() and adapter.worker_pid is None and _gone(first)
    # the next call starts a fresh worker, which builds the model again and answers
    with time_limit(30, "model 'm' on samples 0..3"):
        got = adapter.generate(_request(0, 4))
    assert adapter.worker_pid not in (None, first)
    own = build_adapter("python", {"target": "tests.models:NativeHang", "kwargs": {"once": str(once)}},
                        AdapterContext())
    assert torch.equal(got, own.generate(_request(0, 4)))
    adapter.close()


def test_outputs_equal_the_in_process_outputs_bit_for_bit() -> None:
    """A convolutional generator, batches of several sizes and starts, fp32 and bf16 autocast (the caller's autocast
    state reaches the worker: bf16 outputs differ from fp32 ones, and equal the in-process bf16 ones)."""
    args = {"target": "tests.models:ConvGenerator", "kwargs": {"size": 32, "width": 8}}
    isolated = isolated_adapter("model 'm'", "python", args, AdapterContext())
    own = build_adapter("python", args, AdapterContext())
    pid = isolated.worker_pid
    cpu = torch.device("cpu")
    outputs = {}
    for dtype in ("fp32", "bf16"):
        for start, n in ((0, 16), (16, 5), (21, 1), (3, 16)):
            with model_context(cpu, dtype):
                a, b = isolated.generate(_request(start, n)), own.generate(_request(start, n))
            assert a.dtype == torch.uint8 and a.shape == (n, 3, 32, 32)
            assert torch.equal(a, b), (dtype, start, n)
            outputs[dtype, start, n] = a
    # per-item seeds: items 3..18 are the same whatever batch they come in
    assert torch.equal(outputs["fp32", 3, 16], torch.cat([outputs["fp32", 0, 16][3:], outputs["fp32", 16, 5][:3]]))
    assert not torch.equal(outputs["fp32", 0, 16], outputs["bf16", 0, 16])
    assert isolated.worker_pid == pid  # one worker served every call
    # what the run reads without calling the model, and what it may not take out of the worker
    assert isolated.latent_dim == 64 and isolated.output_problem() is None and isolated.model_key() is None
    assert type(isolated).__name__ == "PythonGenerator" and isolated.kind == "image-generator"
    assert not hasattr(isolated, "no_such_attribute")
    with pytest.raises(ConfigError, match="its torch module stays in its worker process"):
        isolated.model  # noqa: B018
    isolated.close()
    assert _gone(pid)


def test_an_error_in_the_worker_is_the_models_error_and_a_crash_is_one_line() -> None:
    with pytest.raises(RuntimeError, match="boom") as info:
        _worker("tests.models:Crashing").generate(_request(0, 2))
    assert "in the model's worker process" in str(info.value.__cause__)  # its traceback, for errors.log
    dying = _worker("tests.models:Exiting")
    with pytest.raises(ModelCrashed, match=r"^model 'm' on samples 0\.\.1: its worker process died \(exit code 3\) "
                       r"during generate\(\); recorded as failed$"), time_limit(None, "model 'm' on samples 0..1"):
        dying.generate(_request(0, 2))  # no timeout_s: the items are named all the same
    with pytest.raises(ModelCrashed, match=r"^model 'm': its worker process died"):
        dying.generate(_request(0, 2))  # a fresh worker, outside any task's call


SUITE = """\
name: iso
runtime: {{isolate: {isolate}}}
datasets:
  digits-train: {{kind: digits, split: train}}
models:
  first: {{adapter: python, args: {{target: 'tests.models:NativeHang', kwargs: {{hang_from: 30, once: '{once}', log: '{log}'}}}}}}
  noise: {{adapter: noise, args: {{shape: [1, 8, 8]}}}}
tasks:
  - name: t
    reference: digits-train
    n: 60
    batch_size: 15
    timeout_s: 2
    metrics: [fid]
output: {{grid: 0}}
"""


def _rows(run: Path) -> dict[tuple[str, str], tuple[Any, Any]]:
    return {(r["model"], r["metric"]): (r["value"], r["extras"].get("feature_keys")) for r in RunDir(run).rows()}


@pytest.mark.slow  # three runs (the hung one, its resume, an in-process one): 47 s on the loaded shared machine
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_hung_batch_in_a_run_keeps_what_was_made_and_resumes(
        tmp_path: Path, empty_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import bench.features

    monkeypatch.setattr(bench.features, "PARTIAL_SECONDS", 0.0)  # write the finished part after every batch
    once, log = tmp_path / "hung", tmp_path / "asked.txt"
    suite = tmp_path / "iso.yaml"
    suite.write_text(SUITE.format(isolate="process", once=once, log=log))
    t0 = time.monotonic()
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert time.monotonic() - t0 < 120  # without isolation the deadlock never ends
    assert code == 2
    said = [line for line in err.splitlines() if "first" in line]
    assert said == ["genbench: error: model 'first' (task t): model 'first' on samples 30..44: no answer within 2 s "
                    "(timeout_s); recorded as failed"], err
    (run,) = (tmp_path / "r" / "iso").iterdir()
    assert {m for m, _ in _rows(run)} == {"noise"}  # the run went on; noise's row is kept
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"
    assert log.read_text().split() == ["0", "15", "30"]
    assert list((empty_cache / "features" / "partial").rglob("chunk-*.npz"))  # batches 0..29 kept on disk

    log.unlink()
    code, _, err = run_cli(["run", str(suite), "--resume", str(run), "--quiet"], capsys)
    assert code == 0, err
    assert log.read_text().split() == ["30", "45"]  # only what the killed pass had not finished
    resumed = _rows(run)
    # the same run in the run's own process (no hang now: `once` exists) gives the same values and the same
    # samples (feature keys name the samples' content hash)
    suite.write_text(SUITE.format(isolate="none", once=once, log=log))
    code, _, _ = run_cli(["run", str(suite), "--out", str(tmp_path / "fresh"), "--quiet", "--no-cache"], capsys)
    assert code == 0
    (fresh,) = (tmp_path / "fresh" / "iso").iterdir()
    assert resumed == _rows(fresh)


KINDS_SUITE = """\
name: kinds
seed: 1
runtime: {{isolate: {isolate}}}
datasets:
  digits-test: {{kind: digits, split: test}}
  edges: {{kind: digits-edges, split: test}}
  shapes-test: {{kind: shapes, split: test}}
models:
  gen: {{adapter: python, args: {{target: 'tests.models:LinearDigits'}}}}
  inv: {{adapter: python-translator, args: {{target: 'tests.models:CountingInvert'}}}}
  vq: {{adapter: python-autoencoder, args: {{target: 'tests.models:TinyVQ'}}}}
  cap: {{adapter: python-captioner, args: {{target: 'tests.models:ColourCaptioner'}}}}
  ret: {{adapter: shapes-clip}}
tasks:
  - {{name: g, reference: digits-test, n: 40, batch_size: 16, models: [gen], metrics: [fid]}}
  - {{name: tr, kind: translation, reference: edges, n: 32, batch_size: 16, models: [inv], metrics: [psnr, fid]}}
  - {{name: rec, kind: reconstruction, reference: digits-test, n: 24, models: [vq], args: {{image_size: 6}},
     metrics: [psnr, codebook]}}
  - {{name: caps, kind: captioning, reference: shapes-test, n: 30, batch_size: 16, backbone: shapes-clip, models: [cap],
     metrics: {{coco_captions: {{meteor: false, spice: false}}}}}}
  - {{name: ret, kind: retrieval, reference: shapes-test, n: 30, batch_size: 16, models: [ret], metrics: [retrieval_recall]}}
output: {{grid: 4}}
"""


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_python_adapter_kind_gives_the_same_rows_through_its_worker(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Generators, translators, autoencoders, captioners and retrievers go through the same call path: a run with
    isolation gives the rows of a run without, to the bit (values and the samples' content keys)."""
    import bench.isolate

    built: list[str] = []
    real = bench.isolate.isolated_adapter
    monkeypatch.setattr(bench.isolate, "isolated_adapter", lambda label, *a: built.append(label) or real(label, *a))
    rows = {}
    for isolate in ("none", "process"):
        suite = tmp_path / f"{isolate}.yaml"
        suite.write_text(KINDS_SUITE.format(isolate=isolate))
        code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / isolate), "--quiet", "--no-cache"], capsys)
        assert code == 0, err
        (run,) = (tmp_path / isolate / "kinds").iterdir()
        rows[isolate] = {(r["task"], r["model"], r["metric"]): (r["value"], r["extras"].get("feature_keys"))
                         for r in RunDir(run).rows()}
    assert {t for t, _, _ in rows["none"]} == {"g", "tr", "rec", "caps", "ret"}
    assert rows["process"] == rows["none"]
    assert set(built) == {"model 'gen'", "model 'inv'", "model 'vq'", "model 'cap'", "model 'ret'"}  # all in workers


@pytest.mark.slow  # a fresh Python that imports torch, and its fork server: 20+ s on the loaded shared machine
def test_a_worker_ends_when_the_run_is_killed(tmp_path: Path) -> None:
    """kill -9 of the run's process, while its worker spins in a bare ``except:`` loop: the worker ends too (its
    parent is the fork server, which outlives the run; the worker watches the run's end of its pipe)."""
    import signal
    import subprocess
    import sys

    script = ("import sys\n"
              "from bench.adapters.base import AdapterContext, GenerationRequest\n"
              "from bench.isolate import isolated_adapter\n"
              "a = isolated_adapter(\"model 'm'\", 'python', {'target': 'tests.models:BareExcept'}, AdapterContext())\n"
              "print(a.worker_pid, flush=True)\n"
              "a.generate(GenerationRequest(indices=range(2), seeds=[0, 1]))\n")
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                           cwd=Path(__file__).resolve().parent.parent)
    assert run.stdout is not None
    pid = int(run.stdout.readline())
    time.sleep(1.0)  # the call is under way
    assert not _gone(pid)
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _gone(pid) and "Z" not in _state(pid):
        time.sleep(0.1)
    assert _gone(pid) or "Z" in _state(pid)  # ended (a zombie until the container's init reaps it)


def _state(pid: int) -> str:
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except (OSError, StopIteration):
        return ""


def test_the_suite_datasets_go_to_the_worker_unloaded(tmp_path: Path) -> None:
    """A worker's adapter context reads the suite's datasets itself (a plugin adapter may): what the run loaded is
    not pickled along, and the worker's copy loads the same data."""
    import pickle

    from bench.plan import validate_suite_file

    (tmp_path / "s.yaml").write_text("datasets: {d: {kind: digits, split: test}}\nmodels: {n: {adapter: noise}}\n"
                                     "tasks: [{name: t, reference: d, n: 10, metrics: [fid]}]\n")
    plan = validate_suite_file(str(tmp_path / "s.yaml"))
    datasets = SuiteDatasets(plan.datasets, plan.loaded.resolve_path)
    here = datasets("d")
    blob = pickle.dumps(datasets)
    assert len(blob) < 10_000  # names and arguments, not the images
    there = pickle.loads(blob)("d")  # noqa: S301
    assert there is not here and there.hash == here.hash
    with pytest.raises(ConfigError, match="unknown dataset 'x'"):
        datasets("x")
