"""The task-kind template and the executable task plan.

The base class owns everything the kinds share: building and type-checking the adapter, batching with per-sample
seeds and uint8/shape checks (:meth:`TaskKind.batched`), feature extraction, fitting each metric once per reference,
the per-metric loop, layer resolution, rows, timing, and the run-folder artifacts (one sample grid writer, one
per-sample file format). A kind supplies only:

- ``provides``: the metric inputs (``bench.metrics.base.INPUTS``) it can give; validate matches metrics against it;
- :meth:`TaskKind.load_reference`: the task's :class:`Reference`, once per task;
- :meth:`TaskKind.produce`: how its adapter turns requests into a :class:`SampleSet` for one model;
- :meth:`TaskKind.protocol`: the protocol record of a metric's rows (None for non-image metrics).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from tqdm import tqdm

from bench import sample_notes
from bench.adapters.base import Adapter, build_adapter
from bench.backbones.base import Backbone
from bench.errors import ConfigError, InputError
from bench.features import feature_key
from bench.guard import is_out_of_memory, release_memory, time_limit
from bench.images import content_hash, make_grid, save_png, to_uint8
from bench.metrics.base import ArtifactSink, Metric, Options, Reference, SampleSet
from bench.progress import announce
from bench.registry import Registry
from bench.runtime import model_context
from bench.seeding import derive_seed, sample_seeds

if TYPE_CHECKING:
    from bench.results import Row
    from bench.runner import Runner
    from bench.suite import TaskSpec


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


class RunArtifacts(ArtifactSink):
    """The run folder's sink for one (task, model): ``samples/<task>/<model>[-<name>].png`` and one per-sample file,
    ``per_sample/<task>/<model>.json`` (value name → list, plus ``sample_ids``), which ``genbench compare`` reads."""

    def __init__(self, run_path: Path, task: str, model: str, sample_ids: list[Any] | None = None) -> None:
        super().__init__()
        self.run_path, self.task, self.model = run_path, task, model
        self.extra: dict[str, Any] = {}  # per-sample data that is not a value (captions, prompt index)
        self.sample_ids = sample_ids

    def image(self, name: str, grid: torch.Tensor) -> str:
        folder = self.run_path / "samples" / self.task
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f"{self.model}.png" if not name else f"{self.model}-{name}.png")
        save_png(grid, path)
        return str(path)

    @staticmethod
    def relative(task: str, model: str) -> str:
        return f"per_sample/{task}/{model}.json"

    @property
    def relative_path(self) -> str:
        return self.relative(self.task, self.model)

    def save(self) -> str | None:
        """Write the per-sample file (when any metric gave per-sample values); its path relative to the run folder."""
        if not self.per_sample_values and not self.extra:
            return None
        from bench.results import atomic_write_text

        data = {**self.extra, **self.per_sample_values}
        if self.sample_ids is not None:
            data["sample_ids"] = self.sample_ids
        atomic_write_text(self.run_path / self.relative_path, json.dumps(data, default=float) + "\n")
        return self.relative_path


def per_sample_table(path: Path) -> list[dict[str, Any]]:
    """A per-sample file as one dict per sample: ``name`` (its sample id) and every value with one entry per sample."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    ids = data.get("sample_ids")
    if not ids:
        return []
    cols = {k: v for k, v in data.items() if k != "sample_ids" and isinstance(v, list) and len(v) == len(ids)
            and all(isinstance(x, int | float) for x in v)}
    return [{"name": name, **{k: float(v[i]) for k, v in cols.items()}} for i, name in enumerate(ids)]


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


class TaskKind:
    """Subclasses set ``name``, ``adapter_kinds``, ``provides`` and implement :meth:`load_reference`,
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
    def load_reference(self, runner: Runner, task: TaskPlan) -> Reference:
        """The task's reference, once per task (kind-private inputs go to ``task.state``)."""
        raise NotImplementedError

    def produce(self, runner: Runner, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        """Ask ``adapter`` for this task's outputs (use :meth:`batched`) and return them as a SampleSet."""
        raise NotImplementedError

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        """The protocol record of ``metric``'s rows; None where no backbone features are involved."""
        return None

    def row_extras(self, task: TaskPlan, model: str, samples: SampleSet) -> dict[str, Any]:
        """Extras every row of this (task, model) carries besides timing."""
        return {}

    def per_sample_data(self, samples: SampleSet) -> dict[str, Any]:
        """Per-sample data that is not a metric value (captions, prompt index), kept in the per-sample file."""
        return {}

    def grid(self, runner: Runner, task: TaskPlan, samples: SampleSet) -> torch.Tensor | None:
        """The images of the sample grid (``output.grid``), or None for none."""
        k = runner.suite.output.grid
        shown = samples.images if samples.images is not None else samples.preview
        return None if not k or shown is None else sample_grid(shown, k)

    # -- the template ----------------------------------------------------------------------------------------
    def build(self, runner: Runner, model: str) -> Adapter:
        """The model's adapter, checked to be of a kind this task evaluates."""
        spec = runner.suite.models[model]
        adapter = build_adapter(spec.adapter, spec.args, runner.ctx)
        if adapter.kind not in self.adapter_kinds:
            raise ConfigError(f"model '{model}' is a {adapter.kind} (adapter '{spec.adapter}'); a {self.name} task "
                              f"evaluates {', '.join(sorted(self.adapter_kinds))}")
        return adapter

    def prepare(self, runner: Runner, task: TaskPlan) -> None:
        """Once per task, before any model: the reference, and each metric's reference-side state."""
        with announce(f"[{task.name}] loading reference '{task.reference}'", enabled=runner.progress):
            task.ref = self.load_reference(runner, task)
        resources = _Resources(runner, task)
        for mname, metric in task.metrics.items():
            with announce(f"[{task.name}] fitting {mname} on reference '{task.reference}'", enabled=runner.progress):
                task.fitted[mname] = metric.fit(replace(task.ref, layer=self.layer_for(task, metric)), resources)

    def layer_for(self, task: TaskPlan, metric: Metric) -> str:
        """The backbone layer ``metric`` reads (``""`` without a backbone)."""
        if task.backbone is None:
            return ""
        layer = task.backbone.layer_name(metric.layer)
        return layer if layer is not None else task.backbone.default_layer

    def run_model(self, runner: Runner, task: TaskPlan, model: str) -> list[Row]:
        assert task.ref is not None, "prepare() runs before run_model()"
        t0 = time.time()
        adapter = self.build(runner, model)
        samples = self.produce(runner, task, model, adapter)
        produce_seconds = time.time() - t0
        samples = replace(samples, name=model)
        if samples.images is not None and samples.images_hash is None:
            samples.images_hash = content_hash(samples.images)
        if not samples.features and samples.images is not None and task.backbone is not None and \
                any(m.requires & FEATURE_INPUTS for m in task.metrics.values()):
            samples.features = runner.store.get(samples.images, task.backbone, label=f"[{model}]",
                                                images_hash=samples.images_hash)
        sink = RunArtifacts(runner.run_dir.path, task.name, model + task.part_suffix, sample_ids=samples.source_names)
        sink.extra.update(self.per_sample_data(samples))
        grid = self.grid(runner, task, samples) if task.part == 0 else None
        if grid is not None:
            sink.image("", grid)
        common = {self.seconds_key: round(produce_seconds, 3), **self.row_extras(task, model, samples)}
        if (task.name, model) in runner.batch_sizes:  # halved after running out of memory: the size that worked
            common["batch_size_used"] = runner.batch_sizes[(task.name, model)]
        # numbers that could be silently wrong are computed, warned about, flagged in their rows and not ranked
        shape = samples.item_shape or (tuple(samples.images.shape[1:]) if samples.images is not None else None)
        # what the set's first pass saw is part of its cached result: a cached call flags what the first one did
        notes = sample_notes.settle(getattr(runner.store, "directory", None), samples.images_hash, {
            "item_shape": list(shape) if shape else None, "output_warning": adapter.output_problem()})
        shape = tuple(notes["item_shape"]) if notes.get("item_shape") else None
        for key, why in (("output_warning", notes.get("output_warning")),  # e.g. a wrong value range
                         ("backbone_warning", None if task.backbone is None or shape is None  # a backbone no
                          or not any(m.requires & FEATURE_INPUTS for m in task.metrics.values())  # metric reads
                          else task.backbone.domain_problem(shape))):  # images the backbone's network never saw
            if why is not None:
                warnings.warn(f"model '{model}': {why}", stacklevel=2)
                common[key] = why
        produced: list[tuple[Any, float, dict[str, Any] | None, int | None]] = []
        for mname, metric in task.metrics.items():
            layer = self.layer_for(task, metric)
            m0 = time.time()
            # images only where declared: a metric that does not require them cannot come to depend on them
            view = replace(samples, layer=layer, images=samples.images if metric.reads("images") else None)
            with announce(f"[{task.name}] {model}: computing {mname} (n={samples.n})", enabled=runner.progress):
                values = metric.compute(view, replace(task.ref, layer=layer),
                                        seed=derive_seed(runner.suite.seed, task.name, runner.seed_name(model), metric.seed_name or mname),
                                        state=task.fitted.get(mname), sink=sink)
            proto = self.protocol(task, metric, layer, samples)
            produced += [(v, time.time() - m0, proto, samples.n) for v in values]
        rel = sink.save()
        rows: list[Row] = []
        for v, secs, proto, n in produced:
            extras = dict(common)
            if rel is not None:
                extras["per_sample_file"] = rel
            rows.append(runner.make_row(task, model, v, seconds=secs, n=v.n if v.n is not None else n,
                                        protocol=proto if v.n is None or proto is None else {**proto, "n": v.n},
                                        extras=extras))
        return rows

    @staticmethod
    def iter_batches(runner: Runner, task: TaskPlan, model: str, count: int, seed: int,
                     call: Callable[[range, list[int]], Any], *, noun: str = "samples", at: str = "sample",
                     desc: str = "sample", batch_size: int | None = None, first: int = 0) -> Iterator[torch.Tensor]:
        """Outputs ``first..count-1`` of ``call(indices, seeds)``, one batch of ``batch_size`` (default the task's)
        at a time, one seed per item (``sample_seeds(seed, ...)``: the same item whatever the batch size), each batch
        converted to uint8 on the model's device, copied to the host once and checked for count and shape."""
        shape: tuple[int, ...] | None = None
        size = batch_size or task.batch_size
        timeout = runner.policy(task.name)[1]
        with tqdm(total=count, initial=first, desc=f"{desc} {model}", unit="img", leave=False,
                  disable=None if runner.progress else True) as bar:
            start = first
            while start < count:
                stop = min(count, start + size)
                try:
                    with time_limit(timeout, f"model '{model}' on {noun} {start}..{stop - 1}"), \
                            model_context(runner.plan.device, runner.suite.runtime.dtype):
                        raw = call(range(start, stop), sample_seeds(seed, start, stop))
                        b = to_uint8(raw, None, what=f"model '{model}' batch at {at} {start}").cpu()
                except Exception as exc:
                    if not is_out_of_memory(exc) or stop - start == 1:
                        raise
                    del exc
                    release_memory()  # the same items again in half the batch: the same outputs (per-item seeds)
                    size = max(1, (stop - start) // 2)
                    runner.batch_sizes[(task.name, model)] = size
                    warnings.warn(f"model '{model}': out of memory with {stop - start} {noun} a batch; retrying "
                                  f"with {size}", stacklevel=2)
                    continue
                if b.shape[0] != stop - start:
                    raise InputError(f"model '{model}': asked for {stop - start} {noun} at {at} {start}, got {b.shape[0]}")
                if shape is not None and tuple(b.shape[1:]) != shape:
                    raise InputError(f"model '{model}': batch at {at} {start} has shape {tuple(b.shape[1:])}, "
                                     f"earlier batches {shape}")
                shape = tuple(b.shape[1:])
                bar.update(b.shape[0])
                start = stop
                yield b

    @classmethod
    def batched(cls, runner: Runner, task: TaskPlan, model: str, count: int, seed: int,
                call: Callable[[range, list[int]], Any], **kw: Any) -> torch.Tensor:
        """:meth:`iter_batches`, concatenated: for metrics that declare they need the images themselves."""
        out = list(cls.iter_batches(runner, task, model, count, seed, call, **kw))
        return torch.cat(out) if out else torch.zeros((0, 1, 1, 1), dtype=torch.uint8)

    @classmethod
    def streamed(cls, runner: Runner, task: TaskPlan, model: str, count: int, seed: int,
                 call: Callable[[range, list[int]], Any], *, content_key: str | None = None, decode: bool = False,
                 share: Hashable | None = None, keep: Callable[[int], int] | None = None, **kw: Any) -> SampleSet:
        """The outputs as a stream: each batch goes to the content hash, the first ``output.grid`` samples (the
        preview) and the backbones, and is then dropped, so memory does not grow with ``count``.

        ``share``: the sample set's identity (:meth:`sample_set`): the batches then also go through the backbones
        of the run's other tasks that evaluate this model on the same set (bench.runner.SampleSets), so the set is
        generated once in the run, and a later task finds its features cached. With a ``content_key`` (an adapter
        that names its outputs without making them: replayed files; or a set made earlier in the run) cached
        features are used and nothing is made but the preview. The finished part of a long stream is written as it
        goes (bench.features.PartialFeatures): a killed run resumed with ``--resume`` starts after it. ``decode``:
        the outputs are files being read, so reading the next batch overlaps the backbones. ``keep(item_bytes)``:
        how many of the first images to hold for metrics that read them (SampleSet.images; None: none)."""
        assert task.backbone is not None
        k = runner.suite.output.grid
        store = runner.store
        backbones = runner.samples.backbones(model, share, task.backbone)
        made = runner.samples.made.get((model, share)) if share is not None else None
        if content_key is None and made is not None:
            content_key = made[0]
        todo = backbones if content_key is None else \
            [b for b in backbones if store.lookup(feature_key(content_key, b), b, count) is None]
        head = _Head(k, keep)

        if task.backbone in todo:
            def batches(first: int, stop: int) -> Iterator[torch.Tensor]:
                at = first
                for b in cls.iter_batches(runner, task, model, min(count, stop), seed, call, first=first, **kw):
                    head.see(at, b)
                    at += int(b.shape[0])
                    yield b

            pass_id = content_key or f"{runner.public_dir.path.resolve()}|{model}|{share if share is not None else task.name}"
            if content_key is not None:
                store.misses += 1
            feats, hashed = store.compute(pass_id, todo, batches, total=count, label=f"[{model}]", decode=decode)
            content_key = content_key or hashed
            for b, f in zip(todo, feats, strict=True):
                store.put(feature_key(content_key, b), f)
        assert content_key is not None
        own = store.lookup(feature_key(content_key, task.backbone), task.backbone, count)
        assert own is not None
        group = runner.group
        if group is not None and group.world > 1 and task.backbone in todo:  # each rank saw its slice of the head
            head.merge(group, f"the first samples of model '{model}'")
        held = head.leading()
        if held is not None and keep is not None and held.shape[0] < min(head.want, count):
            held = None  # a resumed pass did not see all of them: made again below
        if keep is not None and held is None:  # served from the cache or resumed: make the first images again
            first = cls.batched(runner, task, model, min(max(k, 1), count), seed, call, **kw)
            head.need = max(k, keep(int(first[0].numel())))
            held = first if head.need <= first.shape[0] else \
                cls.batched(runner, task, model, min(head.need, count), seed, call, **kw)
        preview = held[:k] if held is not None else (made[1] if made is not None else None)
        if k and preview is None:  # served from the cache: make only the preview
            preview = cls.batched(runner, task, model, min(k, count), seed, call, **kw)
        if share is not None:
            runner.samples.made[(model, share)] = (content_key, preview)
        images = held[: head.need or 0] if keep is not None and held is not None else None
        shape = head.shape or (tuple(preview.shape[1:]) if preview is not None and preview.shape[0] else None)
        return SampleSet(features=own, images_hash=content_key, preview=preview,
                         images=images if images is not None and images.shape[0] else None, item_shape=shape)

    def sample_set(self, task: TaskPlan, model: str) -> Hashable | None:
        """The identity of the sample set this task streams from ``model`` (tasks with equal identities get the same
        samples: seeds depend on the model, not the task), or None when its samples are not shared."""
        return None


class _Head:
    """The first samples a stream holds while it passes: the preview (``k``) and the images metrics declare they
    read (``keep(item_bytes)``, known at the first batch), kept as ``(first index, images)`` pieces, and one image's
    shape. Under torchrun each rank sees the pieces of its own slice; :meth:`merge` gathers them."""

    def __init__(self, k: int, keep: Callable[[int], int] | None) -> None:
        self.k, self.keep = k, keep
        #: how many of the first images metrics read (None: none declared, or no batch seen yet)
        self.need: int | None = None
        self.shape: tuple[int, ...] | None = None
        self.pieces: list[tuple[int, torch.Tensor]] = []

    @property
    def want(self) -> int:
        return max(self.k, self.need or 0)

    def see(self, at: int, batch: torch.Tensor) -> None:
        """Batch of samples ``at..``: its shape, the metrics' need (first batch), and the part below ``want``."""
        self.shape = tuple(batch.shape[1:])
        if self.keep is not None and self.need is None:
            self.need = self.keep(int(batch[0].numel())) if batch.shape[0] else 0
        if at < self.want:
            self.pieces.append((at, batch[: self.want - at]))

    def merge(self, group: Any, what: str) -> None:
        """Every rank's pieces, need and shape, on every rank."""
        shared = group.gather((self.pieces, self.need, self.shape), what)
        self.pieces = [piece for pieces, _, _ in shared for piece in pieces]
        needs = [need for _, need, _ in shared if need is not None]
        self.need = max(needs) if needs else None
        self.shape = next((shape for _, _, shape in shared if shape is not None), None)

    def leading(self) -> torch.Tensor | None:
        """The samples ``0..m-1`` that consecutive pieces cover from index 0 (None: none)."""
        out: list[torch.Tensor] = []
        at = 0
        for first, images in sorted(self.pieces, key=lambda p: p[0]):
            if first != at:
                break
            out.append(images)
            at += int(images.shape[0])
        return torch.cat(out) if out else None


def dataset_features(runner: Runner, task: TaskPlan, ds: Any, label: str) -> Mapping[str, np.ndarray]:
    """Features of a dataset on the task's backbone, streamed from its files or tensor (cached by content key)."""
    assert task.backbone is not None
    return runner.store.get_stream(ds.hash, lambda first, stop: ds.batches(task.batch_size, first, stop), task.backbone, label=label,
                                   total=len(ds))


def needs_reference_images(task: TaskPlan) -> bool:
    return any(m.reads("reference.images") for m in task.metrics.values())


def needs_images(task: TaskPlan) -> bool:
    """Whether a metric of the task declares it reads the produced images themselves (then they are held)."""
    return any(m.reads("images") for m in task.metrics.values())


class _Resources:
    """Metric.fit's view of the suite: other datasets and their features on the task's backbone."""

    def __init__(self, runner: Runner, task: TaskPlan) -> None:
        self._runner, self._task = runner, task
        self.backbone = task.backbone

    def dataset(self, name: str) -> Any:
        return self._runner.dataset(name)

    def features(self, name: str) -> Mapping[str, np.ndarray]:
        ds = self._runner.dataset(name)
        if self._task.backbone is None:
            raise ConfigError(f"task '{self._task.name}' has no backbone to compute features of '{name}' with")
        return self._runner.store.get(ds.images, self._task.backbone, label=f"[{name}]", images_hash=ds.hash)


TASKS: Registry[type[TaskKind]] = Registry("task kind", base=TaskKind, group="genbench.tasks")
