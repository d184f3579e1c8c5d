"""Shared fixtures: a tiny suite (n=200, three models) so CLI round trips stay a few seconds on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


_SCRATCH: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """The test session gets its own feature/weights cache (never ~/.cache) and no network. Session-wide, so
    session fixtures (tiny_run) and the tests reading their cached features see the same cache; tests that
    need an empty cache use the `empty_cache` fixture. The cache (features, the ~340 MB METEOR paraphrase index)
    and every temporary folder the code under test makes live in one scratch folder, removed when the session
    ends: runs used to leave ~340 MB behind in /tmp each."""
    import tempfile

    global _SCRATCH
    _SCRATCH = Path(tempfile.mkdtemp(prefix="genbench-test-"))
    (_SCRATCH / "tmp").mkdir()
    (_SCRATCH / "cache").mkdir()
    os.environ["GENBENCH_CACHE"] = str(_SCRATCH / "cache")
    tempfile.gettempdir()  # this process keeps its temp root (pytest's own folders stay where pytest keeps them) ...
    os.environ["TMPDIR"] = str(_SCRATCH / "tmp")  # ... while subprocesses (CLI and training runs) use the scratch
    os.environ["GENBENCH_OFFLINE"] = "1"


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    if _SCRATCH is not None:
        shutil.rmtree(_SCRATCH, ignore_errors=True)


@pytest.fixture(autouse=True)
def _temporary_folders_in_the_scratch(tmp_path_factory: pytest.TempPathFactory,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``tempfile`` folders made by the code under test (``genbench score images`` without --out makes one per
    call) go to the session's scratch folder. pytest's own temp root is fixed first, so it stays where pytest keeps
    its last three sessions."""
    import tempfile

    tmp_path_factory.getbasetemp()
    assert _SCRATCH is not None
    monkeypatch.setattr(tempfile, "tempdir", str(_SCRATCH / "tmp"))


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def write_suite(tmp_path: Path):
    def _write(text: str, name: str = "suite.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return _write


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from bench.cli import main

    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


os.environ.setdefault("TQDM_DISABLE", "1")

# One BLAS/OpenMP thread per test process unless told otherwise: on the shared 2-core machine, 2-thread OpenBLAS
# and torch spin-wait against the other users' processes; a digits-metrics run took 68 s of wall time (44 s of
# CPU) with 2 threads against 18 s (11 s CPU) with 1, under the same load. GENBENCH_TEST_THREADS overrides.
_threads = int(os.environ.get("GENBENCH_TEST_THREADS", "1"))
if _threads > 0:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(_threads)
    threadpool_limits(_threads)

TINY = """\
name: tiny
seed: {seed}
datasets:
  digits-train: {{kind: digits, split: train}}
  digits-test: {{kind: digits, split: test}}
models:
  heldout-real: {{adapter: dataset, args: {{dataset: digits-test}}}}
  gmm: {gmm}
  noise: {{adapter: noise, args: {{shape: [1, 8, 8]}}}}
tasks:
  - name: unconditional
    reference: digits-train
    n: 200
    batch_size: 100
    metrics:
      fid: {{}}
      kid: {{subsets: 20, subset_size: 100}}
      prc: {{neighborhood: 3}}
output: {{grid: 16}}
check:
  metrics:
    fid: {{abs: 5, rel: 0.3, two_sided: true}}
    kid: {{abs: 20, rel: 0.3, two_sided: true}}
    precision: {{abs: 0.1}}
    recall: {{abs: 0.12}}
"""
GMM = "{adapter: digits-gmm, args: {components: 10, covariance: full}}"
NOISE_AS_GMM = "{adapter: noise, args: {shape: [1, 8, 8]}}"


def write_tiny(folder: Path, name: str = "tiny.yaml", seed: int = 0, gmm: str = GMM) -> Path:
    p = folder / name
    p.write_text(TINY.format(seed=seed, gmm=gmm), encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(suite file, run folder) of one run of the tiny suite, shared by every test that only reads it."""
    from bench.cli import main

    root = tmp_path_factory.mktemp("tiny")
    suite = write_tiny(root)
    assert main(["run", str(suite), "--out", str(root / "results"), "--quiet"]) == 0
    (run,) = (root / "results" / "tiny").iterdir()
    return suite, run


@pytest.fixture
def run_copy(tiny_run: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """(suite, a private copy of the shared tiny run folder) to damage."""
    import shutil

    suite, run = tiny_run
    dest = tmp_path / "results" / "tiny" / run.name
    shutil.copytree(run, dest)
    return suite, dest
