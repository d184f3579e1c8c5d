"""One sample set per model: seeds depend on (suite seed, model, index), never on the task, so a model evaluated in
several tasks, on several backbones, is generated once and every backbone sees the same samples; a metric may name
its own backbone; and a killed stream resumes after its finished part with the numbers an uninterrupted run gives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.parity import write_random_weights
from tests.models import CountingDigits

HEAD = """
name: shared
seed: 3
datasets:
  train: {kind: npz, path: ref.npz}
models:
  lin: {adapter: python, args: {target: "tests.models:CountingDigits"}}
output: {grid: 8}
tasks:
"""
DIGITS_FID = "  - {name: %s, reference: train, n: 48, batch_size: 16, backbone: digits, metrics: [fid]}\n"
INCEPTION_FID = ("  - {name: %s, reference: train, n: 48, batch_size: 16, backbone: inception-v3-compat, weights: w.pth,"
                 " metrics: [fid]}\n")
MIXED = ("  - name: %s\n    reference: train\n    n: 48\n    batch_size: 16\n    backbone: digits\n    metrics:\n"
         "      fid: {}\n      prc: {backbone: inception-v3-compat, weights: w.pth, neighborhood: 3}\n")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random Inception weights in the real format, and beside them a 40-image digits reference (Inception on the
    CPU runs ~8 images/s: the whole digits split would take minutes per pass)."""
    from bench.data import digits

    folder = tmp_path_factory.mktemp("w")
    x, _ = digits.load("test")
    np.savez(folder / "ref.npz", x[:40].numpy())
    return write_random_weights(folder)["pth"]


def _folder(tmp_path: Path, weights: Path, name: str, tasks: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "w.pth").symlink_to(weights)
    (folder / "ref.npz").symlink_to(weights.parent / "ref.npz")
    (folder / "s.yaml").write_text(HEAD + tasks)
    return folder


def _run(tmp_path: Path, weights: Path, tasks: str, name: str, *extra: str) -> tuple[int, dict[tuple[str, str, str], dict]]:
    folder = _folder(tmp_path, weights, name, tasks)
    CountingDigits.asked = []
    rc = main(["run", str(folder / "s.yaml"), "--out", str(folder / "out"), "--quiet", "--no-cache", *extra])
    rows = [json.loads(line) for p in (folder / "out").rglob("rows.jsonl") for line in p.read_text().splitlines()]
    return rc, {(r["task"], r["model"], r["metric"]): r for r in rows}


@pytest.mark.slow  # minutes on 2 cores: the slow tier
def test_model_in_several_tasks_and_backbones_is_generated_once(tmp_path: Path, weights: Path) -> None:
    rc, rows = _run(tmp_path, weights, DIGITS_FID % "a" + INCEPTION_FID % "b" + MIXED % "c", "all")
    assert rc == 0
    assert sorted(CountingDigits.asked) == list(range(48))  # three tasks, two backbones: each sample made once
    # the same samples everywhere: the digits FID of task a and c agree exactly
    assert rows[("a", "lin", "fid")]["value"] == rows[("c", "lin", "fid")]["value"]
    # a metric on its own backbone: its row and protocol name that backbone, beside the task's own metric
    assert rows[("c", "lin", "fid")]["backbone"] == "digits"
    assert {rows[("c", "lin", m)]["backbone"] for m in ("precision", "recall")} == {"inception-v3-compat"}
    assert rows[("c", "lin", "precision")]["protocol"]["backbone"] == "inception-v3-compat"
    # a task alone gets the value it gets beside the others: seeds do not depend on the task or its neighbours
    _, alone_b = _run(tmp_path, weights, INCEPTION_FID % "b", "b-alone")
    assert sorted(CountingDigits.asked) == list(range(48))
    assert alone_b[("b", "lin", "fid")]["value"] == rows[("b", "lin", "fid")]["value"]
    _, renamed = _run(tmp_path, weights, DIGITS_FID % "another-name", "renamed")
    assert renamed[("another-name", "lin", "fid")]["value"] == rows[("a", "lin", "fid")]["value"]


@pytest.mark.slow  # minutes on 2 cores: the slow tier
def test_killed_run_resumes_after_the_finished_part(tmp_path: Path, weights: Path, empty_cache: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.features

    monkeypatch.setattr(bench.features, "PARTIAL_SECONDS", 0.0)  # write the finished part after every batch
    folder = _folder(tmp_path, weights, "kill", INCEPTION_FID % "b")
    CountingDigits.asked, CountingDigits.KILL_AT = [], 32
    assert main(["run", str(folder / "s.yaml"), "--out", str(folder / "out"), "--quiet"]) == 130
    assert sorted(CountingDigits.asked) == list(range(32))
    (run_dir,) = (folder / "out" / "shared").iterdir()
    assert not (run_dir / "rows.jsonl").exists() or not (run_dir / "rows.jsonl").read_text().strip()
    CountingDigits.asked = []
    assert main(["run", str(folder / "s.yaml"), "--resume", str(run_dir), "--quiet"]) == 0
    assert sorted(CountingDigits.asked) == list(range(8)) + list(range(32, 48))  # the preview, then the rest
    resumed = [json.loads(x) for x in (run_dir / "rows.jsonl").read_text().splitlines()]
    _, fresh = _run(tmp_path, weights, INCEPTION_FID % "b", "fresh")
    assert resumed[0]["value"] == fresh[("b", "lin", "fid")]["value"]
    assert resumed[0]["extras"]["feature_keys"] == fresh[("b", "lin", "fid")]["extras"]["feature_keys"]
    assert not list((empty_cache / "features" / "partial").glob("*"))  # the finished part is gone once complete


def test_a_metrics_own_backbone_is_validated(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, weights, "bad", "  - name: t\n    reference: train\n    n: 8\n    metrics:\n"
                     "      fid: {weights: w.pth}\n      kid: {backbone: inceptoin}\n")
    assert main(["validate", str(folder / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "s.yaml:14: tasks.0.metrics.fid.weights: 'weights' goes with the metric's own 'backbone'" in err
    assert "tasks.0.metrics.kid.backbone: unknown backbone 'inceptoin'" in err
    folder = _folder(tmp_path, weights, "ok", MIXED % "c")
    assert main(["validate", str(folder / "s.yaml")]) == 0
    assert "c: 1 models x 2 metrics" in capsys.readouterr().out  # one task, in two parts


def test_image_reading_metric_gets_its_declared_subset(tmp_path: Path, weights: Path) -> None:
    """lpips_diversity with ``images: 10`` reads the first 10 samples (held from the stream, not made again) and its
    value is the pairwise distance of exactly those; every sample still reaches the backbone (FID uses all 48)."""
    from bench.adapters import AdapterContext, GenerationRequest, build_adapter
    from bench.backbones import get_backbone
    from bench.images import to_uint8
    from bench.metrics.diversity import digits_feature_distance, mean_ci, pairwise_distances
    from bench.seeding import model_seed, sample_seeds

    task = ("  - {name: d, reference: train, n: 48, batch_size: 16, backbone: digits, metrics: {fid: {}, "
            "lpips_diversity: {distance: digits-features, pairs: 50, images: 10}}}\n")
    rc, rows = _run(tmp_path, weights, task, "subset")
    assert rc == 0 and sorted(CountingDigits.asked) == list(range(48))
    row = rows[("d", "lin", "perceptual_diversity_digits")]
    assert row["extras"]["images"] == 10
    assert rows[("d", "lin", "fid")]["n"] == 48 and rows[("d", "lin", "fid")]["protocol"]["n"] == 48
    lin = build_adapter("python", {"target": "tests.models:LinearDigits"}, AdapterContext())
    first = to_uint8(lin.generate(GenerationRequest(indices=range(10), seeds=sample_seeds(model_seed(3, "lin"), 0, 10))),
                     None)
    net = get_backbone("digits")
    net.load()
    assert row["value"] == pytest.approx(mean_ci(pairwise_distances(first, digits_feature_distance(net.net), 50))[0],
                                         rel=1e-9)


def test_model_genbench_can_name_is_not_generated_again(tmp_path: Path, empty_cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A zoo model's generated set is keyed by (model key, seeds, n, conditions, device): a re-run reads its
    features from the cache without generating; a Python model (code genbench cannot vouch for) is made again."""
    from bench.adapters.zoo import ZooGenerator

    calls: list[int] = []
    real = ZooGenerator.generate
    monkeypatch.setattr(ZooGenerator, "generate", lambda self, req: (calls.append(req.n), real(self, req))[1])
    suite = tmp_path / "s.yaml"
    suite.write_text("name: keyed\ndatasets:\n  train: {kind: digits, split: train}\nmodels:\n"
                     "  gan: {adapter: zoo, args: {name: gan}}\n"
                     "  lin: {adapter: python, args: {target: 'tests.models:CountingDigits'}}\n"
                     "output: {grid: 0}\n"
                     "tasks:\n  - {name: u, reference: train, n: 64, batch_size: 32, metrics: [fid]}\n")
    values = []
    for i in range(2):
        CountingDigits.asked = []
        assert main(["run", str(suite), "--out", str(tmp_path / f"out{i}"), "--quiet"]) == 0
        rows = [json.loads(x) for p in (tmp_path / f"out{i}").rglob("rows.jsonl") for x in p.read_text().splitlines()]
        values.append({r["model"]: r["value"] for r in rows})
        assert sorted(CountingDigits.asked) == list(range(64))  # Python code: made every run
        assert sum(calls) == (64 if i == 0 else 0), i  # the zoo model: made once, then read from the cache
        calls.clear()
    assert values[0] == values[1]


def test_model_keys_change_with_what_changes_the_samples(tmp_path: Path) -> None:
    import torch

    from bench.adapters import AdapterContext, build_adapter
    from bench.tasks.generation import generated_key
    from tests.models import LinearDigits

    def script(seed: int) -> Path:
        torch.manual_seed(seed)
        m = LinearDigits()
        m.w.data = torch.randn(16, 64)
        p = tmp_path / f"g{seed}.pt"
        torch.jit.script(m).save(str(p))
        return p

    ctx = AdapterContext(resolve_path=Path)
    k1 = build_adapter("torchscript", {"path": str(script(1)), "latent_dim": 16}, ctx).model_key()
    k1b = build_adapter("torchscript", {"path": str(script(1)), "latent_dim": 16}, ctx).model_key()
    k2 = build_adapter("torchscript", {"path": str(script(2)), "latent_dim": 16}, ctx).model_key()
    k3 = build_adapter("torchscript", {"path": str(script(1)), "latent_dim": 16, "range": "0,1"}, ctx).model_key()
    assert k1 == k1b and len({k1, k2, k3}) == 3  # same file and args: same key; other weights or args: another
    assert build_adapter("python", {"target": "tests.models:LinearDigits"}, ctx).model_key() is None
    base = generated_key(str(k1), 7, 100, None, "cpu", "fp32")
    assert len({base, generated_key(str(k1), 8, 100, None, "cpu", "fp32"), generated_key(str(k1), 7, 101, None, "cpu", "fp32"),
                generated_key(str(k1), 7, 100, [0, 1] * 50, "cpu", "fp32"), generated_key(str(k1), 7, 100, None, "cuda", "fp32"),
                generated_key(str(k1), 7, 100, None, "cpu", "bf16")}) == 6
