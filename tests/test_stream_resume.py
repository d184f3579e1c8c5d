"""A killed translation run resumes mid-stream: the finished part of the pass (features and per-item values) is
kept, the model is asked only for the rest, and the rows equal an uninterrupted run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from tests.models import CountingInvert

SUITE = """
name: resume
seed: 1
datasets:
  edges: {kind: digits-edges, split: test}
models:
  inv: {adapter: python-translator, args: {target: "tests.models:CountingInvert"}}
output: {grid: 8}
tasks:
  - {name: tr, kind: translation, reference: edges, n: 96, batch_size: 16, backbone: digits,
     metrics: [psnr, ssim, l1, fid]}
"""


def _rows(run_dir: Path) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in map(json.loads, (run_dir / "rows.jsonl").read_text().splitlines())}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_killed_translation_resumes_after_its_finished_part(tmp_path: Path, empty_cache: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.features

    monkeypatch.setattr(bench.features, "PARTIAL_SECONDS", 0.0)  # write the finished part after every batch
    (tmp_path / "s.yaml").write_text(SUITE)
    CountingInvert.count, CountingInvert.KILL_AFTER = 0, 48
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "--quiet"]) == 130
    assert CountingInvert.count == 48
    (run_dir,) = (tmp_path / "out" / "resume").iterdir()
    CountingInvert.count = 0
    assert main(["run", str(tmp_path / "s.yaml"), "--resume", str(run_dir), "--quiet"]) == 0
    assert CountingInvert.count == 8 + 48  # the preview (its inputs were in the finished part), then the rest
    resumed = _rows(run_dir)
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "fresh"), "--quiet", "--no-cache"]) == 0
    (fresh_dir,) = (tmp_path / "fresh" / "resume").iterdir()
    assert resumed == _rows(fresh_dir)
    assert not list((empty_cache / "features" / "partial").glob("*"))
