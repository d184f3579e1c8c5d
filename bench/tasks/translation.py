"""Image-to-image translation: translate the reference's source domain, score the translations.

One task scores one direction (``args.direction``, default ``a2b``) of every translator on one domain pair
(:class:`bench.translation.data.DomainPair`). The first ``n`` source images (all when ``n`` is omitted) are
translated once, in batches, with per-sample seeds ``model_seed(suite seed, model, direction)`` (not the task) → sample
``i``: the same input gets the same translation whatever the batch size. Metrics then read:

- paired metrics (l1, psnr, ssim, ms_ssim, lpips): translations vs the aligned ground truth (``truth``, paired
  data only);
- fid/kid/prc: backbone features of the translations vs those of the whole target domain (one pass each,
  cached by content in the FeatureStore), under the usual protocol record with reference ``<dataset id>#B``;
- label_preservation: the backbone's logits of the translations vs the inputs' labels (``source_labels``);
- cycle, identity, diversity: extra passes through the adapter (``translator``), made here so seeds stay
  consistent.

Per-image values of every per-image metric go to the run folder's ``per_sample/<task>/<model>.json`` (with the
inputs' file names as ``sample_ids``), the one per-sample format of every task kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.metrics.base import Metric, Options, Reference, SampleSet, Translator
from bench.protocol import make_protocol
from bench.tasks.base import (
    TaskKind,
    TaskPlan,
    dataset_features,
    images_kept,
    paired_grid,
    reference_images,
)
from bench.tasks.production import (
    ItemValues,
    Producer,
    aligned_values,
    paired_measures,
    produce_all,
    run_producer,
)

if TYPE_CHECKING:
    from bench.adapters.translators import Translator as TranslatorAdapter
    from bench.suite import TaskSpec
    from bench.tasks.context import RunContext


class TranslationArgs(Options):
    direction: Literal["a2b", "b2a"] = Field(default="a2b", description="the direction whose translations are scored")


def _sides(direction: str) -> tuple[str, str]:
    return ("a", "b") if direction == "a2b" else ("b", "a")


class TranslationTask(TaskKind[TranslationArgs]):
    """Translate a domain pair's source images; paired, distribution, cycle, identity, diversity and label metrics.

    Everything streams: inputs and ground truth are read batch by batch (a folder pair is never held whole), the
    translations go through the backbone and the paired measures as they come, and only the preview and the first
    images a metric declares it reads are kept."""

    name = "translation"
    adapter_kinds = frozenset({"translator"})
    provides = frozenset({"features", "images", "backbone", "truth", "translator", "source_labels",
                          "reference.features", "reference.images"})
    Args = TranslationArgs
    needs_n = False
    seconds_key = "translation_seconds"

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        if spec.n is not None and spec.n < 2:
            return [(("n",), "a translation task needs at least 2 inputs")]
        return []

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        from bench.translation.data import DomainPair

        ds = ctx.dataset(task.reference)
        if not isinstance(ds, DomainPair):
            raise ConfigError(f"dataset '{task.reference}' is not a translation dataset (kinds digits-edges, "
                              "digits-strokes, paired-folder, unpaired-folder)")
        for m in task.metrics.values():
            if "truth" in m.requires and not ds.paired:
                raise ConfigError(f"metric '{m.name}' compares with ground truth; dataset '{ds.name}' is unpaired "
                                  "(use paired-folder or digits-edges, or drop the metric)")
        src, dst = _sides(self.args(task).direction)
        source, target = ds.side(src), ds.side(dst)
        n = min(task.n or len(source), len(source))
        if task.n is not None and task.n > len(source):
            raise InputError(f"dataset '{task.reference}': domain {src.upper()} holds {len(source)} images, fewer than n={task.n}")
        names = ds.names_a if src == "a" else ds.names_b
        labels = source.labels
        task.state.update(dataset=ds, n=n, source=source, target=target, names=list(names[:n]),
                          labels=None if labels is None else labels[:n].numpy(), n_ref=len(target))
        feats = None
        if task.backbone is not None and any("reference.features" in m.requires for m in task.metrics.values()):
            feats = dataset_features(ctx, task, target, f"[{task.reference}#{dst.upper()}]")
        images = reference_images(task, target)
        return Reference(task.reference, f"{ds.id}#{dst.upper()}", features=feats, images=images)

    # ------------------------------------------------------------------------------------------------
    def _producer(self, ctx: RunContext, task: TaskPlan, model: str, adapter: TranslatorAdapter, direction: str,
                  tag: str, *, cycle: bool = False, inputs: Any = None, names: list[str] | None = None,
                  count: int | None = None) -> Producer:
        """Items ``0..count-1`` of ``inputs`` (default the direction's source side) through ``direction`` (and back,
        with ``cycle``), with per-sample seeds keyed by (model, direction, tag): the same input gets the same
        translation whatever the batch size."""
        from bench.adapters.translators import REVERSE, TranslationRequest

        ds = task.state["dataset"]
        src = _sides(direction)[0]
        inputs = inputs if inputs is not None else ds.side(src)
        names = names if names is not None else list(ds.names_a if src == "a" else ds.names_b)
        count = task.state["n"] if count is None else count
        if not cycle:
            adapter.require(direction, model)
        elif not adapter.replays_files:  # a model translates there and back: it needs both directions
            adapter.require(direction, model, "cycle-consistency translates there and back")
            adapter.require(REVERSE[direction], model, "cycle-consistency translates there and back")

        def call(idx: range, seeds: list[int], cond: Any) -> torch.Tensor:
            req = TranslationRequest(cond["images"], direction, seeds, idx, names[idx.start:idx.stop])
            return adapter.cycle(req) if cycle else adapter.translate(req)

        return Producer(count=count, call=call, seed=ctx.model_seed(model, direction, tag),
                        conditions=lambda idx: {"images": inputs.read(idx)}, noun="translations", at="input",
                        desc=("cycle " if cycle else "translate ") + direction, tag=f"{tag}{'-cycle' if cycle else ''}")

    def _measured(self, ctx: RunContext, task: TaskPlan, model: str, p: Producer, truth: Any, truth_key: str,
                  fns: dict[str, Any], identity: dict[str, Any], what: str, names: list[str]) -> dict[str, np.ndarray]:
        """Per-item measures of ``p``'s outputs against ``truth`` (read batch by batch), streamed: no image held."""
        def values(idx: range, out: torch.Tensor) -> dict[str, np.ndarray]:
            return aligned_values(fns, out, truth.read(idx), what, names[idx.start:idx.stop])

        p.item_values = ItemValues(values, tuple(fns), {"truth": truth_key, **identity})
        return dict(run_producer(ctx, task, model, p, backbones=False).item_values)

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> Producer | SampleSet:
        st = task.state
        direction = self.args(task).direction
        if not any(m.requires & {"images", "features", "truth"} or m.reads("images") for m in task.metrics.values()):
            return SampleSet(count=st["n"])  # cycle/identity/diversity only: their own passes, no main one
        p = self._producer(ctx, task, model, adapter, direction, "main")
        p.share, p.keep = self.sample_set(task, model), images_kept(task, st["n"])
        fns, identity = paired_measures(task.metrics)
        if fns:  # paired metrics: each translation against its aligned ground truth, as it streams
            target, names = st["target"], st["names"]

            def values(idx: range, out: torch.Tensor) -> dict[str, np.ndarray]:
                return aligned_values(fns, out, target.read(idx), f"model '{model}'", names[idx.start:idx.stop])

            p.item_values = ItemValues(values, tuple(fns), {"truth": target.hash, "n": st["n"], **identity})
        return p

    def finish(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any, samples: SampleSet) -> SampleSet:
        st = task.state
        ds = st["dataset"]
        direction = self.args(task).direction

        def translate(images: torch.Tensor, d: str, names: list[str], tag: str) -> torch.Tensor:
            class _Held:
                @staticmethod
                def read(idx: range) -> torch.Tensor:
                    return images[idx.start:idx.stop]

            return produce_all(ctx, task, model, self._producer(ctx, task, model, adapter, d, tag, inputs=_Held(),
                                                                names=list(names), count=int(images.shape[0])))

        def cycle_values(d: str, fns: dict[str, Any], identity: dict[str, Any]) -> dict[str, np.ndarray]:
            src = _sides(d)[0]
            x, names = ds.side(src), list(ds.names_a if src == "a" else ds.names_b)
            p = self._producer(ctx, task, model, adapter, d, "main", cycle=True, inputs=x, names=names)
            return self._measured(ctx, task, model, p, x, x.hash, fns, identity,
                                  f"model '{model}' {'aba' if d == 'a2b' else 'bab'} reconstructions", names)

        def identity_values(fns: dict[str, Any], identity: dict[str, Any]) -> dict[str, np.ndarray]:
            y = st["target"]
            names = list(ds.names_b if _sides(direction)[1] == "b" else ds.names_a)
            p = self._producer(ctx, task, model, adapter, direction, "identity", inputs=y, names=names)
            return self._measured(ctx, task, model, p, y, y.hash, fns, identity, f"model '{model}' identity mapping",
                                  names)

        def cycle(d: str) -> tuple[torch.Tensor, torch.Tensor]:  # whole tensors: Translator.cycle's contract
            src = _sides(d)[0]
            x, names = ds.side(src), list(ds.names_a if src == "a" else ds.names_b)
            p = self._producer(ctx, task, model, adapter, d, "main", cycle=True, inputs=x, names=names)
            return x.head(st["n"]), produce_all(ctx, task, model, p)

        def inputs(k: int) -> tuple[torch.Tensor, list[str]]:
            return st["source"].head(k), st["names"][:k]

        def other_side(k: int) -> tuple[torch.Tensor, list[str]]:
            names = ds.names_b if _sides(direction)[1] == "b" else ds.names_a
            return st["target"].head(k), list(names[:k])

        samples.model, samples.backbone = adapter, task.backbone
        samples.source_names, samples.source_labels = st["names"], st["labels"]
        samples.truth = None
        samples.translator = Translator(direction=direction, translate=translate, cycle=cycle, other_side=other_side,
                                        replays_files=bool(adapter.replays_files), cycle_values=cycle_values,
                                        identity_values=identity_values, inputs=inputs)
        samples.source_preview = st["source"].head(min(ctx.grid, st["n"])) if ctx.grid else None
        return samples

    def sample_set(self, task: TaskPlan, model: str) -> Any:
        # the first n inputs of one direction: the same translations in every task of the run
        return ("translation", task.reference, self.args(task).direction, task.n)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        if task.backbone is None or not metric.requires & {"features", "reference.features"}:
            return None
        assert task.ref is not None
        return make_protocol(task.backbone, layer, task.ref.id, task.state["n"], task.state["n_ref"])

    def row_extras(self, task: TaskPlan, model: str, samples: SampleSet) -> dict[str, Any]:
        return {"direction": self.args(task).direction}

    def grid(self, ctx: RunContext, task: TaskPlan, samples: SampleSet) -> torch.Tensor | None:
        """Inputs and their translations in alternating rows of 8."""
        inputs = samples.source_preview
        outputs = samples.images if samples.images is not None else samples.preview
        if outputs is None or inputs is None:
            return None
        return paired_grid(inputs, outputs, ctx.grid)
