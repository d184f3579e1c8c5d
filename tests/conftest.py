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
