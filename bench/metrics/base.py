"""The metric interface: typed inputs, declared requirements, and the metadata (direction, unit) behind tables.

A metric never sees the runner, the task or the run folder. It receives

- a :class:`SampleSet`: what the task produced for one model (features by layer, images, requested classes,
  prompts or captions, embeddings, the model itself for latent-space metrics, ...),
- a :class:`Reference`: the task's reference (features or a Gaussian fit, labels, captions, images),
- the state its :meth:`Metric.fit` computed once per reference (``state``), and
- an :class:`ArtifactSink` for side outputs: per-sample scores (one channel, one file format) and images.

It declares the inputs it ``requires`` by name (:data:`INPUTS`); task kinds declare what they ``provide``, and
``genbench validate`` refuses a metric whose inputs a task cannot give, naming what is missing. ``layer`` names the
backbone layer the metric reads: ``default`` (the distribution layer), ``logits``, ``embed`` (a text-image
backbone's joint space) or a layer the backbone exposes by name; the task resolves it and ``SampleSet.x`` /
``Reference.x`` are that layer's rows. This is the interface third-party metrics implement (``docs/adding-a-metric.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, cast

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from bench.errors import InputError
from bench.registry import Registry

if TYPE_CHECKING:
    from bench.backbones.base import Backbone
    from bench.metrics.frechet import GaussianStats

#: Every input a metric may require, and what it is. Task kinds provide a subset (``TaskKind.provides``).
INPUTS: dict[str, str] = {
    "features": "backbone features of the produced images (SampleSet.features / .x)",
    "images": "the produced images, uint8 NCHW (SampleSet.images)",
    "classes": "the class label requested for each sample (class-conditional generation)",
    "texts": "the text paired with each image: a captioner's caption, or a text-to-image prompt",
    "image_text_pairs": "features of the image each text describes (captioning) or depicts (text-to-image)",
    "prompt_index": "which prompt each sample renders (several samples per prompt)",
    "embeddings": "retrieval embeddings: images, texts and the caption-to-image pairs",
    "model": "the generator itself, for metrics that query it (latent-space metrics such as PPL)",
    "backbone": "the task's backbone as a network (text embedding for CLIPScore, features of float images)",
    "truth": "ground truth aligned with each produced image (paired translation, reconstruction)",
    "translator": "re-translation through the model: other inputs, other seeds, there and back",
    "source_labels": "the class label of each input image (label preservation)",
    "codes": "an autoencoder's discrete codes of each input and its codebook size (SampleSet.codes)",
    "likelihood": "an autoencoder's log-likelihood bound (ELBO) of each input, nats (SampleSet.log_likelihood)",
    "timings": "speed and memory measurements (the perf task makes them; the perf metric holds their metadata)",
    "units": "a generator layer's units, read and edited with forward hooks (the dissection task; its metric holds "
             "the metadata)",
    "reference.features": "backbone features of the reference images (or its Gaussian fit, where allowed)",
    "reference.images": "the reference images themselves",
    "reference.labels": "the class label of each reference image",
    "reference.inputs": "the reference images are the very inputs the outputs were made from (reconstruction: rFID)",
    "reference.captions": "the reference captions of each image",
}


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


def _rows(features: Mapping[str, np.ndarray] | None, layer: str, what: str) -> np.ndarray:
    if features is None or layer not in features:
        have = ", ".join(features) if features else "none"
        raise InputError(f"{what} has no features of layer '{layer}' (has: {have})")
    return features[layer]


@dataclass
class Translator:
    """Re-translation through the model under evaluation, batched with the task's per-sample seeds.

    ``translate(images, direction, names, tag)``: uint8 translations (``tag`` keys the seeds: another tag, other
    seeds). ``cycle(direction)``: (inputs, reconstructions) there and back on the task's first n inputs of that
    direction's source. ``other_side(n)``: the first n target-domain images and their names (identity mapping)."""

    direction: str
    translate: Callable[[torch.Tensor, str, list[str], str], torch.Tensor]
    cycle: Callable[[str], tuple[torch.Tensor, torch.Tensor]]
    other_side: Callable[[int], tuple[torch.Tensor, list[str]]]
    #: the model replays files made elsewhere: it has no translation for other inputs or seeds
    replays_files: bool = False
    #: streamed forms (a task that does not hold its inputs gives these): ``cycle_values(direction, fns,
    #: identity)`` and ``identity_values(fns, identity)`` return per-item measures ``fn(outputs, truth)`` of the
    #: there-and-back reconstructions vs the inputs, and of G(y) vs y; ``inputs(k)``: the first k inputs and names
    cycle_values: Callable[[str, dict[str, Any], dict[str, Any]], dict[str, np.ndarray]] | None = None
    identity_values: Callable[[dict[str, Any], dict[str, Any]], dict[str, np.ndarray]] | None = None
    inputs: Callable[[int], tuple[torch.Tensor, list[str]]] | None = None


@dataclass(frozen=True)
class Codes:
    """An autoencoder's discrete codes: integer indices ``[n, positions]`` (one row per input) and the codebook size
    (None when the model does not say)."""

    indices: np.ndarray
    size: int | None


@dataclass
class SampleSet:
    """What a task produced for one model. Fields a task does not provide stay None (empty for features)."""

    name: str = ""  #: the model, for messages
    features: Mapping[str, np.ndarray] = field(default_factory=dict)
    layer: str = ""  #: the layer this metric asked for, resolved on the task's backbone
    images: torch.Tensor | None = None
    classes: np.ndarray | None = None
    texts: list[str] | None = None
    prompt_index: np.ndarray | None = None
    #: retrieval: {"images": [N, d], "texts": [M, d], "pairs": [M] image index of each text}
    embeddings: Mapping[str, np.ndarray] | None = None
    model: Any = None
    backbone: Backbone | None = None
    truth: torch.Tensor | None = None
    source: torch.Tensor | None = None  #: the inputs the images were made from (translation)
    #: the first inputs, for the preview grid of a task whose outputs answer inputs (the inputs are not held)
    source_preview: torch.Tensor | None = None
    source_names: list[str] | None = None
    source_labels: np.ndarray | None = None
    translator: Translator | None = None
    #: an autoencoder's discrete codes (reconstruction; None for a continuous model)
    codes: Codes | None = None
    #: an autoencoder's per-input log-likelihood bound, nats of the 8-bit image (reconstruction; None: not reported)
    log_likelihood: np.ndarray | None = None
    images_hash: str | None = None  #: content key of the produced images (the feature-cache key), set by the task
    preview: torch.Tensor | None = None  #: the first samples (sample grids) when the images are not held
    #: one image's (C, H, W) where known (without ``images``: from the stream); None otherwise
    item_shape: tuple[int, ...] | None = None
    #: how many items were produced, where the producer says so (None: counted from what the set holds)
    count: int | None = None
    #: per-item values computed from each batch as it streamed (Metric.item_measures: PSNR against the aligned
    #: ground truth, ...), by name, one entry per produced item
    item_values: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def x(self) -> np.ndarray:
        """This metric's layer of the produced images' features."""
        return _rows(self.features, self.layer, f"the samples of '{self.name}'" if self.name else "the samples")

    @property
    def n(self) -> int:
        if self.count is not None:
            return self.count
        if self.features:  # every produced sample went through the backbone; ``images`` may be a declared subset
            return len(next(iter(self.features.values())))
        for v in (self.images, self.source, self.texts, self.embeddings and self.embeddings.get("images")):
            if v is not None:
                return len(v)
        return 0


@dataclass
class Reference:
    """The task's reference: features by layer (or only a Gaussian fit), images, labels, captions."""

    name: str = ""
    id: str = ""  #: what protocols record (kind, location/split, content hash)
    features: Mapping[str, np.ndarray] | None = None
    stats: GaussianStats | None = None  #: a statistics-only reference's Gaussian fit of the default layer
    #: Gaussian fits stored beside the reference's images (an ADM reference batch's mu/sigma, mu_s/sigma_s), by
    #: layer: Fréchet metrics use them instead of fitting the images, as the tool that made them does
    stored_stats: Mapping[str, GaussianStats] | None = None
    layer: str = ""
    images: torch.Tensor | None = None
    labels: np.ndarray | None = None
    captions: list[list[str]] | None = None

    @property
    def x(self) -> np.ndarray:
        return _rows(self.features, self.layer, f"reference '{self.name}'")

    @property
    def n(self) -> int:
        if self.features:
            return len(next(iter(self.features.values())))
        if self.stats is not None:
            return int(self.stats.n)
        return 0 if self.images is None else int(self.images.shape[0])


class Resources(Protocol):
    """What :meth:`Metric.fit` may use besides the reference: the task's backbone, other datasets of the suite and
    their features on that backbone (memorization's training set), each computed once and cached."""

    backbone: Backbone | None

    def dataset(self, name: str) -> Any: ...

    def features(self, name: str) -> Mapping[str, np.ndarray]: ...


class NoSuite:
    """Resources outside a suite (a metric called from Python): the backbone only, no other datasets."""

    def __init__(self, backbone: Backbone | None = None) -> None:
        self.backbone = backbone

    def dataset(self, name: str) -> Any:
        raise InputError(f"dataset '{name}' is only available inside a suite run")

    def features(self, name: str) -> Mapping[str, np.ndarray]:
        raise InputError(f"features of dataset '{name}' are only available inside a suite run")


class ArtifactSink:
    """Side outputs of metrics: per-sample scores (``per_sample``) and images (``image``).

    This base keeps per-sample values in memory and discards images; the run's sink
    (:class:`bench.tasks.base.RunArtifacts`) writes both to the run folder in one format."""

    def __init__(self) -> None:
        self.per_sample_values: dict[str, list[Any]] = {}

    def per_sample(self, name: str, values: Any) -> None:
        """Per-sample values of the value ``name`` (one per sample, in sample order)."""
        self.per_sample_values[name] = np.asarray(values).tolist() if not isinstance(values, list) else values

    def image(self, name: str, grid: torch.Tensor) -> str | None:
        """A uint8 CHW image (a grid) named ``name``; returns where it was written, or None."""
        return None


#: a metric's own options model (``Metric.Opts``)
OptsT = TypeVar("OptsT", bound=Options)


class Metric(Generic[OptsT]):
    """Subclasses set ``name``, ``outputs`` (value name → OutputInfo), ``requires``, optionally ``Opts`` and
    ``layer``, and implement :meth:`compute` (and :meth:`fit` for reference-side work done once).

    A metric with options is generic in them, ``class MyMetric(Metric[MyOpts])`` with ``Opts = MyOpts``, so
    ``self.opts`` is typed ``MyOpts``; a plain ``class MyMetric(Metric)`` works the same at run time (its ``opts``
    is then untyped to a type checker)."""

    name: ClassVar[str]
    outputs: ClassVar[dict[str, OutputInfo]]
    Opts: ClassVar[type[Options]] = Options
    description: ClassVar[str] = ""
    #: input names (keys of INPUTS) the metric reads; validate checks the task kind provides them
    requires: ClassVar[frozenset[str]] = frozenset({"features", "reference.features"})
    #: inputs the metric reads when the task has them but can do without (LPIPS diversity's reference images give
    #: its ratio); the task hands them over only to metrics that declare them here or in ``requires``
    uses: ClassVar[frozenset[str]] = frozenset()
    #: "default", "logits", "embed", or a layer name the backbone exposes
    layer: ClassVar[str] = "default"
    #: the backbone the metric is defined on, whatever the task's (a suite may still name another with the
    #: metric's ``backbone:`` option); None: the task's backbone
    own_backbone: ClassVar[str | None] = None
    #: whether a statistics-only reference (its Gaussian fit) can stand in for "reference.features"
    reference_stats_ok: ClassVar[bool] = False
    #: the name per-metric seeds derive from when it is not ``name`` (a renamed metric keeps its numbers)
    seed_name: ClassVar[str | None] = None
    #: third-party weights files the metric may resolve (bench.weights.WeightsFile), for the weights manifest
    weights_files: ClassVar[tuple[Any, ...]] = ()

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        #: the validated options, an instance of ``Opts`` (the generic parameter tells a type checker which)
        self.opts: OptsT = cast(OptsT, self.Opts.model_validate(options or {}))

    def item_measures(self) -> Mapping[str, Callable[[torch.Tensor, Any], np.ndarray]]:
        """Per-item values this metric reads, computed by the task from each batch of outputs as they stream
        (value name → ``fn(outputs, against) -> one value per item``; ``against`` is the batch's aligned ground
        truth in paired tasks, its prompts in text-to-image), so the task holds no images for it; :meth:`compute`
        then finds them in ``SampleSet.item_values``. Empty: none."""
        return {}

    def images_needed(self, n: int, item_bytes: int) -> int:
        """How many of the first generated samples' images a metric that reads ``images`` needs, given ``n`` samples
        of ``item_bytes`` each: the task holds only these while every sample streams through the backbone, so a
        metric that can work on a subset (pairs, grids) keeps memory bounded at any ``n``. Default: all of them."""
        return n

    @classmethod
    def uses_reference(cls) -> bool:
        return any(r.startswith("reference.") for r in cls.requires)

    @classmethod
    def reads(cls, name: str) -> bool:
        """Whether the metric reads input ``name`` (required or optional)."""
        return name in cls.requires or name in cls.uses

    def check(self, datasets: Collection[str]) -> list[tuple[tuple[Any, ...], str]]:
        """Problems with the options that need the suite (e.g. a dataset named in them), as (option path,
        message); ``genbench validate`` reports them at the option's file:line."""
        return []

    def fit(self, ref: Reference, resources: Resources) -> Any:
        """Reference-side state, computed once per task before any model (passed to compute as ``state``)."""
        return None

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        raise NotImplementedError


#: the bytes of images a metric that works on a subset holds by default (Metric.images_needed)
IMAGE_SUBSET_BYTES = 2**30


def subset_size(n: int, item_bytes: int, limit: int | None = None) -> int:
    """The first samples a subset-reading metric holds: ``limit`` when given, else as many as fit in
    IMAGE_SUBSET_BYTES (5,461 RGB images at 256 px, 341 at 1024 px; every digits-sized set whole), at least 2."""
    return min(n, limit if limit is not None else max(2, IMAGE_SUBSET_BYTES // max(1, item_bytes)))


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


def on_features(metric: Metric, gen: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray] | None, *, layer: str,
                seed: int = 0, **samples: Any) -> list[MetricValue]:
    """Score plain feature arrays (``{layer: rows}``) with a feature metric: the shortest way to call one from
    Python (parity checks, notebooks). Other SampleSet fields (``classes=...``) go in ``samples``."""
    return metric.compute(SampleSet(features=gen, layer=layer, **samples),
                          Reference(features=ref, layer=layer), seed=seed)
