"""The transformers captioner on tiny random-weight BLIP and GIT models built from configs with a WordPiece
vocabulary written locally: captions are the model's own generate() output, independent of the batch, decoding
options change them and are recorded, and a captioning suite scores them through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from bench.adapters import AdapterContext, build_adapter  # noqa: E402

from tests.conftest import run_cli  # noqa: E402
from tests.hf_tiny import tiny_blip, tiny_git  # noqa: E402


@pytest.fixture(scope="module", params=["blip", "git"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    build = {"blip": tiny_blip, "git": tiny_git}[request.param]
    return build(tmp_path_factory.mktemp(request.param))


def _direct(folder: Path, images: torch.Tensor, **generate: object) -> list[str]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    m, p = AutoModelForImageTextToText.from_pretrained(str(folder)).eval(), AutoProcessor.from_pretrained(str(folder))
    enc = p(images=[x.permute(1, 2, 0).numpy() for x in images], return_tensors="pt")
    with torch.no_grad():
        out = m.generate(pixel_values=enc["pixel_values"], do_sample=False, **generate)
    return [t.strip() for t in p.batch_decode(out, skip_special_tokens=True)]


def test_captions_are_the_models_own_and_do_not_depend_on_the_batch(model: Path) -> None:
    images = torch.randint(0, 256, (5, 3, 24, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    one = build_adapter("transformers-captioner", {"pretrained": str(model), "batch_size": 1}, AdapterContext())
    five = build_adapter("transformers-captioner", {"pretrained": str(model), "batch_size": 5}, AdapterContext())
    got = one.caption(images)
    assert got == five.caption(images) == _direct(model, images, num_beams=1, max_new_tokens=30)
    assert all(isinstance(c, str) and c for c in got)
    beam = build_adapter("transformers-captioner", {"pretrained": str(model), "num_beams": 3, "max_new_tokens": 8},
                         AdapterContext())
    assert beam.caption(images) == _direct(model, images, num_beams=3, max_new_tokens=8)


def test_sampling_is_refused(model: Path) -> None:
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="do_sample is refused"):
        build_adapter("transformers-captioner", {"pretrained": str(model), "generate": {"do_sample": True}},
                      AdapterContext())


def test_a_captioning_suite_records_the_decoding(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "c.yaml"
    suite.write_text(f"""name: tc
datasets: {{shapes: {{kind: shapes, split: test}}}}
models:
  tiny: {{adapter: transformers-captioner, args: {{pretrained: "{model}", num_beams: 2, max_new_tokens: 12}}}}
  hub: {{adapter: transformers-captioner, args: {{pretrained: Salesforce/blip-image-captioning-base}}}}
tasks:
  - {{name: c, kind: captioning, reference: shapes, n: 12, backbone: shapes-clip, metrics: {{coco_captions: {{meteor: false, spice: false}}}}}}
""")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err  # the hub model is not here: one line, the other model's rows kept
    assert "'Salesforce/blip-image-captioning-base' is not in the Hugging Face cache" in err
    (run,) = list((tmp_path / "o" / "tc").iterdir())
    rows = [json.loads(x) for x in (run / "rows.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"tiny"} and {"bleu4", "cider_d"} <= {r["metric"] for r in rows}
    manifest = json.loads((run / "manifest.json").read_text())
    assert "num_beams" in json.dumps(manifest) and "max_new_tokens" in json.dumps(manifest)
