"""The task-kind template and the executable task plan.

A task kind *describes* its work; the base *runs* it. A kind supplies only:

- ``provides``: the metric inputs (``bench.metrics.base.INPUTS``) it can give; validate matches metrics against it;
- :meth:`TaskKind.load_reference`: the task's :class:`Reference`, once per task;
- :meth:`TaskKind.produce`: a :class:`bench.tasks.production.Producer` (how many items, each item's condition, the
  adapter call, an identity for sharing), or a finished SampleSet for outputs that are not images;
- :meth:`TaskKind.protocol`: the protocol record of a metric's rows (None for non-image metrics).

The base does the rest for every kind alike: building and type-checking the adapter, running the producer (rank
slices, per-item seeds, uint8/shape checks, OOM halving, timeouts, every backbone of every task on the same set,
per-item values, the preview: bench.tasks.production), fitting each metric once per reference, the per-metric loop,
layer resolution, rows, timing and artifacts. Kinds see the run only through a :class:`RunContext`
(bench.tasks.context), never the Runner; measurement kinds (perf, dissection) derive from
:class:`MeasurementKind`. docs/adding-a-task-kind.md walks through writing one.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import torch

from bench import sample_notes
from bench.backbones.base import Backbone
from bench.errors import ConfigError
from bench.images import content_hash, make_grid
from bench.metrics.base import Metric, Options, OutputInfo, Reference, SampleSet, output_info
from bench.progress import announce
from bench.registry import Registry
from bench.seeding import derive_seed
from bench.tasks.context import MemoryArtifacts, RunArtifacts, RunContext, per_sample_table
from bench.tasks.production import Producer, run_producer

if TYPE_CHECKING:
    from bench.adapters.base import Adapter
    from bench.results import Row
    from bench.suite import TaskSpec

__all__ = ["TASKS", "MemoryArtifacts", "MeasurementKind", "Producer", "RunArtifacts", "RunContext", "TaskKind",
           "TaskPlan", "per_sample_table"]


@dataclass
class TaskPlan:
    """One validated task: its kind, models, metrics and (when the kind needs one) its backbone."""

    name: str
    index: int
    kind: TaskKind
    reference: str
    models: list[str]
    n: int | None
    batch_size: int
    backbone: Backbone | None
    metrics: dict[str, Metric]
    args: Options = field(default_factory=Options)
    #: the reference, loaded once by TaskKind.prepare
    ref: Reference | None = None
    #: each metric's reference-side state (Metric.fit), by metric name
    fitted: dict[str, Any] = field(default_factory=dict)
    #: kind-private state filled by load_reference (inputs to translate, prompts, ...)
    state: dict[str, Any] = field(default_factory=dict)
    #: a suite task whose metrics read several backbones is planned as one part per backbone (same name, models
    #: and samples); part 0 writes the sample grid and ``per_sample/<task>/<model>.json``, the others
    #: ``<model>@<backbone>.json``, and the runner writes a model's rows of all parts at once
    part: int = 0

    @property
    def part_suffix(self) -> str:
        return "" if self.part == 0 or self.backbone is None else f"@{self.backbone.name}"


#: inputs read from the backbone features of the produced images: the base extracts them when a metric asks
FEATURE_INPUTS = frozenset({"features", "image_text_pairs"})


def sample_grid(images: torch.Tensor, k: int, ncol: int = 8) -> torch.Tensor:
    """The first ``k`` images tiled ``ncol`` per row, small images upscaled to about 64 px: every kind's grid."""
    g = images[:k]
    return make_grid(g, ncol=ncol, scale=max(1, 64 // max(g.shape[-1], 1)))


def paired_grid(inputs: torch.Tensor, outputs: torch.Tensor, k: int) -> torch.Tensor | None:
    """The first ``k`` (rounded down to a multiple of 8) inputs and their outputs in alternating rows of 8: the grid
    of tasks whose outputs answer inputs (translation, reconstruction); None when there is nothing to show."""
    from bench.images import match_channels

    k = min(k, inputs.shape[0]) // 8 * 8
    if k == 0 or inputs.shape[2:] != outputs.shape[2:]:
        return None
    c = max(inputs.shape[1], outputs.shape[1])
    x, y = match_channels(inputs[:k], c), match_channels(outputs[:k], c)
    rows = torch.stack([x.view(-1, 8, *x.shape[1:]), y.view(-1, 8, *y.shape[1:])], 1).reshape(-1, *x.shape[1:])
    return sample_grid(rows, rows.shape[0])


A = TypeVar("A", bound=Options)


class TaskKind(Generic[A]):
    """Subclasses set ``name``, ``adapter_kinds``, ``provides`` and ``Args`` (and are generic in it:
    ``class MyTask(TaskKind[MyArgs])``, so :meth:`args` is typed), and implement :meth:`load_reference`,
    :meth:`produce` and :meth:`protocol`; the base runs everything else."""

    name: ClassVar[str]
    #: adapter kinds (``Adapter.kind``) this task can evaluate
    adapter_kinds: ClassVar[frozenset[str]]
    #: metric inputs (``bench.metrics.base.INPUTS``) this kind gives its metrics
    provides: ClassVar[frozenset[str]] = frozenset()
    #: kind-specific options, given under the task's ``args:`` in a suite
    Args: ClassVar[type[Options]] = Options
    needs_backbone: ClassVar[bool] = True
    #: whether a metric may name its own backbone (``backbone:`` among its options): the kind's reference, samples
    #: and protocol then work per backbone (bench.plan makes one TaskPlan part per backbone)
    multi_backbone: ClassVar[bool] = False
    needs_n: ClassVar[bool] = True
    #: the row extra holding how long producing the outputs took
    seconds_key: ClassVar[str] = "generation_seconds"

    def args(self, task: TaskPlan) -> A:
        """The task's validated ``args:`` as this kind's own ``Args`` model."""
        return cast(A, task.args)

    # -- validation ----------------------------------------------------------------------------------------
    def provided(self, args: Options) -> frozenset[str]:
        """The inputs this kind provides under these task arguments (conditional generation adds ``classes``)."""
        return self.provides

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        """Extra problems with a task spec, as (field path within the task, message)."""
        return []

    def check_model(self, args: Options, adapter_cls: Any, adapter_args: Any) -> str | None:
        """Why a model (its adapter class and parsed arguments) cannot take part in a task with these kind
        arguments, or None. Checked at validate time; models left out of ``models:`` default to those that fit."""
        return None

    # -- what a kind supplies --------------------------------------------------------------------------------
    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        """The task's reference, once per task (kind-private inputs go to ``task.state``)."""
        raise NotImplementedError

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> Producer | SampleSet:
        """Describe what ``adapter`` is asked for: a :class:`Producer` (the base runs it: rank slices, seeds,
        checks, backbones, per-item values), or a finished SampleSet for outputs that are not images
        (captions, embeddings: :func:`bench.tasks.production.collect_items`)."""
        raise NotImplementedError

    def finish(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any, samples: SampleSet) -> SampleSet:
        """Add what metrics read besides the produced set (requested classes, prompts, the model) after the pass."""
        return samples

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        """The protocol record of ``metric``'s rows; None where no backbone features are involved."""
        return None

    def row_extras(self, task: TaskPlan, model: str, samples: SampleSet) -> dict[str, Any]:
        """Extras every row of this (task, model) carries besides timing."""
        return {}

    def per_sample_data(self, samples: SampleSet) -> dict[str, Any]:
        """Per-sample data that is not a metric value (captions, prompt index), kept in the per-sample file."""
        return {}

    def grid(self, ctx: RunContext, task: TaskPlan, samples: SampleSet) -> torch.Tensor | None:
        """The images of the sample grid (``output.grid``), or None for none."""
        k = ctx.grid
        shown = samples.images if samples.images is not None else samples.preview
        return None if not k or shown is None else sample_grid(shown, k)

    def sample_set(self, task: TaskPlan, model: str) -> Hashable | None:
        """The identity of the sample set this task streams from ``model`` (tasks with equal identities get the same
        samples: seeds depend on the model, not the task), or None when its samples are not shared."""
        return None

    # -- the template ----------------------------------------------------------------------------------------
    def build(self, ctx: RunContext, model: str) -> Adapter:
        """The model's adapter, checked to be of a kind this task evaluates."""
        adapter = ctx.adapters(model)
        if adapter.kind not in self.adapter_kinds:
            raise ConfigError(f"model '{model}' is a {adapter.kind} (adapter '{adapter.registered_name}'); a {self.name} task "
                              f"evaluates {', '.join(sorted(self.adapter_kinds))}")
        return adapter

    def prepare(self, ctx: RunContext, task: TaskPlan) -> None:
        """Once per task, before any model: the reference, and each metric's reference-side state."""
        with announce(f"[{task.name}] loading reference '{task.reference}'", enabled=ctx.progress):
            task.ref = self.load_reference(ctx, task)
        resources = _Resources(ctx, task)
        for mname, metric in task.metrics.items():
            with announce(f"[{task.name}] fitting {mname} on reference '{task.reference}'", enabled=ctx.progress):
                task.fitted[mname] = metric.fit(replace(task.ref, layer=self.layer_for(task, metric)), resources)

    def layer_for(self, task: TaskPlan, metric: Metric) -> str:
        """The backbone layer ``metric`` reads (``""`` without a backbone)."""
        if task.backbone is None:
            return ""
        layer = task.backbone.layer_name(metric.layer)
        return layer if layer is not None else task.backbone.default_layer

    def run_model(self, ctx: RunContext, task: TaskPlan, model: str) -> list[Row]:
        """Produce one model's outputs (the kind's :meth:`produce`, run by the base), then every metric: rows."""
        assert task.ref is not None, "prepare() runs before run_model()"
        t0 = time.time()
        adapter = self.build(ctx, model)
        work = self.produce(ctx, task, model, adapter)
        samples = run_producer(ctx, task, model, work) if isinstance(work, Producer) else work
        samples = self.finish(ctx, task, model, adapter, samples)
        produce_seconds = time.time() - t0
        samples = replace(samples, name=model)
        if samples.images is not None and samples.images_hash is None:
            samples.images_hash = content_hash(samples.images)
        if not samples.features and samples.images is not None and task.backbone is not None and \
                any(m.requires & FEATURE_INPUTS for m in task.metrics.values()):
            samples.features = ctx.store.get(samples.images, task.backbone, label=f"[{model}]",
                                             images_hash=samples.images_hash)
        sink = ctx.sink(task.name, model + task.part_suffix, sample_ids=samples.source_names)
        sink.extra.update(self.per_sample_data(samples))
        grid = self.grid(ctx, task, samples) if task.part == 0 else None
        if grid is not None:
            sink.image("", grid)
        common = {self.seconds_key: round(produce_seconds, 3), **self.row_extras(task, model, samples)}
        if (task.name, model) in ctx.batch_sizes:  # halved after running out of memory: the size that worked
            common["batch_size_used"] = ctx.batch_sizes[(task.name, model)]
        # numbers that could be silently wrong are computed, warned about, flagged in their rows and not ranked
        shape = samples.item_shape or (tuple(samples.images.shape[1:]) if samples.images is not None else None)
        # what the set's first pass saw is part of its cached result: a cached call flags what the first one did
        notes = sample_notes.settle(getattr(ctx.store, "directory", None), samples.images_hash, {
            "item_shape": list(shape) if shape else None, "output_warning": adapter.output_problem()})
        shape = tuple(notes["item_shape"]) if notes.get("item_shape") else None
        for key, why in (("output_warning", notes.get("output_warning")),  # e.g. a wrong value range
                         ("backbone_warning", None if task.backbone is None or shape is None  # a backbone no
                          or not any(m.requires & FEATURE_INPUTS for m in task.metrics.values())  # metric reads
                          else task.backbone.domain_problem(shape))):  # images the backbone's network never saw
            if why is not None:
                warnings.warn(f"model '{model}': {why}", stacklevel=2)
                common[key] = why
        produced: list[tuple[Any, float, dict[str, Any] | None, int | None, bool, OutputInfo | None]] = []
        for mname, metric in task.metrics.items():
            layer = self.layer_for(task, metric)
            m0 = time.time()
            # images only where declared: a metric that does not require them cannot come to depend on them
            view = replace(samples, layer=layer, images=samples.images if metric.reads("images") else None)
            with announce(f"[{task.name}] {model}: computing {mname} (n={samples.n})", enabled=ctx.progress):
                values = metric.compute(view, replace(task.ref, layer=layer),
                                        seed=derive_seed(ctx.seed, task.name, ctx.seed_name(model),
                                                         metric.seed_name or mname),
                                        state=task.fitted.get(mname), sink=sink)
            proto = self.protocol(task, metric, layer, samples)
            reads = bool(metric.requires & FEATURE_INPUTS)  # only its rows carry a backbone warning (not BLEU's)
            # each value's metadata from the metric that made it: finding it by name across the registry would
            # import every metric module listed before it (torch-fidelity's for an SSIM row)
            produced += [(v, time.time() - m0, proto, samples.n, reads, metric.outputs.get(v.metric.split("@", 1)[0]))
                         for v in values]
        rel = sink.save()
        rows: list[Row] = []
        for v, secs, proto, n, reads, info in produced:
            extras = {k: x for k, x in common.items() if reads or k != "backbone_warning"}
            if rel is not None:
                extras["per_sample_file"] = rel
            rows.append(ctx.row(task, model, v, seconds=secs, n=v.n if v.n is not None else n,
                                protocol=proto if v.n is None or proto is None else {**proto, "n": v.n},
                                extras=extras, info=info))
        return rows


class MeasurementKind(TaskKind[A]):
    """A kind that measures a model rather than scoring its outputs (speed, GAN Dissection): it declares its rows'
    metadata here (``outputs``: value name → OutputInfo, variants ``name@detail`` included) and writes its rows in
    :meth:`measure`, so no metric stands in for the metadata."""

    needs_backbone = False
    #: the values this kind writes and their metadata (tables look them up by name)
    outputs: ClassVar[dict[str, OutputInfo]] = {}

    def measure(self, ctx: RunContext, task: TaskPlan, model: str) -> list[Row]:
        raise NotImplementedError

    def run_model(self, ctx: RunContext, task: TaskPlan, model: str) -> list[Row]:
        assert task.ref is not None, "prepare() runs before run_model()"
        return self.measure(ctx, task, model)


def value_info(value_name: str) -> OutputInfo:
    """Metadata of a row's value (``fid``, ``throughput@bs8``): a metric's output, else a measurement kind's
    (``MeasurementKind.outputs``: perf, dissection)."""
    try:
        return output_info(value_name)
    except KeyError:
        pass
    base = value_name.split("@", 1)[0]
    for name in TASKS.names():
        cls = TASKS.get(name)
        if issubclass(cls, MeasurementKind) and base in cls.outputs:
            return cls.outputs[base]
    raise KeyError(value_name)


def dataset_features(ctx: RunContext, task: TaskPlan, ds: Any, label: str) -> Mapping[str, np.ndarray]:
    """Features of a dataset on the task's backbone, streamed from its files or tensor (cached by content key)."""
    assert task.backbone is not None
    return ctx.store.get_stream(ds.hash, lambda first, stop: ds.batches(task.batch_size, first, stop), task.backbone,
                                label=label, total=len(ds))


def needs_images(task: TaskPlan) -> bool:
    """Whether a metric of the task declares it reads the produced images themselves (then they are held)."""
    return any(m.reads("images") for m in task.metrics.values())


def reference_images(task: TaskPlan, ds: Any) -> torch.Tensor | None:
    """The first reference images the task's metrics declare they read (``Metric.images_needed`` of those reading
    ``reference.images``), read from ``ds`` (anything with ``head`` and ``len``); None when no metric reads them."""
    readers = [m for m in task.metrics.values() if m.reads("reference.images")]
    if not readers:
        return None
    item = int(ds.head(1)[0].numel())
    return ds.head(max(m.images_needed(len(ds), item) for m in readers))  # type: ignore[no-any-return]


def images_kept(task: TaskPlan, n: int) -> Callable[[int], int] | None:
    """``Producer.keep`` for a task: the most first images any of its metrics declares it reads (None: none)."""
    readers = [m for m in task.metrics.values() if m.reads("images")]
    if not readers:
        return None
    return lambda item_bytes: max(m.images_needed(n, item_bytes) for m in readers)


class _Resources:
    """Metric.fit's view of the suite: other datasets and their features on the task's backbone."""

    def __init__(self, ctx: RunContext, task: TaskPlan) -> None:
        self._ctx, self._task = ctx, task
        self.backbone = task.backbone

    def dataset(self, name: str) -> Any:
        return self._ctx.dataset(name)

    def features(self, name: str) -> Mapping[str, np.ndarray]:
        ds = self._ctx.dataset(name)
        if self._task.backbone is None:
            raise ConfigError(f"task '{self._task.name}' has no backbone to compute features of '{name}' with")
        return dataset_features(self._ctx, self._task, ds, f"[{name}]")


TASKS: Registry[type[TaskKind]] = Registry("task kind", base=TaskKind, group="genbench.tasks")
