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

import torch
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.metrics.base import Metric, Options, Reference, SampleSet, Translator
from bench.protocol import make_protocol
from bench.seeding import model_seed
from bench.tasks.base import TaskKind, TaskPlan, paired_grid

if TYPE_CHECKING:
    from bench.adapters.translators import Translator as TranslatorAdapter
    from bench.runner import Runner
    from bench.suite import TaskSpec


class TranslationArgs(Options):
    direction: Literal["a2b", "b2a"] = Field(default="a2b", description="the direction whose translations are scored")


def _sides(direction: str) -> tuple[str, str]:
    return ("a", "b") if direction == "a2b" else ("b", "a")


def _needs_outputs(metric: Metric) -> bool:
    return bool(metric.requires & {"images", "features", "truth"})


class TranslationTask(TaskKind):
    """Translate a domain pair's source images; paired, distribution, cycle, identity, diversity and label metrics."""

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

    def load_reference(self, runner: Runner, task: TaskPlan) -> Reference:
        from bench.translation.data import DomainPair

        ds = runner.dataset(task.reference)
        if not isinstance(ds, DomainPair):
            raise ConfigError(f"dataset '{task.reference}' is not a translation dataset (kinds digits-edges, "
                              "digits-strokes, paired-folder, unpaired-folder)")
        for m in task.metrics.values():
            if "truth" in m.requires and not ds.paired:
                raise ConfigError(f"metric '{m.name}' compares with ground truth; dataset '{ds.name}' is unpaired "
                                  "(use paired-folder or digits-edges, or drop the metric)")
        src, dst = _sides(task.args.direction)  # type: ignore[attr-defined]
        source, labels, names = ds.domain(src)
        n = min(task.n or source.shape[0], source.shape[0])
        if task.n is not None and task.n > source.shape[0]:
            raise InputError(f"dataset '{task.reference}': domain {src.upper()} holds {source.shape[0]} images, fewer than n={task.n}")
        target, _, _ = ds.domain(dst)
        task.state.update(dataset=ds, n=n, source=source[:n], names=list(names[:n]),
                          labels=None if labels is None else labels[:n].numpy(),
                          truth=target[:n] if ds.paired else None)
        feats = None
        if task.backbone is not None and any("reference.features" in m.requires for m in task.metrics.values()):
            feats = runner.store.get(target, task.backbone, label=f"[{task.reference}#{dst.upper()}]",
                                     images_hash=ds.domain_hash(dst))
        return Reference(task.reference, f"{ds.id}#{dst.upper()}", features=feats, images=target)

    # ------------------------------------------------------------------------------------------------
    def _translate(self, runner: Runner, task: TaskPlan, model: str, adapter: TranslatorAdapter, images: torch.Tensor,
                   direction: str, names: list[str], tag: str) -> torch.Tensor:
        """All ``images`` through ``direction`` in batches, with per-sample seeds keyed by (task, model, tag)."""
        from bench.adapters.translators import TranslationRequest

        adapter.require(direction, model)
        return self.batched(
            runner, task, model, images.shape[0], model_seed(runner.suite.seed, runner.seed_name(model), direction, tag),
            lambda idx, seeds: adapter.translate(TranslationRequest(images[idx.start:idx.stop], direction, seeds, idx,
                                                                    names[idx.start:idx.stop])),
            noun="translations", at="input", desc=f"translate {direction}")

    def _cycle(self, runner: Runner, task: TaskPlan, model: str, adapter: TranslatorAdapter, direction: str,
               outputs: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, reconstructions) for ``direction`` then back, on the first n images of its source domain."""
        from bench.adapters.translators import REVERSE, TranslationRequest

        n = task.state["n"]
        x, _, names = task.state["dataset"].domain(_sides(direction)[0])
        x, names = x[:n], list(names[:n])
        reuse = outputs if direction == task.args.direction else None  # type: ignore[attr-defined]
        if not adapter.replays_files:  # a model translates there and back: it needs both directions
            adapter.require(direction, model, "cycle-consistency translates there and back")
            adapter.require(REVERSE[direction], model, "cycle-consistency translates there and back")

        def there_and_back(idx: range, seeds: list[int]) -> torch.Tensor:
            req = TranslationRequest(x[idx.start:idx.stop], direction, seeds, idx, names[idx.start:idx.stop])
            return adapter.cycle(req, None if reuse is None else reuse[idx.start:idx.stop])

        recon = self.batched(runner, task, model, x.shape[0],
                             model_seed(runner.suite.seed, runner.seed_name(model), direction, "main"), there_and_back,
                             noun="translations", at="input", desc=f"cycle {direction}")
        return x, recon

    def produce(self, runner: Runner, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        st = task.state
        direction: str = task.args.direction  # type: ignore[attr-defined]
        outputs = None
        if any(_needs_outputs(m) for m in task.metrics.values()):
            outputs = self._translate(runner, task, model, adapter, st["source"], direction, st["names"], "main")

        def other_side(k: int) -> tuple[torch.Tensor, list[str]]:
            y, _, names = st["dataset"].domain(_sides(direction)[1])
            return y[:k], list(names[:k])

        translator = Translator(
            direction=direction,
            translate=lambda imgs, d, names, tag: self._translate(runner, task, model, adapter, imgs, d, list(names), tag),
            cycle=lambda d: self._cycle(runner, task, model, adapter, d, outputs),
            other_side=other_side, replays_files=bool(adapter.replays_files))
        return SampleSet(images=outputs, model=adapter, backbone=task.backbone, truth=st["truth"], source=st["source"],
                         source_names=st["names"], source_labels=st["labels"], translator=translator)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        if task.backbone is None or not metric.requires & {"features", "reference.features"}:
            return None
        assert task.ref is not None and task.ref.images is not None
        return make_protocol(task.backbone, layer, task.ref.id, task.state["n"], int(task.ref.images.shape[0]))

    def row_extras(self, task: TaskPlan, model: str, samples: SampleSet) -> dict[str, Any]:
        return {"direction": task.args.direction}  # type: ignore[attr-defined]

    def grid(self, runner: Runner, task: TaskPlan, samples: SampleSet) -> torch.Tensor | None:
        """Inputs and their translations in alternating rows of 8."""
        inputs, outputs = samples.source, samples.images
        if outputs is None or inputs is None:
            return None
        return paired_grid(inputs, outputs, runner.suite.output.grid)
