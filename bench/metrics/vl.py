"""Vision-language metrics: retrieval recall, COCO caption metrics, CLIPScore/RefCLIPScore, text-to-image scores.

They follow the metric interface: retrieval reads ``embeddings``; caption metrics read ``texts`` (the captions) and
``reference.captions``; CLIP scores read ``image_text_pairs`` (the features of each text's image) and embed texts
with the task's ``backbone``. Per-sample values go through the artifact sink (the run folder's ``per_sample/``,
not rows) so intervals and paired tests can be computed later.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal

import numpy as np
from pydantic import Field

from bench.errors import InputError
from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet
from bench.metrics.longprompts import backbone_long_prompts
from bench.metrics.retrieval import KS, retrieval_ranks


def bootstrap_ci(x: np.ndarray, seed: int, reps: int = 1000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-sample values (seeded: same suite, same interval)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(reps, len(x)))
    means = x[idx].mean(1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


# ================================================================================================ retrieval
class Recall(Metric):
    name = "retrieval_recall"
    description = "text↔image retrieval: R@1/5/10 both directions (%), RSUM, median/mean rank; float32, ties against"
    requires = frozenset({"embeddings"})
    outputs = {
        **{f"{d}_r{k}": OutputInfo(True, "%", f"{'text→image' if d == 't2i' else 'image→text'} recall@{k}")
           for d in ("t2i", "i2t") for k in KS},
        "rsum": OutputInfo(True, "%", "sum of the six recalls"),
        "t2i_medr": OutputInfo(False, "rank"), "i2t_medr": OutputInfo(False, "rank"),
        "t2i_meanr": OutputInfo(False, "rank"), "i2t_meanr": OutputInfo(False, "rank"),
    }

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        e = samples.embeddings
        if e is None:
            raise InputError("recall needs retrieval embeddings (images, texts, pairs)")
        res = retrieval_ranks(e["images"], e["texts"], e["pairs"])
        if sink is not None:
            sink.per_sample("t2i_rank", res.t2i_ranks)
            sink.per_sample("i2t_rank", res.i2t_ranks)
        return [MetricValue(k, v) for k, v in res.metrics().items()]


# ================================================================================================ captions
CAPTION_OUTPUTS = {"BLEU-1": "bleu1", "BLEU-2": "bleu2", "BLEU-3": "bleu3", "BLEU-4": "bleu4", "METEOR": "meteor",
                   "ROUGE-L": "rouge_l", "CIDEr-D": "cider_d", "SPICE": "spice"}


class CaptionOpts(Options):
    meteor: bool = Field(default=True, description="METEOR needs Java (~6 s JVM start-up)")
    spice: bool = Field(default=True, description="SPICE needs the Stanford CoreNLP jars (offline: unavailable)")


class CaptionMetrics(Metric[CaptionOpts]):
    name = "coco_captions"
    description = "BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE as pycocoevalcap 1.2 computes them (bench.text)"
    requires = frozenset({"texts", "reference.captions"})
    Opts = CaptionOpts
    outputs = {v: OutputInfo(True, "", k) for k, v in CAPTION_OUTPUTS.items()}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        import warnings

        from bench.text.caption_scores import CaptionMetricWarning, score_captions

        assert samples.texts is not None and ref.captions is not None
        o = self.opts
        refs: dict[Hashable, list[str]] = {i: list(r) for i, r in enumerate(ref.captions)}
        hyps: dict[Hashable, str] = dict(enumerate(samples.texts))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptionMetricWarning)
            res = score_captions(refs, hyps, meteor=o.meteor, spice=o.spice)
        out = []
        for name, short in CAPTION_OUTPUTS.items():
            mv = res.metrics[name]
            extras: dict[str, object] = {"warnings": res.warnings} if name == "CIDEr-D" and res.warnings else {}
            if not mv.available:
                extras["reason"] = mv.reason
            elif sink is not None:
                sink.per_sample(short, [res.per_image[i][name] for i in res.image_ids])
            out.append(MetricValue(short, mv.value, extras=extras))
        return out


# ================================================================================================ CLIP scores
def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.astype(np.float32) / np.linalg.norm(a, axis=1, keepdims=True)
    b = b.astype(np.float32) / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)  # type: ignore[no-any-return]


class ClipScoreOpts(Options):
    prefix: str = Field(default="A photo depicts ", description="Hessel et al.'s text prefix")
    w: float = Field(default=2.5, description="rescaling weight w in w * max(cos, 0)")
    long_prompts: Literal["truncate", "error"] = Field(
        default="truncate", description="texts longer than the text encoder's context: truncate (counted in the "
                                        "row's extras: prompts_over_context) or refuse")


class ClipScoreTMOpts(Options):
    long_prompts: Literal["truncate", "error"] = Field(
        default="truncate", description="texts longer than the text encoder's context: truncate (counted in the "
                                        "row's extras: prompts_over_context) or refuse")


class ClipScore(Metric[ClipScoreOpts]):
    """Hessel et al. 2021: CLIP-S = w * max(cos(image, prefix + caption), 0), mean over images; RefCLIP-S = harmonic
    mean of CLIP-S and max(cos(caption, reference), 0) over the references (references also get the prefix, as in
    the authors' code). The scorer is the task's backbone: OpenAI ViT-B/32 (``clip-vit-b32``) for the published
    protocol, ``shapes-clip`` offline; the protocol names it."""

    name = "clipscore"
    description = "CLIPScore and RefCLIPScore (Hessel et al. 2021: 2.5*max(cos,0), prefix 'A photo depicts ')"
    requires = frozenset({"image_text_pairs", "texts", "backbone", "reference.captions"})
    layer = "embed"
    Opts = ClipScoreOpts
    outputs = {"clip_s": OutputInfo(True, "", "CLIPScore"), "refclip_s": OutputInfo(True, "", "RefCLIPScore")}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        bb, texts, refs = samples.backbone, samples.texts, ref.captions
        assert bb is not None and texts is not None and refs is not None
        img = samples.x
        long = backbone_long_prompts(bb, [o.prefix + h for h in texts], o.long_prompts, self.name)
        cand = bb.embed_texts([o.prefix + h for h in texts])  # type: ignore[attr-defined]
        clip_s = o.w * np.clip(_cos(img, cand), 0, None)
        flat = [o.prefix + r for rs in refs for r in rs]
        owner = np.repeat(np.arange(len(refs)), [len(rs) for rs in refs])
        ref_emb = bb.embed_texts(flat)  # type: ignore[attr-defined]
        ref_cos = _cos(np.repeat(cand, [len(rs) for rs in refs], axis=0), ref_emb)
        best = np.full(len(refs), -np.inf, dtype=np.float32)
        np.maximum.at(best, owner, ref_cos)
        best = np.clip(best, 0, None)
        a = clip_s
        refclip = np.where(a + best > 0, 2 * a * best / np.maximum(a + best, 1e-12), 0.0)
        extras: dict[str, Any] = {"scorer": bb.scorer, "prefix": o.prefix, "w": o.w}  # type: ignore[attr-defined]
        out = []
        for name, per in (("clip_s", clip_s), ("refclip_s", refclip)):
            lo, hi = bootstrap_ci(per, seed)
            if sink is not None:
                sink.per_sample(name, per)
            out.append(MetricValue(name, float(per.mean()), lo, hi,
                                   extras={**extras, **(long if name == "clip_s" else {})}))
        return out


class ClipScoreTM(Metric[ClipScoreTMOpts]):
    """torchmetrics' ``CLIPScore`` convention: 100 * cos, no prefix, clamp at 0 after averaging (its default model
    is ViT-L/14; here the scorer is the task's backbone, named in the protocol)."""

    name = "clipscore_torchmetrics"
    description = "torchmetrics CLIPScore convention: max(100 * mean cos, 0), no prefix"
    requires = frozenset({"image_text_pairs", "texts", "backbone"})
    layer = "embed"
    Opts = ClipScoreTMOpts
    outputs = {"clip_score_tm": OutputInfo(True, "", "torchmetrics-convention CLIP score")}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        bb = samples.backbone
        assert bb is not None and samples.texts is not None
        long = backbone_long_prompts(bb, list(samples.texts), self.opts.long_prompts, self.name)
        per = 100 * _cos(samples.x, bb.embed_texts(list(samples.texts)))  # type: ignore[attr-defined]
        if sink is not None:
            sink.per_sample("clip_score_tm", per)
        return [MetricValue("clip_score_tm", max(float(per.mean()), 0.0),
                            extras={"scorer": bb.scorer, **long})]  # type: ignore[attr-defined]
