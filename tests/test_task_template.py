"""The task template without a suite file: a task kind runs on a RunContext built from objects, the base runs its
Producer (per-item seeds, batch invariance, one call per item, per-item values as they stream), and no kind
reaches the Runner."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from bench.adapters import AdapterArgs, AdapterContext
from bench.adapters.translators import IdentityTranslator, TranslationRequest, Translator

from bench.backbones import get_backbone
from bench.data.base import Dataset
from bench.data.digits import load as load_digits
from bench.metrics import METRICS
from bench.tasks.base import TaskPlan
from bench.tasks.context import RunContext
from bench.translation import measures
from tests.example_task_kind import DenoisingArgs, DenoisingTask, noisy

ROOT = Path(__file__).resolve().parent.parent


class CountingOracle(Translator):
    """Returns the clean image of each input (looked up by index) and records every index it was asked for."""

    def __init__(self, clean: torch.Tensor) -> None:
        super().__init__(AdapterArgs(), AdapterContext())
        self.clean, self.calls = clean, []  # type: ignore[var-annotated]

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        self.calls.extend(request.indices)
        return self.clean[list(request.indices)]


def _plan(batch_size: int, metrics: tuple[str, ...] = ("psnr", "ssim", "l1", "fid"), n: int = 60) -> TaskPlan:
    return TaskPlan(name="denoise", index=0, kind=DenoisingTask(), reference="digits", models=["identity", "oracle"],
                    n=n, batch_size=batch_size, backbone=get_backbone("digits"),
                    metrics={m: METRICS.get(m)() for m in metrics}, args=DenoisingArgs(sigma=25.0))


def _run(batch_size: int, **kw: object) -> tuple[dict[tuple[str, str], float], CountingOracle]:
    x, _ = load_digits("test")
    clean = x[:60]
    oracle = CountingOracle(clean)
    ctx = RunContext.standalone(models={"identity": IdentityTranslator(AdapterArgs(), AdapterContext()),
                                        "oracle": oracle},
                                datasets={"digits": Dataset("digits", "digits:test[:60]", clean)}, seed=7)
    task = _plan(batch_size, **kw)  # type: ignore[arg-type]
    task.kind.prepare(ctx, task)
    rows = {}
    for model in task.models:
        for r in task.kind.run_model(ctx, task, model):
            rows[(model, r.metric)] = r.value
            assert r.n == 60 and r.run_id == "standalone"
    return rows, oracle


def test_example_kind_runs_without_a_suite_and_matches_hand_computed_values() -> None:
    rows, oracle = _run(16)
    x, _ = load_digits("test")
    clean = x[:60]
    dirty = noisy(clean, range(60), 25.0)
    # the identity model returns the noisy input: its PSNR/SSIM/L1 are those of the noise itself
    assert rows[("identity", "psnr")] == pytest.approx(float(measures.psnr(dirty, clean).mean()), rel=1e-12)
    assert rows[("identity", "ssim")] == pytest.approx(float(measures.ssim(dirty, clean).mean()), rel=1e-12)
    assert rows[("identity", "l1")] == pytest.approx(float(measures.l1(dirty, clean).mean()), rel=1e-12)
    # the oracle restores exactly: the best values each measure has, and a lower FID than the noisy copies
    assert rows[("oracle", "l1")] == 0.0 and rows[("oracle", "ssim")] == pytest.approx(1.0)
    assert rows[("oracle", "psnr")] == measures.PSNR_CAP
    assert rows[("oracle", "fid")] < rows[("identity", "fid")]
    # the base asked the model for every item exactly once (one pass feeds the backbone and the paired values)
    assert sorted(oracle.calls) == list(range(60))


def test_rows_do_not_depend_on_the_batch_size() -> None:
    a, _ = _run(7)
    b, _ = _run(64)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9), k  # the oracle's FID is 0 up to round-off
        if k[1] != "fid":  # per-item values are exactly per item
            assert a[k] == b[k], k


def test_paired_metrics_hold_no_images() -> None:
    """Without a metric that reads images, the sample set handed to metrics holds none: only per-item values."""
    x, _ = load_digits("test")
    ctx = RunContext.standalone(models={"identity": IdentityTranslator(AdapterArgs(), AdapterContext())},
                                datasets={"digits": Dataset("digits", "digits:test[:60]", x[:60])})
    task = _plan(16, metrics=("psnr",))
    task.kind.prepare(ctx, task)
    from bench.tasks.production import run_producer

    samples = run_producer(ctx, task, "identity", task.kind.produce(ctx, task, "identity", ctx.adapters("identity")))
    assert samples.images is None and set(samples.item_values) == {"psnr"}
    assert np.asarray(samples.item_values["psnr"]).shape == (60,)


def test_task_kinds_never_import_the_runner() -> None:
    for path in sorted((ROOT / "bench" / "tasks").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not any(n == "bench.runner" or n.startswith("bench.runner.") for n in names), path.name


def test_per_item_values_stay_in_step_when_a_batch_runs_out_of_memory_and_is_split() -> None:
    """A per-item scorer that runs out of device memory on a batch is retried in halves by the feature pass, which
    keeps the smaller size for later batches: every piece must take the indices of its own items (found by a
    review: the pieces used to take whole batches' indices, putting later batches out of step)."""
    import warnings

    from bench.backbones.base import _add_rows_fitting
    from bench.tasks.production import ItemValues

    calls: list[list[int]] = []

    def fn(idx: range, images: torch.Tensor) -> dict[str, np.ndarray]:
        if images.shape[0] > 2:
            raise RuntimeError("CUDA out of memory (simulated)")
        calls.append(list(idx))
        return {"v": images.flatten(1)[:, 0].double().numpy() * 10 + np.asarray(list(idx))}

    iv = ItemValues(fn, ("v",), {})
    out: dict[str, list[np.ndarray]] = {"v": []}
    batches = [range(0, 5), range(5, 8)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in batches:
            iv.expect(b)
        for b in batches:
            _add_rows_fitting(iv, torch.zeros(len(b), 1, 2, 2), out)
    assert np.concatenate(out["v"]).tolist() == [float(i) for i in range(8)]  # item i got index i
    assert calls == [[0, 1], [2], [3, 4], [5, 6], [7]] or sorted(sum(calls, [])) == list(range(8))
    with pytest.raises(Exception, match="outputs for the 0 items left|pop from an empty deque"):
        _add_rows_fitting(iv, torch.zeros(1, 1, 2, 2), out)  # more outputs than items announced
