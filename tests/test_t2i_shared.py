"""Text-to-image tasks share one production pass: an FID task and a CLIP-score task on the same model and prompts
render each prompt once (counted), and their numbers equal those of each task run alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from tests.models import CountingT2I

HEAD = """
name: t2i-shared
seed: 5
datasets:
  shapes: {kind: shapes, split: test}
models:
  counting: {adapter: python-t2i, args: {target: "tests.models:CountingT2I"}}
output: {grid: 8}
tasks:
"""
FID = ("  - {name: fid, kind: text-to-image, reference: shapes, n: 24, batch_size: 10, backbone: digits,"
       " args: {samples_per_prompt: 2}, metrics: [fid]}\n")
CLIP = ("  - {name: clip, kind: text-to-image, reference: shapes, n: 24, batch_size: 7, backbone: shapes-clip,"
        " args: {samples_per_prompt: 2}, metrics: [clipscore_torchmetrics]}\n")


def _run(tmp_path: Path, name: str, tasks: str) -> dict[tuple[str, str], float]:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "s.yaml").write_text(HEAD + tasks)
    CountingT2I.asked = []
    assert main(["run", str(folder / "s.yaml"), "--out", str(folder / "out"), "--quiet", "--no-cache"]) == 0
    rows = [json.loads(line) for p in (folder / "out").rglob("rows.jsonl") for line in p.read_text().splitlines()]
    return {(r["task"], r["metric"]): r["value"] for r in rows}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fid_and_clip_tasks_render_each_prompt_once(tmp_path: Path) -> None:
    both = _run(tmp_path, "both", FID + CLIP)
    asked = sorted(CountingT2I.asked)
    # 24 prompts x 2 samples: every sample index once, for both tasks together (the preview comes from the pass)
    assert asked == list(range(48)), asked[:20]
    alone = {**_run(tmp_path, "fid", FID), **_run(tmp_path, "clip", CLIP)}
    assert both.keys() == alone.keys() and both
    for k, v in both.items():
        assert v == pytest.approx(alone[k], rel=1e-9), k
