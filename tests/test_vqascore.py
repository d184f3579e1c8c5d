"""VQAScore equals t2v_metrics' computation on a tiny LLaVA in the real transformers format.

The reference is t2v_metrics 3.0's transformers-model forward, step by step (the package pins torch 2.5.1 and
transformers 4.49 and does not install beside the project's pins): chat template with the image and the question,
``generate(max_new_tokens=1, do_sample=False, output_scores=True)``, softmax of the first step's scores, the first
token of ``tokenizer.encode(answer)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import ConfigError, InputError
from bench.metrics import vqascore as vq
from bench.metrics.preference import to_pil

PROMPTS = ["a red cube", "a blue car", "a red car"]


@pytest.fixture(scope="module")
def llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.hf_tiny import tiny_llava

    return tiny_llava(tmp_path_factory.mktemp("llava"))


def t2v_metrics_reference(root: Path, pil: list, texts: list[str]) -> list[float]:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(root)
    model = AutoModelForImageTextToText.from_pretrained(root).eval()
    out = []
    for im, t in zip(pil, texts, strict=True):
        question = f'Does this figure show "{t}"? Please answer yes or no.'
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[text], images=[im], padding=True, return_tensors="pt")
        with torch.inference_mode():
            g = model.generate(**inputs, max_new_tokens=1, do_sample=False, output_scores=True,
                               return_dict_in_generate=True)
        probs = torch.nn.functional.softmax(g.scores[0], dim=-1)
        out.append(probs[0, processor.tokenizer.encode("Yes")[0]].item())
    return out


def test_vqascore_equals_t2v_metrics_steps(llava: Path) -> None:
    ims = torch.randint(0, 256, (3, 3, 40, 48), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    s = vq.VQAScorer(str(llava))
    ours = s(ims, PROMPTS)
    ref = np.array(t2v_metrics_reference(llava, to_pil(ims), PROMPTS))
    assert np.all(np.abs(ours - ref) <= 1e-5 * np.abs(ref)), (ours, ref)
    assert s.info()["answer_token"] == [7, "Yes"] and s.info()["question_template"] == vq.QUESTION_TEMPLATE


def test_vqascore_metric_rows(llava: Path) -> None:
    from bench.metrics.base import ArtifactSink, Reference, SampleSet

    m = vq.VQAScore({"model": str(llava), "device": "cpu"})
    ims = torch.randint(0, 256, (3, 3, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    sink = ArtifactSink()
    (v,) = m.compute(SampleSet(images=ims, texts=PROMPTS), Reference(), seed=0, sink=sink)
    assert 0 < v.value < 1 and len(sink.per_sample_values["vqascore"]) == 3
    assert m.protocol_fields()["metric_protocol"]["model"] == str(llava)
    with pytest.raises(InputError, match="3 images for 2 prompts"):
        m.load()(ims, PROMPTS[:2])


def test_vqascore_bad_template(llava: Path) -> None:
    with pytest.raises(ConfigError, match="no '\\{\\}'"):
        vq.VQAScorer(str(llava), question_template="Is this good?")
