"""Class coverage and class-distribution KL, from the backbone's classifier head.

Why: a generator that drops whole classes can still score well on sample quality; counting which classes the
backbone's classifier recognises in the samples exposes it directly. Both sets are labelled by the same
classifier (argmax of the logits layer): the reference's distribution is its *predicted* classes, not its
ground-truth labels, so the classifier's own confusions cancel instead of showing up as a gap.

* ``class_coverage``: the fraction of classes that get at least ``min_share`` × the samples they would get
  under the reference's predicted distribution (with ``min_share = 0.25`` and 500 samples over 10 balanced
  classes, a class is covered from ~13 samples on). Classes the reference never predicts are not counted.
* ``class_kl``: KL(p_gen ‖ p_ref) in nats over the predicted classes, with ``eps`` added to every class count
  of both histograms (so a class the reference never predicts gives a large but finite value). KL(p_gen ‖ p_ref)
  rather than the reverse: dropping modes then costs log(1/mass kept) — log(10/3) ≈ 1.20 for three balanced
  classes out of ten — instead of infinity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet


def class_histogram(logits: np.ndarray) -> np.ndarray:
    """Counts of argmax classes, one bin per logit column."""
    return np.bincount(np.asarray(logits).argmax(1), minlength=logits.shape[1]).astype(np.float64)


def class_stats(gen_logits: np.ndarray, ref_logits: np.ndarray, min_share: float = 0.25,
                eps: float = 0.5) -> tuple[float, float, dict[str, list[int]]]:
    """(coverage, KL(p_gen ‖ p_ref) in nats, histograms) from the two sets' logits."""
    hg, hr = class_histogram(gen_logits), class_histogram(ref_logits)
    pr = hr / hr.sum()
    present = pr > 0
    expected = pr * hg.sum()
    covered = (hg >= min_share * expected) & present
    coverage = float(covered.sum() / present.sum())
    pg_s, pr_s = (hg + eps) / (hg + eps).sum(), (hr + eps) / (hr + eps).sum()
    kl = float(np.sum(pg_s * np.log(pg_s / pr_s)))
    return coverage, kl, {"generated": hg.astype(int).tolist(), "reference": hr.astype(int).tolist()}


class ClassOpts(Options):
    min_share: float = Field(default=0.25, gt=0, le=1,
                             description="a class is covered with at least this share of its expected samples")
    eps: float = Field(default=0.5, gt=0, description="pseudo-count added to every class bin before the KL")


class ClassCoverage(Metric[ClassOpts]):
    name = "class_coverage"
    description = "Classes recognised in the samples (argmax of the backbone's logits) vs the reference"
    outputs = {
        "class_coverage": OutputInfo(higher_is_better=True, description="fraction of reference classes covered"),
        "class_kl": OutputInfo(higher_is_better=False, unit="nats",
                               description="KL(p_gen || p_ref) of predicted classes"),
    }
    Opts = ClassOpts
    layer = "logits"

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        coverage, kl, hist = class_stats(samples.x, ref.x, o.min_share, o.eps)
        extras = {"histogram": hist, "min_share": o.min_share, "eps": o.eps, "labels": "argmax of backbone logits"}
        return [MetricValue("class_coverage", coverage, extras=extras), MetricValue("class_kl", kl, extras=extras)]
