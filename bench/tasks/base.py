"""The task-kind interface and the executable task plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from bench.backbones.base import Backbone
from bench.metrics.base import Metric, Options
from bench.registry import Registry

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
    state: dict[str, Any] = field(default_factory=dict)  # filled by TaskKind.prepare (reference features, ...)


class TaskKind:
    """Subclasses set ``name``, ``adapter_kinds`` and implement :meth:`prepare` and :meth:`run_model`."""

    name: ClassVar[str]
    #: adapter kinds (``Adapter.kind``) this task can evaluate
    adapter_kinds: ClassVar[frozenset[str]]
    #: kind-specific options, given under the task's ``args:`` in a suite
    Args: ClassVar[type[Options]] = Options
    needs_backbone: ClassVar[bool] = True
    needs_n: ClassVar[bool] = True

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        """Extra problems with a task spec, as (field path within the task, message)."""
        return []

    def check_model(self, args: Options, adapter_cls: Any, adapter_args: Any) -> str | None:
        """Why a model (its adapter class and parsed arguments) cannot take part in a task with these kind
        arguments, or None. Checked at validate time; models left out of ``models:`` default to those that fit."""
        return None

    def prepare(self, runner: Runner, task: TaskPlan) -> None:
        """Once per task, before any model: load the reference and its features into ``task.state``."""

    def run_model(self, runner: Runner, task: TaskPlan, model: str) -> list[Row]:
        raise NotImplementedError


TASKS: Registry[type[TaskKind]] = Registry("task kind", base=TaskKind, group="genbench.tasks")
