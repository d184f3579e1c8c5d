"""``genbench score t2i``: a folder of images and a prompts file through the text-to-image scorers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.cli import main
from bench.images import save_png
from tests.test_preference import LONG, PROMPTS, pickscore_reference


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.hf_tiny import tiny_clip

    root = tmp_path_factory.mktemp("t2i")
    model = tiny_clip(root / "pick", seed=3)
    imgs = root / "imgs"
    imgs.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(5):
        save_png(torch.randint(0, 256, (3, 36, 36), generator=g, dtype=torch.uint8), imgs / f"{i:03d}.png")
    prompts = [*PROMPTS, LONG]
    (root / "p.txt").write_text("\n".join(prompts) + "\n")
    (root / "bad.txt").write_text("\n".join(prompts[:3]) + "\n")
    return {"root": root, "model": model, "imgs": imgs, "p": root / "p.txt", "bad": root / "bad.txt"}


def test_score_t2i_pickscore_json_and_per_image(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    per = setup["root"] / "per.json"
    rc = main(["score", "t2i", str(setup["imgs"]), "--prompts", str(setup["p"]), "--metric", "pickscore",
               "--set", f"pickscore.model={setup['model']}", "--set", f"pickscore.processor={setup['model']}",
               "--set", "pickscore.device=cpu", "--batch", "2", "--json", "--per-image", str(per)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    scores = json.loads(per.read_text())["pickscore"]
    from PIL import Image

    files = sorted(setup["imgs"].glob("*.png"))
    prompts = setup["p"].read_text().splitlines()
    ref = [pickscore_reference(setup["model"], [Image.open(f).convert("RGB")], p)[0]
           for f, p in zip(files, prompts, strict=True)]
    assert np.allclose(scores, ref, rtol=1e-5, atol=0)
    assert out["n"] == 5 and abs(out["metrics"]["pickscore"] - np.mean(ref)) < 1e-5 * abs(np.mean(ref))
    assert out["extras"]["pickscore"]["prompts_over_context"] == 1  # counted over every batch


def test_score_t2i_bad_input_exit_2(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "t2i", str(setup["imgs"]), "--prompts", str(setup["bad"]), "--metric", "pickscore"]) == 2
    assert "3 prompts for 5 images" in capsys.readouterr().err
    assert main(["score", "t2i", str(setup["imgs"]), "--prompts", str(setup["p"]), "--metric", "fid"]) == 2
    assert main(["score", "t2i", str(setup["imgs"]), "--prompts", str(setup["p"]), "--set", "x=1"]) == 2
    assert main(["score", "t2i", str(setup["root"] / "nope"), "--prompts", str(setup["p"])]) == 2


def test_score_t2i_offline_weights_one_line(setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(setup["root"] / "empty-hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["score", "t2i", str(setup["imgs"]), "--prompts", str(setup["p"]), "--metric", "pickscore"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any("hf download yuvalkirstain/PickScore_v1" in line for line in err)


def test_preference_metric_in_a_text_to_image_suite(setup: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A scorer metric in the text-to-image task: rows with the scorer's own protocol (weights sha256), per-sample
    scores in the run's per_sample file."""
    from tests.conftest import run_cli

    suite = tmp_path / "t.yaml"
    m = setup["model"]
    suite.write_text(f"""name: t2i-pref
datasets: {{shapes: {{kind: shapes, split: test}}}}
models: {{oracle: {{adapter: shapes-oracle}}}}
tasks:
  - name: pref
    kind: text-to-image
    reference: shapes
    n: 6
    backbone: shapes-clip
    args: {{samples_per_prompt: 1}}
    metrics:
      pickscore: {{model: {m}, processor: {m}, device: cpu}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    (run,) = list((tmp_path / "o" / "t2i-pref").iterdir())
    (row,) = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    assert row["metric"] == "pickscore" and row["n"] == 6
    proto = row["protocol"]["metric_protocol"]
    assert proto["scorer"] == "PickScore" and len(proto["weights_sha256"]) == 64
    # the tiny tokenizer spells words letter by letter: every shapes caption over 75 characters is over 77 tokens
    assert row["extras"]["context_length"] == 77 and row["extras"]["prompts_over_context"] >= 1
    per = json.loads((run / row["extras"]["per_sample_file"]).read_text())
    assert len(per["values"]["pickscore"] if "values" in per else per["pickscore"]) == 6
