"""Metadata of the values the dissection task writes (bench.tasks.dissection computes them; docs/dissection.md)."""

from __future__ import annotations

from bench.metrics.base import Metric, OutputInfo


class Dissection(Metric):
    name = "dissection"
    description = ("GAN Dissection (Bau et al. 2019): unit × concept IoU on a generator layer, concept removal by "
                   "ablating a concept's units against random units, insertion (computed by the dissection task)")
    requires = frozenset({"units"})
    outputs = {
        "interpretable_units": OutputInfo(higher_is_better=True, unit="units", description=(
            "units whose best concept IoU exceeds iou_threshold")),
        "interpretable_fraction": OutputInfo(higher_is_better=True, description="interpretable units / layer units"),
        "best_iou": OutputInfo(higher_is_better=True, description=(
            "best_iou@<concept>: the IoU of the concept's best unit (extras: its best units and their IoU)")),
        "concept_fraction": OutputInfo(higher_is_better=True, ranked=False, description=(
            "concept_fraction@<concept>: the fraction of generated pixels the segmenter gives the concept")),
        "concept_drop": OutputInfo(higher_is_better=True, description=(
            "concept_drop@<concept>: relative drop of the concept's pixels after ablating its top_k units")),
        "random_drop": OutputInfo(higher_is_better=False, ranked=False, description=(
            "random_drop@<concept>: the same for top_k random units of the layer (the baseline)")),
        "concept_gain": OutputInfo(higher_is_better=True, description=(
            "concept_gain@<concept>: increase of the concept's share of an inserted window when its top_k units "
            "are set high there")),
        "random_gain": OutputInfo(higher_is_better=False, ranked=False, description=(
            "random_gain@<concept>: the same for top_k random units (the baseline)")),
        "fid_change": OutputInfo(higher_is_better=False, ranked=False, description=(
            "fid_change@<concept>: FID of the ablated samples minus FID of the unedited ones (task backbone and "
            "reference)")),
        "fid_unedited": OutputInfo(higher_is_better=False, description="FID of the unedited samples"),
        "mean_concept_drop": OutputInfo(higher_is_better=True, description="concept_drop averaged over the concepts "
                                        "present"),
        "mean_random_drop": OutputInfo(higher_is_better=False, ranked=False, description="random_drop averaged over "
                                       "the concepts present"),
        "removable_concepts": OutputInfo(higher_is_better=True, unit="concepts", description=(
            "concepts whose top_k units remove at least half of them, at least 3x what as many random units remove")),
    }
