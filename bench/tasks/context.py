"""The narrow view of a run that task kinds work with: :class:`RunContext`.

A task kind never sees the Runner. It gets datasets, the feature store, the run's sample sets, seeds, the error
policy (timeouts), the device and dtype, an artifact sink per (task, model) and a row builder: everything a kind
needs and nothing it could use to reach into another task's state. The Runner builds one per run (adding the run
folder, resume and the manifest around it); ``bench.tasks.context.RunContext.standalone`` builds one for a kind
exercised on its own (tests, in-process evaluation), with no run folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench.errors import ConfigError
from bench.metrics.base import ArtifactSink, MetricValue, OutputInfo, output_info
from bench.seeding import model_seed

if TYPE_CHECKING:
    from bench.adapters.base import Adapter
    from bench.backbones.base import Backbone
    from bench.distributed import Group
    from bench.features import FeatureStore
    from bench.results import Row
    from bench.tasks.base import TaskPlan


class SampleSets:
    """Which backbones each model's sample sets go through in this run, and the sets already made.

    A model's samples depend on (suite seed, model, index) and the task kind's conditions (``Producer.share``),
    never on the task; so tasks that stream equal sets from one model get the same samples, and the first of them
    sends each batch through every backbone of all of them (FID on Inception and CLIP score on CLIP of one
    text-to-image model: one generation pass). ``made[(model, set)]`` is then (content key, preview), and later
    tasks read their features from the cache."""

    def __init__(self, tasks: Iterable[TaskPlan] = ()) -> None:
        self._backbones: dict[tuple[str, Hashable], list[Any]] = {}
        self.made: dict[tuple[str, Hashable], tuple[str, Any]] = {}
        for task in tasks:
            if task.backbone is None:
                continue
            for model in task.models:
                ident = task.kind.sample_set(task, model)
                if ident is not None:
                    group = self._backbones.setdefault((model, ident), [])
                    if all(b is not task.backbone for b in group):
                        group.append(task.backbone)

    def backbones(self, model: str, ident: Hashable | None, own: Any) -> list[Any]:
        """``own`` (the asking task's backbone) first, then the other backbones that see this set in the run."""
        return [own] + [b for b in self._backbones.get((model, ident), []) if b is not own] if ident is not None \
            else [own]


class RunArtifacts(ArtifactSink):
    """The run folder's sink for one (task, model): ``samples/<task>/<model>[-<name>].png`` and one per-sample file,
    ``per_sample/<task>/<model>.json`` (value name → list, plus ``sample_ids``), which ``genbench compare`` reads."""

    def __init__(self, run_path: Path, task: str, model: str, sample_ids: list[Any] | None = None) -> None:
        super().__init__()
        self.run_path, self.task, self.model = run_path, task, model
        self.extra: dict[str, Any] = {}  # per-sample data that is not a value (captions, prompt index)
        self.sample_ids = sample_ids

    def image(self, name: str, grid: torch.Tensor) -> str:
        from bench.images import save_png

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


class MemoryArtifacts(ArtifactSink):
    """The sink of a run without a folder: per-sample values and extra data kept in memory, images dropped."""

    def __init__(self, sample_ids: list[Any] | None = None) -> None:
        super().__init__()
        self.extra: dict[str, Any] = {}
        self.sample_ids = sample_ids

    def save(self) -> str | None:
        return None

    def data(self) -> dict[str, Any]:
        """What :class:`RunArtifacts` would have written to the per-sample file."""
        out = {**self.extra, **self.per_sample_values}
        if self.sample_ids is not None:
            out["sample_ids"] = self.sample_ids
        return out


def per_sample_table(path: Path) -> list[dict[str, Any]]:
    """A per-sample file as one dict per sample: ``name`` (its sample id) and every value with one entry per sample."""
    if not path.is_file():
        return []
    return per_sample_rows(json.loads(path.read_text(encoding="utf-8")))


def per_sample_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-sample data (a per-sample file's, or :meth:`MemoryArtifacts.data`) as one dict per sample."""
    ids = data.get("sample_ids")
    if not ids:
        return []
    cols = {k: v for k, v in data.items() if k != "sample_ids" and isinstance(v, list) and len(v) == len(ids)
            and all(isinstance(x, int | float) for x in v)}
    return [{"name": name, **{k: float(v[i]) for k, v in cols.items()}} for i, name in enumerate(ids)]


@dataclass
class RunContext:
    """What a task kind may use of the run it is part of.

    ``adapters(model)`` builds a model's adapter; ``datasets(name)`` loads a suite dataset (once); ``seed_names``
    maps a model to the name its sample seeds derive from (a sweep point uses its swept model's); ``timeouts``
    gives a task's ``timeout_s``. ``artifacts_dir`` is the run folder (None: nothing is written); ``pass_scope``
    names the run in the ids of resumable feature passes."""

    suite_name: str
    run_id: str
    seed: int
    store: FeatureStore
    datasets: Callable[[str], Any]
    adapters: Callable[[str], Adapter]
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: str = "fp32"
    #: samples in each task's preview grid (``output.grid``; 0: none)
    grid: int = 0
    progress: bool = True
    seed_names: Callable[[str], str] = lambda model: model
    timeouts: Callable[[str], float | None] = lambda task: None
    artifacts_dir: Path | None = None
    pass_scope: str = ""
    group: Group | None = None
    samples: SampleSets = field(default_factory=SampleSets)
    #: (task, model) -> the batch size a model call was halved to after running out of memory (bench.guard)
    batch_sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    #: without a run folder: (task, model) -> its in-memory sink, kept so the caller can read per-sample values
    kept: dict[tuple[str, str], MemoryArtifacts] = field(default_factory=dict)

    # -- lookups --------------------------------------------------------------------------------------------
    def dataset(self, name: str) -> Any:
        return self.datasets(name)

    def seed_name(self, model: str) -> str:
        return self.seed_names(model)

    def model_seed(self, model: str, *parts: Any) -> int:
        """The base seed of a model's samples (bench.seeding.model_seed): the same in every task and world size."""
        return model_seed(self.seed, self.seed_name(model), *parts)

    def timeout(self, task: str) -> float | None:
        """The task's ``timeout_s`` for each model call (None: no limit)."""
        return self.timeouts(task)

    def features(self, images: torch.Tensor, backbone: Backbone, label: str = "",
                 images_hash: str | None = None) -> Mapping[str, Any]:
        """Features of a whole uint8 tensor on ``backbone``, cached by content."""
        return self.store.get(images, backbone, label=label, images_hash=images_hash)

    # -- outputs --------------------------------------------------------------------------------------------
    def sink(self, task: str, model: str, sample_ids: list[Any] | None = None) -> RunArtifacts | MemoryArtifacts:
        """The artifact sink of one (task, model): the run folder's, or an in-memory one without a folder."""
        if self.artifacts_dir is None:
            self.kept[(task, model)] = MemoryArtifacts(sample_ids)
            return self.kept[(task, model)]
        return RunArtifacts(self.artifacts_dir, task, model, sample_ids=sample_ids)

    def row(self, task: TaskPlan, model: str, v: MetricValue, *, seconds: float,
            protocol: dict[str, Any] | None = None, n: int | None = None, extras: dict[str, Any] | None = None,
            info: OutputInfo | None = None) -> Row:
        """A result row with the value's metadata (direction, unit): ``info``, else the metric output's of that
        name (bench.tasks.base.value_info also knows measurement kinds' values)."""
        from bench.protocol import protocol_id
        from bench.results import Row

        info = info if info is not None else output_info(v.metric)
        return Row(
            run_id=self.run_id, suite=self.suite_name, task=task.name, model=model, dataset=task.reference,
            metric=v.metric, value=None if v.value is None else float(v.value), ci_low=v.ci_low, ci_high=v.ci_high,
            n=int(n if n is not None else (task.n or 0)), backbone=task.backbone.name if task.backbone else None,
            higher_is_better=info.higher_is_better, unit=info.unit, seconds=round(seconds, 4), protocol=protocol,
            protocol_id=protocol_id(protocol) if protocol else None,
            extras={**v.extras, **(extras or {}), **({} if info.ranked else {"ranked": False})},
        )

    @classmethod
    def standalone(cls, *, models: Mapping[str, Adapter] | Callable[[str], Adapter] | None = None,
                   datasets: Mapping[str, Any] | Callable[[str], Any] | None = None,
                   store: FeatureStore | None = None, seed: int = 0, tasks: list[TaskPlan] | None = None,
                   **kw: Any) -> RunContext:
        """A context outside any suite: models and datasets given as objects (or built on demand by a function
        of their name), no run folder (contract tests, in-process evaluation: bench.evaluation)."""
        from bench.features import FeatureStore

        def lookup(given: Mapping[str, Any] | Callable[[str], Any] | None, what: str) -> Callable[[str], Any]:
            if callable(given):
                return given
            table = dict(given or {})

            def get(name: str) -> Any:
                if name not in table:
                    raise ConfigError(f"unknown {what} '{name}'")
                return table[name]
            return get

        adapter, dataset = lookup(models, "model"), lookup(datasets, "dataset")

        return cls(suite_name=kw.pop("suite_name", "standalone"), run_id=kw.pop("run_id", "standalone"), seed=seed,
                   store=store if store is not None else FeatureStore(None, progress=False), datasets=dataset,
                   adapters=adapter, samples=SampleSets(tasks or []), progress=kw.pop("progress", False), **kw)
