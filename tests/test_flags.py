"""Leaderboard flags (bench.flags): pathologies named, flagged models listed last and left out of the ranking."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.flags import model_flags
from bench.tables import html_tables, leaderboards, to_latex, to_markdown

HIGHER = {"fid": False, "precision": True, "class_coverage": True, "near_copy_fraction": False,
          "lpips_diversity_ratio": True}


def _rows(table: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    return [{"task": "t", "protocol_id": "p", "model": m, "metric": k, "value": v, "higher_is_better": HIGHER[k]}
            for m, vals in table.items() for k, v in vals.items()]


ROWS = _rows({
    "real": {"fid": 5.0, "precision": 0.9, "class_coverage": 1.0, "near_copy_fraction": 0.04, "lpips_diversity_ratio": 1.0},
    "copier": {"fid": 1.0, "precision": 1.0, "class_coverage": 1.0, "near_copy_fraction": 0.97, "lpips_diversity_ratio": 1.0},
    "model": {"fid": 40.0, "precision": 0.6, "class_coverage": 1.0, "near_copy_fraction": 0.02, "lpips_diversity_ratio": 0.9},
    "subset": {"fid": 300.0, "precision": 0.95, "class_coverage": 0.3, "near_copy_fraction": 0.05, "lpips_diversity_ratio": 0.85},
    "collapsed": {"fid": 900.0, "precision": 0.1, "class_coverage": 0.1, "near_copy_fraction": 0.0, "lpips_diversity_ratio": 0.04},
    "noise": {"fid": 450.0, "precision": 0.0, "class_coverage": 0.2, "near_copy_fraction": 0.0, "lpips_diversity_ratio": 1.3},
})


def test_rules_name_the_pathology_and_the_number() -> None:
    assert model_flags(ROWS) == {
        "copier": ["memorizes training data (near-copies 97%)"],
        "subset": ["drops modes (class coverage 0.3)"],
        "collapsed": ["mode collapse (diversity 0.04 of real)"],
    }  # noise misses classes too, but its precision is ~0: bad samples, not dropped modes


def test_flagged_models_are_listed_last_and_not_ranked() -> None:
    (lb,) = leaderboards(ROWS)
    assert list(lb["numeric"].index) == ["real", "model", "noise", "copier", "subset", "collapsed"]
    assert lb["best"]["fid"] == {"real"} and lb["best"]["precision"] == {"real"}  # copier's 1.0 is not "best"
    wr = lb["win_rate"]
    assert all(pd.isna(wr[m]) for m in ("copier", "subset", "collapsed"))
    # win rates among the three ranked models only: real beats both others on fid and precision
    assert wr["real"] > wr["model"] > wr["noise"]


def test_every_format_shows_the_flags() -> None:
    md = to_markdown(ROWS)
    assert "flags (not ranked)" in md and "memorizes training data (near-copies 97%)" in md
    tex = to_latex(ROWS)
    assert "flags (not ranked)" in tex and "drops modes (class coverage 0.3)" in tex
    html = html_tables(ROWS)
    assert '<tr data-model="copier" class="flagged">' in html and 'class="flags">mode collapse' in html


def test_no_flags_column_when_nothing_is_flagged() -> None:
    rows = [r for r in ROWS if r["model"] in ("real", "model")]
    assert "flags" not in to_markdown(rows) and "flags" not in to_latex(rows)
