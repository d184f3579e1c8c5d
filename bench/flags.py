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
memorizes training data   ``near_copy_fraction`` >= 0.5: half the samples are near-copies of training images
mode collapse             ``lpips_diversity_ratio`` < 0.5: samples less than half as diverse as real data
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
        v = values.get(self.metric)
        if v is None or not math.isfinite(v) or not self.test(v, values):
            return None
        return f"{self.flag} ({self.why.format(v)})"


RULES: tuple[FlagRule, ...] = (
    FlagRule("memorizes training data", "near_copy_fraction", lambda v, _: v >= 0.5, "near-copies {:.0%}"),
    FlagRule("mode collapse", "lpips_diversity_ratio", lambda v, _: v < 0.5, "diversity {:.2g} of real"),
    FlagRule("drops modes", "class_coverage",
             lambda v, vals: v < 0.8 and vals.get("precision", 0.0) >= 0.5, "class coverage {:.2g}"),
)


def model_flags(rows: list[dict[str, Any]]) -> dict[Any, list[str]]:
    """model -> flags, from the rows of ONE (task, protocol) table (models without a flag are absent)."""
    values: dict[Any, dict[str, float]] = {}
    for r in rows:
        if r.get("value") is not None:
            values.setdefault(r["model"], {})[r["metric"]] = float(r["value"])
    out: dict[Any, list[str]] = {}
    for model, vals in values.items():
        hits = [msg for rule in RULES if (msg := rule.check(vals)) is not None]
        if hits:
            out[model] = hits
    return out
