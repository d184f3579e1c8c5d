"""Leaderboard flags: models whose FID cannot be read as sample quality, named and left out of the ranking.

FID rewards a model that replays its training set (its samples *are* the data) and it mixes coverage with
quality, so a leaderboard that crowns the lowest FID crowns memorizers. Each rule below reads a diagnostic metric
of the same (task, protocol) table; a model that trips one is shown with its values and a flag naming the rule
and the number, and is not ranked: no best-value mark, no win rate, listed after the ranked models. The
thresholds are far from where real data and honest models sit on the digits zoo (tests/test_flags.py), so a
flag means a pathology, not a close call.

========================  =====================================================================================
flag                      rule (metric from the same table)
========================  =====================================================================================
suspect outputs           a row's ``extras.output_warning``: the model's outputs did not fit their declared range
network not trained ...   a row's ``extras.backbone_warning``: the backbone's network never saw images like these
memorizes training data   ``near_copy_fraction`` >= 0.5: half the samples are near-copies of training images
mode collapse             ``lpips_diversity_ratio`` (or the offline ``perceptual_diversity_digits_ratio``) < 0.5:
                          samples less than half as diverse as real data
drops modes               ``class_coverage`` < 0.8 while ``precision`` >= 0.5: realistic samples, missing classes
========================  =====================================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FlagRule:
    flag: str
    metric: str
    test: Callable[[float, dict[str, float]], bool]
    why: str  # formatted with the metric's value

    def check(self, values: dict[str, float]) -> str | None:
        v = next((values[m] for m in self.metric.split("|") if m in values), None)  # "a|b": the first present
        if v is None or not math.isfinite(v) or not self.test(v, values):
            return None
        return f"{self.flag} ({self.why.format(v)})"


RULES: tuple[FlagRule, ...] = (
    FlagRule("memorizes training data", "near_copy_fraction", lambda v, _: v >= 0.5, "near-copies {:.0%}"),
    FlagRule("mode collapse", "lpips_diversity_ratio|perceptual_diversity_digits_ratio", lambda v, _: v < 0.5,
             "diversity {:.2g} of real"),
    FlagRule("drops modes", "class_coverage",
             lambda v, vals: v < 0.8 and vals.get("precision", 0.0) >= 0.5, "class coverage {:.2g}"),
)


def model_flags(rows: list[dict[str, Any]]) -> dict[Any, list[str]]:
    """model -> flags, from the rows of ONE (task, protocol) table (models without a flag are absent)."""
    values: dict[Any, dict[str, float]] = {}
    warned: dict[Any, list[str]] = {}
    for r in rows:
        if r.get("value") is not None:
            values.setdefault(r["model"], {})[r["metric"]] = float(r["value"])
        for key, flag in WARNING_FLAGS.items():
            msg = (r.get("extras") or {}).get(key)
            if msg and flag not in warned.setdefault(r["model"], []):
                warned[r["model"]].append(flag)
    out: dict[Any, list[str]] = {}
    for model in {**values, **warned}:
        hits = warned.get(model, []) + [msg for rule in RULES if (msg := rule.check(values.get(model, {}))) is not None]
        if hits:
            out[model] = hits
    return out


#: row extras that make a model's numbers suspect, and the flag each shows
WARNING_FLAGS = {"output_warning": "suspect outputs (value range; see the run's warnings)",
                 "backbone_warning": "network not trained on these images"}
