"""The transformers retriever on a tiny random-weight CLIP built from a config, with a tokenizer written locally:
the embeddings of the model's own forward, independent of batch size, in a retrieval suite, and one line for a hub
id that is not here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from bench.adapters import AdapterContext, build_adapter  # noqa: E402

from tests.conftest import run_cli  # noqa: E402
from tests.hf_tiny import tiny_clip  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip(tmp_path_factory.mktemp("clip"))


def test_embeddings_are_the_models_own_and_do_not_depend_on_the_batch(clip: Path) -> None:
    from transformers import AutoModel, AutoProcessor

    images = torch.randint(0, 256, (5, 3, 20, 24), dtype=torch.uint8)
    texts = ["a red circle", "two blue squares", "one small green triangle"]
    small = build_adapter("transformers-retriever", {"pretrained": str(clip), "batch_size": 2}, AdapterContext())
    big = build_adapter("transformers-retriever", {"pretrained": str(clip)}, AdapterContext())
    im, tx = small.embed_images(images), small.embed_texts(texts)
    assert im.shape == (5, 16) and tx.shape == (3, 16)
    np.testing.assert_allclose(im, big.embed_images(images), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tx, big.embed_texts(texts), rtol=1e-5, atol=1e-6)
    model, proc = AutoModel.from_pretrained(str(clip)).eval(), AutoProcessor.from_pretrained(str(clip))
    with torch.no_grad():
        out = model(**proc(text=texts, images=[x.permute(1, 2, 0).numpy() for x in images], padding=True,
                           return_tensors="pt"))
    unit = im / np.linalg.norm(im, axis=1, keepdims=True)
    np.testing.assert_allclose(unit, out.image_embeds.numpy(), rtol=1e-4, atol=1e-5)  # CLIP's own normalized embeds
    np.testing.assert_allclose(tx / np.linalg.norm(tx, axis=1, keepdims=True), out.text_embeds.numpy(),
                               rtol=1e-4, atol=1e-5)
    grey = small.embed_images(images[:, :1])  # one channel: repeated to RGB, as the processor expects
    assert grey.shape == (5, 16)


def test_a_retrieval_suite_and_a_missing_hub_model(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "r.yaml"
    suite.write_text(f"""name: tr
datasets: {{shapes: {{kind: shapes, split: test}}}}
models:
  tiny-clip: {{adapter: transformers-retriever, args: {{pretrained: "{clip}"}}}}
  hub: {{adapter: transformers-retriever, args: {{pretrained: openai/clip-vit-base-patch32}}}}
tasks:
  - {{name: r, kind: retrieval, reference: shapes, n: 40, metrics: [retrieval_recall]}}
""")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert (f"transformers model 'openai/clip-vit-base-patch32' is not in the Hugging Face cache ({tmp_path / 'hub'}) "
            "and genbench is offline") in err
    (run,) = list((tmp_path / "o" / "tr").iterdir())
    rows = [json.loads(x) for x in (run / "rows.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"tiny-clip"} and any(r["metric"] == "rsum" for r in rows)
