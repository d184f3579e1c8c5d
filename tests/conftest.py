from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own feature/weights cache and never touches ~/.cache or the network."""
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")


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
