"""VQAScore (Lin et al. 2024; t2v_metrics): the probability a vision-language model answers "Yes" to
``Does this figure show "{prompt}"? Please answer yes or no.`` about the image.

As t2v_metrics' transformers-based VQAScore models compute it: the question goes through the model's chat
template (a user turn holding the image and the question, then the generation prompt; models without a chat
template get the bare question), one next token is scored, and the score is ``softmax(logits)[answer token]``
where the answer token is the first token of the answer template ("Yes"). t2v_metrics reads those logits from
``generate(max_new_tokens=1, do_sample=False, output_scores=True)``; here they come from one forward pass (the
same logits when the model's generation config adds no logits processor, which is recorded). The model, the
question and answer templates and the answer token are part of the protocol.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet

#: t2v_metrics 3.0's default templates (its llava/clip_t5/gpt4v/gemini models)
QUESTION_TEMPLATE = 'Does this figure show "{}"? Please answer yes or no.'
ANSWER_TEMPLATE = "Yes"


class VQAScorer:
    """A transformers image-text-to-text model scoring P(answer | image, question) per (image, prompt)."""

    def __init__(self, model: str, question_template: str = QUESTION_TEMPLATE, answer_template: str = ANSWER_TEMPLATE,
                 device: str = "cpu", batch_size: int = 1) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        from bench.metrics.hfweights import folder_sha256, hf_folder

        if "{}" not in question_template:
            raise ConfigError(f"vqascore: question_template {question_template!r} has no '{{}}' for the prompt")
        path = hf_folder(model, "VQAScore model")
        self.device, self.batch_size = torch.device(device), batch_size
        self.processor = AutoProcessor.from_pretrained(path)
        self.model = AutoModelForImageTextToText.from_pretrained(path).eval().to(self.device)
        self.question, self.answer = question_template, answer_template
        ids = self.tokenizer.encode(answer_template, add_special_tokens=False)
        if not ids:
            raise ConfigError(f"vqascore: answer template {answer_template!r} is no token of the model's tokenizer")
        self.answer_id = int(ids[0])
        self.chat = getattr(self.processor, "chat_template", None) is not None
        self._info = {"scorer": "VQAScore", "model": model, "weights_sha256": folder_sha256(path),
                      "question_template": question_template, "answer_template": answer_template,
                      "answer_token": [self.answer_id, self.tokenizer.convert_ids_to_tokens(self.answer_id)],
                      "prompting": "chat template, user turn (image, question), generation prompt" if self.chat
                      else "bare question (the processor has no chat template)",
                      "score": "softmax(next-token logits)[answer token], float32",
                      "reference": "t2v_metrics 3.0 VQAScore (transformers-based models' forward)"}

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)

    def info(self) -> dict[str, Any]:
        return self._info

    def text(self, prompt: str) -> str:
        q = self.question.format(prompt)
        if not self.chat:
            return q
        msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}]
        return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)  # type: ignore[no-any-return]

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        from bench.metrics.preference import to_pil

        if len(prompts) != images.shape[0]:
            raise InputError(f"vqascore: {images.shape[0]} images for {len(prompts)} prompts")
        out = []
        pil = to_pil(images)
        for s in range(0, len(prompts), self.batch_size):
            texts = [self.text(p) for p in prompts[s: s + self.batch_size]]
            inputs = self.processor(text=texts, images=pil[s: s + self.batch_size], return_tensors="pt",
                                    padding=len(texts) > 1).to(self.device)
            logits = self.model(**inputs).logits
            last = inputs["attention_mask"].sum(1) - 1 if self.tokenizer.padding_side == "right" else \
                torch.full((len(texts),), logits.shape[1] - 1, device=logits.device)
            step = logits[torch.arange(len(texts), device=logits.device), last].float()
            out.append(torch.softmax(step, dim=-1)[:, self.answer_id].cpu().numpy())
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


class VQAScoreOpts(Options):
    model: str = Field(default="llava-hf/llava-1.5-13b-hf",
                       description="transformers image-text-to-text folder or Hugging Face repo id (cache)")
    question_template: str = Field(default=QUESTION_TEMPLATE, description="'{}' is replaced by the prompt")
    answer_template: str = Field(default=ANSWER_TEMPLATE)
    device: str = Field(default="auto", description="auto: CUDA when present")
    batch_size: int = Field(default=1, ge=1, description="items per forward pass (1 as t2v_metrics)")


class VQAScore(Metric[VQAScoreOpts]):
    name = "vqascore"
    description = "VQAScore (Lin et al. 2024): P('Yes' | image, 'Does this figure show \"{prompt}\"?...')"
    requires = frozenset({"texts"})  # the images stream through item_measures (or come whole from Python)
    Opts = VQAScoreOpts
    outputs = {"vqascore": OutputInfo(True, "probability", "mean P(Yes) that the image shows the prompt")}

    def load(self) -> VQAScorer:
        from bench.metrics.preference import _device

        o = self.opts
        if not hasattr(self, "_scorer"):
            self._scorer = VQAScorer(o.model, o.question_template, o.answer_template, str(_device(o.device)),
                                     o.batch_size)
        return self._scorer

    def protocol_fields(self) -> dict[str, Any]:
        return {"metric_protocol": self.load().info()}

    def item_measures(self) -> dict[str, Any]:
        s = self.load()
        return {"vqascore": lambda images, prompts: s(images, list(prompts))}

    def dry_run(self) -> list[str]:
        from bench.metrics.hfweights import folder_state

        return [folder_state(self.opts.model, "VQAScore model")]

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        from bench.metrics.vl import bootstrap_ci

        if (samples.images is None and "vqascore" not in samples.item_values) or samples.texts is None:
            raise InputError("vqascore needs the generated images and their prompts")
        s = self.load()
        per = np.asarray(samples.item_values["vqascore"]) if "vqascore" in samples.item_values \
            else s(samples.images, list(samples.texts))  # type: ignore[arg-type]  # checked above
        lo, hi = bootstrap_ci(per, seed)
        if sink is not None:
            sink.per_sample("vqascore", per)
        return [MetricValue("vqascore", float(per.mean()), lo, hi,
                            extras={"model": s.info()["model"], "weights_sha256": s.info()["weights_sha256"],
                                    "question_template": s.question, "answer_template": s.answer})]
