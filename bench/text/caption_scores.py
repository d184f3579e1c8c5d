"""Score captions with every COCO caption metric, each one independently available.

``COCOEvalCap.evaluate()`` is all-or-nothing: no Java or no SPICE download and nothing is reported. Here each
metric is a :class:`MetricValue` that is either a number or ``available=False`` with the reason, and the rest
still run. Values equal pycocoevalcap's (tests/test_text_scoring.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.errors import InputError
from bench.text import ngram_metrics
from bench.text.ptb import JavaUnavailable, tokenize_sets

#: Metric names in report order (pycocoevalcap's names: Bleu_1..4, METEOR, ROUGE_L, CIDEr, SPICE).
METRIC_NAMES = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "SPICE")
PYCOCOEVALCAP_NAMES = {"BLEU-1": "Bleu_1", "BLEU-2": "Bleu_2", "BLEU-3": "Bleu_3", "BLEU-4": "Bleu_4",
                       "METEOR": "METEOR", "ROUGE-L": "ROUGE_L", "CIDEr-D": "CIDEr", "SPICE": "SPICE"}
#: Below this many images CIDEr-D's idf (from the evaluated references only) is unstable; 1 image always gives 0.
CIDER_MIN_IMAGES = 100


class CaptionMetricWarning(UserWarning):
    """A score was computed but is not comparable with published numbers (e.g. CIDEr-D on few images)."""


@dataclass
class MetricValue:
    """One corpus-level metric: ``value`` when ``available``, else ``None`` and the ``reason``."""

    value: float | None
    available: bool = True
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "available": self.available, "reason": self.reason}


@dataclass
class CaptionScores:
    """Corpus metrics, per-image metrics (available ones only) and warnings for one evaluation."""

    image_ids: list[Hashable]
    metrics: dict[str, MetricValue]
    per_image: dict[Hashable, dict[str, float]]
    warnings: list[str] = field(default_factory=list)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)

    def to_json(self) -> dict[str, Any]:
        """The stable ``genbench score captions --json`` shape (see :func:`bench.cli.score.cmd_score_captions`)."""
        return {"n_images": self.n_images, "metrics": {k: v.to_json() for k, v in self.metrics.items()},
                "warnings": list(self.warnings)}


def _check(refs: Mapping[Hashable, Sequence[str]], hyps: Mapping[Hashable, str | Sequence[str]]
           ) -> tuple[list[Hashable], list[list[str]], list[str]]:
    """Image ids (in ``refs`` order, restricted to ``hyps``), references and one hypothesis per image."""
    missing = [i for i in hyps if i not in refs]
    if missing:
        raise InputError(f"image id {missing[0]!r} has a hypothesis but no references"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    ids = [i for i in refs if i in hyps]
    if not ids:
        raise InputError("no image has both references and a hypothesis")
    out_refs, out_hyps = [], []
    for i in ids:
        h = hyps[i]
        if not isinstance(h, str):
            if len(h) != 1:
                raise InputError(f"image id {i!r}: exactly one hypothesis per image is needed, got {len(h)}")
            h = h[0]
        if not isinstance(h, str):
            raise InputError(f"image id {i!r}: hypothesis must be a string, got {type(h).__name__}")
        rs = refs[i]
        if isinstance(rs, str) or not rs:
            raise InputError(f"image id {i!r}: references must be a non-empty list of strings")
        out_refs.append(list(rs))
        out_hyps.append(h)
    return ids, out_refs, out_hyps


def _ngram_metrics(t_refs: list[list[str]], t_hyps: list[str], metrics: dict[str, MetricValue],
                   per: dict[str, list[float]]) -> None:
    """BLEU-1..4, ROUGE-L and CIDEr-D into ``metrics`` and ``per``; BLEU and CIDEr-D share one n-gram table."""
    ngrams = ngram_metrics.CaptionNgrams.build(t_refs, t_hyps)
    b_corpus, b_per = ngram_metrics.bleu(t_refs, t_hyps, ngrams=ngrams)
    for k in range(4):
        metrics[f"BLEU-{k + 1}"] = MetricValue(float(b_corpus[k]))
        per[f"BLEU-{k + 1}"] = b_per[k]
    r_corpus, r_per = ngram_metrics.rouge_l(t_refs, t_hyps)
    metrics["ROUGE-L"], per["ROUGE-L"] = MetricValue(r_corpus), r_per
    c_corpus, c_per = ngram_metrics.cider_d(t_refs, t_hyps, ngrams=ngrams)
    metrics["CIDEr-D"], per["CIDEr-D"] = MetricValue(c_corpus), c_per


def score_captions(refs: Mapping[Hashable, Sequence[str]], hyps: Mapping[Hashable, str | Sequence[str]],
                   *, meteor: bool = True, spice: bool = True) -> CaptionScores:
    """All caption metrics for the images that have a hypothesis, as pycocoevalcap computes them.

    ``refs``: image id → reference captions; ``hyps``: image id → the hypothesis (a string or a one-element list).
    Raw (untokenised) captions: PTB tokenisation happens here, once, for all metrics.
    """
    from bench.text.meteor import MeteorProcess
    from bench.text.spice import spice as spice_score
    from bench.text.spice import spice_unavailable_reason

    ids, raw_refs, raw_hyps = _check(refs, hyps)
    metrics: dict[str, MetricValue] = {}
    per: dict[str, list[float]] = {}
    notes: list[str] = []
    met: MeteorProcess | None = None
    met_reason = "disabled by the caller (--no-meteor)" if not meteor else None
    if meteor:
        try:
            met = MeteorProcess()  # start the JVM now: its start-up overlaps everything below
        except JavaUnavailable as exc:
            met_reason = str(exc)
    try:
        try:
            t_refs, t_hyps = tokenize_sets(raw_refs, raw_hyps)
        except JavaUnavailable as exc:
            reason = f"PTB tokenisation needs Java: {exc}"
            return CaptionScores(ids, {m: MetricValue(None, False, reason) for m in METRIC_NAMES}, {i: {} for i in ids},
                                 [f"all metrics unavailable: {reason}"])
        if met is not None:
            try:  # METEOR's Python side first: the JVM then aligns while the n-gram metrics are computed here
                met.start(t_refs, t_hyps)
            except JavaUnavailable as exc:
                met, met_reason = None, str(exc)
        _ngram_metrics(t_refs, t_hyps, metrics, per)
        if met is not None:
            try:
                m_corpus, per["METEOR"] = met.result()
                metrics["METEOR"] = MetricValue(m_corpus)
            except JavaUnavailable as exc:
                met_reason = str(exc)
        if met_reason is not None:
            metrics["METEOR"] = MetricValue(None, False, met_reason)
        unscored = [i for i in refs if i not in hyps]
        if unscored:  # scored on the rest, and said so: a results file that skips images is not a full-set number
            msg = (f"{len(unscored)} of {len(refs)} annotated images have no caption in the results (first: "
                   f"{unscored[0]!r}); the scores cover the {len(ids)} that do and are not full-set numbers")
            notes.append(msg)
            warnings.warn(msg, CaptionMetricWarning, stacklevel=2)
        if len(ids) < CIDER_MIN_IMAGES:
            msg = (f"CIDEr-D on {len(ids)} images: its idf comes from the evaluated references only, so the value "
                   f"depends on the subset and is not comparable with full-test-set numbers "
                   f"(use >= {CIDER_MIN_IMAGES} images)")
            notes.append(msg)
            warnings.warn(msg, CaptionMetricWarning, stacklevel=2)
        spice_reason: str | None = "disabled by the caller (--no-spice)" if not spice else spice_unavailable_reason()
        if spice_reason is None:
            s_corpus, s_per = spice_score(t_refs, t_hyps)
            metrics["SPICE"], per["SPICE"] = MetricValue(s_corpus), s_per
        else:
            metrics["SPICE"] = MetricValue(None, False, spice_reason)
    finally:
        if met is not None:
            met.close()
    per_image = {i: {m: per[m][k] for m in METRIC_NAMES if m in per} for k, i in enumerate(ids)}
    return CaptionScores(ids, {m: metrics[m] for m in METRIC_NAMES}, per_image, notes)
