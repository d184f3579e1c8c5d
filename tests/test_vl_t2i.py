"""Text-to-image through the CLI: the shapes t2i model beats the prompt-ignoring baseline on every fidelity and
alignment metric; the baseline is (correctly) more diverse; the reader is accurate on real images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.results import RunDir
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def t2i_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    from bench.cli import main

    out = tmp_path_factory.mktemp("results")
    suite = out / "t2i.yaml"  # the shipped suite on 60 prompts x 2 samples (the full one takes ~40 s)
    suite.write_text((ROOT / "suites/t2i.yaml").read_text().replace("n: 200", "n: 60")
                     .replace("samples_per_prompt: 4", "samples_per_prompt: 2"))
    assert main(["run", str(suite), "--out", str(out), "--quiet", "--no-cache"]) == 0
    (run,) = (out / "t2i").iterdir()
    return RunDir(run).rows(), run


@pytest.mark.slow
def test_learned_beats_prompt_ignoring_baseline(t2i_rows) -> None:
    rows, run = t2i_rows
    v = {(r["model"], r["metric"]): r for r in rows}
    metrics = {r["metric"] for r in rows}
    assert metrics == {"fid", "clip_score_tm", "prompt_diversity", "attr_count", "attr_colour", "attr_shape",
                       "attr_position", "attr_all"}
    for m in metrics - {"prompt_diversity"}:
        g, b = v[("shapes-t2i", m)], v[("random-scene", m)]
        assert (g["value"] > b["value"]) if g["higher_is_better"] else (g["value"] < b["value"]), m
    # ignoring the prompt makes a model maximally diverse: diversity must be read next to alignment
    assert v[("random-scene", "prompt_diversity")]["value"] > v[("shapes-t2i", "prompt_diversity")]["value"] > 0
    assert v[("shapes-t2i", "attr_count")]["value"] > 0.8
    assert v[("shapes-t2i", "fid")]["protocol"]["backbone"] == "shapes-clip"
    per = json.loads((run / v[("shapes-t2i", "attr_all")]["extras"]["per_sample_file"]).read_text())
    assert len(per["attr_all"]) == 120 and len(per["prompt_index"]) == 120


def test_attribute_reader_on_real_images() -> None:
    from bench.metrics.t2i import attribute_hits
    from bench.shapes import world, zoo

    test = world.load("test")
    net, _ = zoo.load("attribute-net")
    hits = attribute_hits(net.read(test.images[:200]), test.scenes[:200])  # type: ignore[operator]
    assert hits["count"].mean() > 0.95 and hits["position"].mean() > 0.9 and hits["colour"].mean() > 0.9 and hits["shape"].mean() > 0.4
    # the prompt parser recovers every test scene's attributes from its canonical caption
    for s in test.scenes[:50]:
        p = world.parse_prompt(world.canonical_caption(s))
        assert p is not None and [(o.shape, o.colour, o.size, o.cell) for o in p.objects] == \
            [(o.shape, o.colour, o.size, o.cell) for o in s.objects]


def test_world_is_deterministic_and_fixed() -> None:
    from bench.images import content_hash
    from bench.shapes import world

    a = world.load("test", 20)
    world.load.cache_clear()
    b = world.load("test", 20)
    assert content_hash(a.images) == content_hash(b.images) and a.captions == b.captions
    assert a.images.shape == (20, 3, 32, 32) and all(len(c) == 5 for c in a.captions)
    full = world.load("test")
    assert np.array_equal(full.images[:20].numpy(), a.images.numpy())  # a prefix of the split is the split's prefix


def test_t2i_needs_canonical_prompts_for_attributes(tmp_path: Path, capsys) -> None:
    from bench.errors import InputError
    from bench.metrics.base import MetricContext
    from bench.metrics.t2i import AttributeAccuracy

    with pytest.raises(InputError, match="not a shapes canonical caption"):
        AttributeAccuracy().compute({}, None, layer="", seed=0, ctx=MetricContext(hypotheses=["a dog on a bench"]))
