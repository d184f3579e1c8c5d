"""Features: one pass per image set and backbone, cached by content, never stale."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.backbones.digits import WEIGHTS_FILE, DigitsBackbone, DigitsNet
from bench.data import digits
from bench.features import FeatureStore
from bench.plan import check_suite
from bench.runner import Runner
from bench.suite import load_suite
from tests.conftest import ROOT


def test_disk_cache_is_reused_across_stores(tmp_path: Path) -> None:
    images, _ = digits.load("test")
    b = DigitsBackbone()
    s1 = FeatureStore(tmp_path, progress=False)
    f1 = s1.get(images, b)
    assert (s1.misses, b.passes) == (1, 1)
    s2 = FeatureStore(tmp_path, progress=False)  # a new run, same cache directory
    f2 = s2.get(images, b)
    assert (s2.hits, b.passes) == (1, 1)
    assert all((f1[k] == f2[k]).all() for k in f1)
    # one changed pixel is another image set
    images2 = images.clone()
    images2[0, 0, 0, 0] ^= 1
    s2.get(images2, b)
    assert b.passes == 2


def test_changing_the_weights_file_never_hits_a_stale_entry(tmp_path: Path) -> None:
    """torch-fidelity's cache key ignores the weights file (0.4.0: switching
    ``feature_extractor_weights_path`` returned a stale FID); ours must not."""
    images, _ = digits.load("test")
    store = FeatureStore(tmp_path / "cache", progress=False)
    shipped = store.get(images, DigitsBackbone())["pool"]
    other = tmp_path / "other.pt"
    torch.manual_seed(123)
    torch.save(DigitsNet().state_dict(), other)
    b_other = DigitsBackbone(weights=str(other))
    feats_other = store.get(images, b_other)["pool"]
    assert b_other.passes == 1  # computed, not served from the cache
    assert not (feats_other == shipped).all()
    expected = DigitsBackbone(weights=str(other)).extract(images)["pool"]
    assert (feats_other == expected).all()
    # same bytes as the shipped file under another path: same key, served from cache
    same = tmp_path / "copy.pt"
    same.write_bytes(WEIGHTS_FILE.read_bytes())
    b_same = DigitsBackbone(weights=str(same))
    assert (FeatureStore(tmp_path / "cache", progress=False).get(images, b_same)["pool"] == shipped).all()
    assert b_same.passes == 0


def test_each_set_passes_through_the_backbone_once_per_run(tmp_path: Path) -> None:
    """Four metrics, two models and a reference: three passes, whatever the number of metrics."""
    suite = tmp_path / "s.yaml"
    suite.write_text((ROOT / "suites/quickstart.yaml").read_text().replace(
        "models:\n  heldout-real", "models:\n  heldout-real").replace("n: 500", "n: 100"))
    text = suite.read_text()
    text = text.replace("    backbone: digits\n", "    backbone: digits\n    models: [gmm, noise]\n")
    suite.write_text(text)
    plan = check_suite(load_suite(suite))
    runner = Runner(plan, store=FeatureStore(None, progress=False), progress=False, log=lambda m: None)
    runner.run_dir.path = tmp_path / "run"
    runner.run_dir.rows_file = runner.run_dir.path / "rows.jsonl"
    outcome = runner.run()
    assert not outcome.errors
    assert plan.backbones["digits"].passes == 3
    assert len([r for r in outcome.rows if r["task"] == "unconditional"]) == 2 * 6
