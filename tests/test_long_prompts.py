"""CLIP score and CLIP-based scorers say how many prompts exceed the text encoder's context and what was done."""

from __future__ import annotations

import pytest

from bench.errors import InputError
from bench.metrics.base import Reference, SampleSet
from bench.metrics.vl import ClipScore, ClipScoreTM

#: 120 CLIP BPE tokens with start and end (every word and comma one token)
PROMPT_120 = "a photo of " + ", ".join(["a red cube"] * 39)[: -len(" cube")] + " cube"


def test_openai_clip_counts_a_120_token_prompt() -> None:
    from bench.backbones.textimage import OpenAIClipB32Backbone

    bb = OpenAIClipB32Backbone()
    (n,) = bb.token_counts([PROMPT_120])  # type: ignore[misc]
    assert n > 77 and bb.text_context == 77
    from open_clip.tokenizer import SimpleTokenizer

    assert n == len(SimpleTokenizer().encode(PROMPT_120)) + 2


def shapes_samples(texts: list[str]) -> tuple[SampleSet, Reference]:
    import torch

    from bench.backbones.textimage import ShapesClipBackbone

    bb = ShapesClipBackbone()
    imgs = torch.randint(0, 256, (len(texts), 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    feats = bb.extract(imgs)
    return SampleSet(features=feats, layer="embed", texts=texts, backbone=bb), Reference(captions=[[t] for t in texts])


def test_clip_score_reports_truncated_prompts_in_row_extras() -> None:
    long = " ".join(["a red circle and"] * 30) + " a blue square"  # 123 words: over the shapes encoder's 32
    samples, ref = shapes_samples(["a red circle", long])
    (v,) = ClipScoreTM().compute(samples, ref, seed=0)
    assert v.extras["prompts_over_context"] == 1 and v.extras["context_length"] == 32
    assert v.extras["longest_prompt_tokens"] == 123 and v.extras["long_prompts"].startswith("truncated")
    cs = ClipScore().compute(samples, ref, seed=0)
    assert cs[0].extras["prompts_over_context"] == 1 and "prompts_over_context" not in cs[1].extras
    with pytest.raises(InputError, match=r"1 prompt\(s\) exceed the text encoder's 32 tokens \(prompt 1 has"):
        ClipScoreTM({"long_prompts": "error"}).compute(samples, ref, seed=0)


def test_short_prompts_report_none_over() -> None:
    samples, ref = shapes_samples(["a red circle", "a blue square"])
    (v,) = ClipScoreTM().compute(samples, ref, seed=0)
    assert v.extras["prompts_over_context"] == 0 and v.extras["long_prompts"] == "none over the context"
