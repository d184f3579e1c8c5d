"""The metric interface and the metadata (direction, unit) that drives tables and gates."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from bench.features import Features
from bench.registry import Registry


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class OutputInfo:
    """Metadata of one value a metric produces."""

    higher_is_better: bool
    unit: str = ""
    description: str = ""
    #: False for a measurement shown beside the ranking but not a quality on its own (raw per-prompt diversity:
    #: ignoring the prompt maximises it); tables give it no best mark and leave it out of win rates
    ranked: bool = True


@dataclass
class MetricValue:
    metric: str
    value: float | None  # None: unavailable, with the reason in extras["reason"]
    ci_low: float | None = None
    ci_high: float | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    n: int | None = None  # samples behind this value when not the task's n (e.g. fid@n100 of a curve)


@dataclass
class MetricContext:
    """What a metric may use beyond features: the generated images, requested classes, the adapter (for
    latent-space metrics such as PPL), the runner (datasets, feature store, backbones) and the task/model names.
    Metrics that need only features ignore it."""

    images: Any = None  # uint8 NCHW tensor of the generated samples
    classes: Any = None  # requested class label per sample (conditional generation), or None
    adapter: Any = None
    runner: Any = None
    task: Any = None
    model: str = ""
    #: vision-language tasks: the text scored against each image (a captioner's output, a t2i prompt) and the
    #: reference captions of each image
    hypotheses: Any = None
    references: Any = None
    #: the reference as a Gaussian fit (bench.metrics.frechet.GaussianStats) when it is statistics only
    ref_stats: Any = None


class Metric:
    """Subclasses set ``name``, ``outputs`` (value name → OutputInfo), ``Opts``, ``layer_kind`` and compute()."""

    name: ClassVar[str]
    outputs: ClassVar[dict[str, OutputInfo]]
    Opts: ClassVar[type[Options]] = Options
    #: "default" (the backbone's distribution layer) or "logits"
    layer_kind: ClassVar[str] = "default"
    needs_reference: ClassVar[bool] = True
    #: whether the metric can use a statistics-only reference (mu, sigma) in place of reference features
    reference_stats_ok: ClassVar[bool] = False
    description: ClassVar[str] = ""
    #: task kinds (bench.tasks) whose runs this metric can score
    task_kinds: ClassVar[frozenset[str]] = frozenset({"generation"})

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.opts = self.Opts.model_validate(options or {})

    def check(self, datasets: Collection[str]) -> list[tuple[tuple[Any, ...], str]]:
        """Problems with the options that need the suite (e.g. a dataset named in them), as (option path,
        message); ``genbench validate`` reports them at the option's file:line."""
        return []

    def compute(self, gen: Features, ref: Features | None, *, layer: str, seed: int,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        raise NotImplementedError


METRICS: Registry[type[Metric]] = Registry("metric", base=Metric, group="genbench.metrics")


def get_metric(name: str) -> type[Metric]:
    return METRICS.get(name)


def output_info(value_name: str) -> OutputInfo:
    """Metadata for a value name such as ``fid`` or ``precision``, across all registered metrics.

    A variant ``name@detail`` (``throughput@bs8``, ``fid@n1000``) has the metadata of ``name``.
    """
    value_name = value_name.split("@", 1)[0]
    for name in METRICS.names():
        cls = METRICS.get(name)
        if value_name in cls.outputs:
            return cls.outputs[value_name]
    raise KeyError(value_name)
