"""Image generation: sample n images per model, compare their features with the reference's."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from pydantic import Field
from tqdm import tqdm

from bench.adapters import GenerationRequest, build_adapter
from bench.errors import ConfigError, InputError
from bench.features import feature_key
from bench.images import content_hash, to_uint8
from bench.metrics.base import MetricContext, Options
from bench.metrics.frechet import GaussianStats
from bench.protocol import make_protocol
from bench.refstats import RefStats, backbone_protocol, compare_protocols
from bench.seeding import derive_seed, sample_seeds
from bench.tasks.base import TaskKind, TaskPlan

if TYPE_CHECKING:
    from bench.results import Row
    from bench.runner import Runner


def sample_images(runner: Runner, task: TaskPlan, model: str, n: int, adapter: Any = None,
                  classes: Sequence[int] | None = None, **request_kw: Any) -> torch.Tensor:
    """Draw ``n`` samples from ``model`` in batches, with per-sample seeds (and, for a class-conditional task,
    per-sample class labels ``classes[i]``); uint8 NCHW, shape-checked."""
    if adapter is None:
        spec = runner.suite.models[model]
        adapter = build_adapter(spec.adapter, spec.args, runner.ctx)
    base_seed = derive_seed(runner.suite.seed, task.name, model)
    batches: list[torch.Tensor] = []
    with tqdm(total=n, desc=f"sample {model}", unit="img", disable=None if runner.progress else True, leave=False) as bar:
        for start in range(0, n, task.batch_size):
            stop = min(n, start + task.batch_size)
            req = GenerationRequest(indices=range(start, stop), seeds=sample_seeds(base_seed, start, stop),
                                    classes=None if classes is None else list(classes[start:stop]), **request_kw)
            out = to_uint8(adapter.generate(req), None, what=f"model '{model}' batch at sample {start}")  # type: ignore[attr-defined]
            if out.shape[0] != stop - start:
                raise InputError(f"model '{model}': asked for {stop - start} samples at {start}, got {out.shape[0]}")
            if batches and out.shape[1:] != batches[0].shape[1:]:
                raise InputError(f"model '{model}': batch at sample {start} has shape {tuple(out.shape[1:])}, "
                                 f"earlier batches {tuple(batches[0].shape[1:])}")
            batches.append(out)
            bar.update(out.shape[0])
    return torch.cat(batches)


class GenerationArgs(Options):
    classes: int | None = Field(default=None, ge=2, description=(
        "class-conditional generation: sample i is asked for class i % classes (balanced, batch-size invariant)"))


def requested_classes(args: GenerationArgs, n: int) -> list[int] | None:
    """The class label requested for each of ``n`` samples, or None for an unconditional task."""
    return None if args.classes is None else [i % args.classes for i in range(n)]


class GenerationTask(TaskKind):
    """Sample n images per model; FID, KID, IS, precision/recall against the reference. With ``args: {classes:
    K}`` the task is class-conditional: requests carry labels, metrics see them in ``MetricContext.classes``,
    and only adapters that honour labels may take part."""

    name = "generation"
    adapter_kinds = frozenset({"image-generator"})
    Args = GenerationArgs

    def check_model(self, args: Options, adapter_cls: Any, adapter_args: Any) -> str | None:
        if getattr(args, "classes", None) is not None and not adapter_cls.accepts_classes(adapter_args):
            return ("is unconditional (its adapter ignores class labels); a class-conditional task "
                    "(args.classes) needs a class-conditional model")
        return None

    def prepare(self, runner: Runner, task: TaskPlan) -> None:
        assert task.backbone is not None
        ref = runner.dataset(task.reference)
        task.state["ref"] = ref
        if isinstance(ref, RefStats):
            # statistics only: refuse them under any other protocol (weights hash included, now the backbone is loaded)
            task.backbone.resolve_weights()
            compare_protocols(ref.protocol, backbone_protocol(task.backbone), f"reference '{task.reference}' ({ref.path})")
            task.state["ref_feats"] = None
            task.state["ref_stats"] = GaussianStats(ref.mu, ref.sigma, ref.n or 0)
            return
        task.state["ref_feats"] = runner.store.get(ref.images, task.backbone, label=f"[{task.reference}]",
                                                   images_hash=ref.hash)

    def run_model(self, runner: Runner, task: TaskPlan, model: str) -> list[Row]:
        assert task.backbone is not None and task.n is not None
        t0 = time.time()
        spec = runner.suite.models[model]
        adapter = build_adapter(spec.adapter, spec.args, runner.ctx)
        classes = requested_classes(task.args, task.n)  # type: ignore[arg-type]
        if classes is not None and not type(adapter).accepts_classes(adapter.args):
            raise ConfigError(f"model '{model}' {self.check_model(task.args, type(adapter), adapter.args)}")
        images = sample_images(runner, task, model, task.n, adapter=adapter, classes=classes)
        gen_seconds = time.time() - t0
        runner.save_grid(task, model, images)
        images_hash = content_hash(images)
        feats = runner.store.get(images, task.backbone, label=f"[{model}]", images_hash=images_hash)
        ref = task.state["ref"]
        # cache keys of both feature sets, so `genbench compare` can bootstrap set-level metrics later
        is_stats = isinstance(ref, RefStats)
        feature_keys = {"generated": feature_key(images_hash, task.backbone),
                        "reference": None if is_stats else feature_key(ref.hash, task.backbone)}
        n_ref = ref.n if is_stats else int(ref.images.shape[0])
        backbone = task.backbone
        rows: list[Row] = []
        for mname, metric in task.metrics.items():
            layer = backbone.logits_layer if metric.layer_kind == "logits" else backbone.default_layer
            assert layer is not None
            proto = make_protocol(backbone, layer, ref.id, task.n, n_ref)
            m0 = time.time()
            values = metric.compute(feats, task.state["ref_feats"] if metric.needs_reference else None, layer=layer,
                                    seed=derive_seed(runner.suite.seed, task.name, model, mname),
                                    ctx=MetricContext(images=images, classes=classes, adapter=adapter, runner=runner,
                                                      task=task, model=model, ref_stats=task.state.get("ref_stats")))
            secs = time.time() - m0
            rows += [runner.make_row(task, model, v, seconds=secs, n=v.n,
                                     protocol=proto if v.n is None else {**proto, "n": v.n},
                                     extras={"generation_seconds": round(gen_seconds, 3),
                                             "feature_keys": feature_keys}) for v in values]
        return rows
