"""Class-conditional generation metrics: class accuracy and intra-class FID.

Both need the class requested for each sample (input ``classes``: a generation task with ``args: {classes: K}``
provides it; ``genbench validate`` refuses them elsewhere). Called from Python without classes they report
unavailable (value None, extras["reason"]), never a number that would look like a score.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from bench.metrics.base import ArtifactSink, Metric, MetricValue, OutputInfo, Reference, SampleSet
from bench.metrics.frechet import frechet_distance, gaussian_stats

NO_CLASSES = "no requested classes: run it in a class-conditional task (task args: {classes: K})"


def _requested(samples: SampleSet) -> np.ndarray | None:
    return None if samples.classes is None else np.asarray(list(samples.classes), dtype=np.int64)


class ClassAccuracy(Metric):
    name = "cond_acc"
    description = "class-conditional accuracy: fraction of samples the backbone's classifier assigns to the requested class"
    outputs = {"cond_acc": OutputInfo(higher_is_better=True, description="classifier agrees with the requested class")}
    layer = "logits"
    requires = frozenset({"features", "classes"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        req = _requested(samples)
        if req is None:
            return [MetricValue("cond_acc", None, extras={"reason": NO_CLASSES})]
        pred = samples.x.argmax(1)
        per_class = {int(c): round(float((pred[req == c] == c).mean()), 4) for c in np.unique(req)}
        return [MetricValue("cond_acc", float((pred == req).mean()), extras={"per_class": per_class})]


class IntraClassFID(Metric):
    name = "intra_fid"
    description = ("intra-class FID: mean over classes of the FID between the samples requested as class c and "
                   "the reference images labelled c")
    outputs = {"intra_fid": OutputInfo(higher_is_better=False, description="mean per-class FID")}
    requires = frozenset({"features", "classes", "reference.features", "reference.labels"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        req = _requested(samples)
        if req is None:
            return [MetricValue("intra_fid", None, extras={"reason": NO_CLASSES})]
        labels = ref.labels
        if labels is None:
            return [MetricValue("intra_fid", None, extras={"reason": f"reference '{ref.name}' has no labels"})]
        labels = np.asarray(labels)
        g, r = samples.x, ref.x
        per_class: dict[int, float] = {}
        for c in np.unique(req):
            rc = r[labels == c]
            if len(rc) < 2:
                return [MetricValue("intra_fid", None, extras={"reason": f"reference has < 2 images of class {c}"})]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sg, sr = gaussian_stats(g[req == c]), gaussian_stats(rc)
                per_class[int(c)] = frechet_distance(sg.mu, sg.sigma, sr.mu, sr.sigma).value
        n_min = min(int((req == c).sum()) for c in per_class)
        extras = {"per_class": {c: round(v, 4) for c, v in per_class.items()}, "min_class_n": n_min}
        if n_min < g.shape[1]:
            extras["note"] = (f"per-class n ({n_min}) < feature dimension {g.shape[1]}: covariances are singular; "
                              "compare only at equal n")
        return [MetricValue("intra_fid", float(np.mean(list(per_class.values()))), extras=extras)]
