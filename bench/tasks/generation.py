"""Image generation: sample n images per model, compare their features with the reference's."""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from bench.adapters import GenerationRequest
from bench.errors import ConfigError
from bench.features import feature_key
from bench.images import decode_batch_size
from bench.metrics.base import Metric, Options, Reference, SampleSet
from bench.metrics.frechet import GaussianStats
from bench.protocol import make_protocol
from bench.refstats import RefStats, backbone_protocol, compare_protocols, stored_statistics
from bench.tasks.base import TaskKind, TaskPlan, dataset_features, images_kept, reference_images
from bench.tasks.production import Producer

if TYPE_CHECKING:
    from bench.tasks.context import RunContext


class GenerationArgs(Options):
    classes: int | None = Field(default=None, ge=2, description=(
        "class-conditional generation: sample i is asked for class i % classes (balanced, batch-size invariant)"))


def requested_classes(args: GenerationArgs, n: int) -> list[int] | None:
    """The class label requested for each of ``n`` samples, or None for an unconditional task."""
    return None if args.classes is None else [i % args.classes for i in range(n)]


def generated_key(model_key: str, seed: int, n: int, classes: list[int] | None, device: str, dtype: str) -> str:
    """The content key of a generated set named without generating it: the model's key (its files, arguments and
    code: Adapter.model_key), the samples' base seed, n, the requested classes, where and in what dtype it ran, and
    the source of genbench's seeding and uint8 quantization. Any change gives another key: never a stale entry."""
    import bench.images
    import bench.seeding
    from bench.adapters.base import keyed, source_digest

    return "generated:" + keyed(model_key, seed, n, classes, device, dtype,
                                source_digest(bench.images, bench.seeding))


class GenerationTask(TaskKind[GenerationArgs]):
    """Sample n images per model; FID, KID, IS, precision/recall against the reference. With ``args: {classes:
    K}`` the task is class-conditional: requests carry labels, metrics see them in ``SampleSet.classes``, and only
    adapters that honour labels may take part."""

    name = "generation"
    adapter_kinds = frozenset({"image-generator"})
    provides = frozenset({"features", "images", "model", "backbone", "reference.features", "reference.images",
                          "reference.labels"})
    Args = GenerationArgs
    multi_backbone = True

    def provided(self, args: Options) -> frozenset[str]:
        return self.provides | ({"classes"} if getattr(args, "classes", None) is not None else set())

    def check_model(self, args: Options, adapter_cls: Any, adapter_args: Any) -> str | None:
        if getattr(args, "classes", None) is not None and not adapter_cls.accepts_classes(adapter_args):
            return ("is unconditional (its adapter ignores class labels); a class-conditional task "
                    "(args.classes) needs a class-conditional model")
        return None

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        assert task.backbone is not None
        ref = ctx.dataset(task.reference)
        if isinstance(ref, RefStats):
            # statistics only: refuse them under any other protocol (weights hash included, now the backbone is loaded)
            task.backbone.resolve_weights()
            compare_protocols(ref.protocol, backbone_protocol(task.backbone), f"reference '{task.reference}' ({ref.path})")
            task.state.update(reference_key=None, n_ref=ref.n)
            return Reference(task.reference, ref.id, stats=GaussianStats(ref.mu, ref.sigma, ref.n or 0))
        task.state.update(reference_key=feature_key(ref.hash, task.backbone), n_ref=len(ref))
        stored = stored_statistics(ref, task.backbone)
        feats = dataset_features(ctx, task, ref, f"[{task.reference}]")
        images = reference_images(task, ref)
        return Reference(task.reference, ref.id if stored is None else f"{ref.id}+stored-statistics@{stored[1]}",
                         features=feats, images=images, labels=None if ref.labels is None else ref.labels.numpy(),
                         stored_stats=None if stored is None else stored[0])

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> Producer:
        assert task.n is not None
        n = task.n
        classes = requested_classes(self.args(task), n)
        if classes is not None and not type(adapter).accepts_classes(adapter.args):
            raise ConfigError(f"model '{model}' {self.check_model(task.args, type(adapter), adapter.args)}")

        def call(idx: range, seeds: list[int], cond: Any) -> Any:
            return adapter.generate(GenerationRequest(indices=idx, seeds=seeds, device=str(adapter.device),
                                                      classes=cond.get("classes")))

        seed = ctx.model_seed(model)
        # every sample streams through the backbones; metrics that read images get the first ones they declare
        # (Metric.images_needed), so only those are held; replayed files are read in batches of bounded bytes
        item = adapter.item_bytes()
        key = adapter.content_key(n)
        if key is None and (model_key := adapter.model_key()) is not None:  # a model genbench can name whole
            key = generated_key(model_key, seed, n, classes, adapter.device.type, ctx.dtype)
        return Producer(count=n, call=call, seed=seed,
                        conditions=lambda idx: {} if classes is None else {"classes": classes[idx.start:idx.stop]},
                        share=self.sample_set(task, model), content_key=key, keep=images_kept(task, n),
                        batch_size=decode_batch_size(item, task.batch_size) if item else None,
                        decode=adapter.data_only)

    def finish(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any, samples: SampleSet) -> SampleSet:
        classes = requested_classes(self.args(task), samples.n if task.n is None else task.n)
        samples.model, samples.backbone = adapter, task.backbone
        samples.classes = None if classes is None else np.asarray(classes, dtype=np.int64)
        return samples

    def sample_set(self, task: TaskPlan, model: str) -> Hashable | None:
        # n samples under these conditions
        return ("generation", task.n, self.args(task).classes)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        assert task.backbone is not None and task.ref is not None and task.n is not None
        return make_protocol(task.backbone, layer, task.ref.id, task.n, task.state["n_ref"])

    def row_extras(self, task: TaskPlan, model: str, samples: SampleSet) -> dict[str, Any]:
        # cache keys of both feature sets, so `genbench compare` can bootstrap set-level metrics later
        assert task.backbone is not None and samples.images_hash is not None
        return {"feature_keys": {"generated": feature_key(samples.images_hash, task.backbone),
                                 "reference": task.state.get("reference_key")}}
