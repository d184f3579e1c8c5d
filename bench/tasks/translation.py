"""Image-to-image translation: translate the reference's source domain, score the translations.

One task scores one direction (``args.direction``, default ``a2b``) of every translator on one domain pair
(:class:`bench.translation.data.DomainPair`). The first ``n`` source images (all when ``n`` is omitted) are
translated once, in batches, with per-sample seeds ``derive_seed(suite seed, task, model, direction)`` → sample
``i``: the same input gets the same translation whatever the batch size. Metrics then read:

- paired metrics (l1, psnr, ssim, ms_ssim, lpips): translations vs the aligned ground truth (paired data only);
- fid/kid/prc: backbone features of the translations vs those of the whole target domain (one pass each,
  cached by content in the FeatureStore), under the usual protocol record with reference ``<dataset id>#B``;
- label_preservation: the backbone's logits of the translations vs the inputs' labels;
- cycle, identity, diversity: extra passes through the adapter, made here so seeds stay consistent.

Per-image values of every per-image metric go to ``per_image/<task>/<model>.csv`` in the run folder.
"""

from __future__ import annotations

import csv
import io
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import Field

from bench.adapters import build_adapter
from bench.errors import ConfigError, InputError
from bench.images import make_grid, match_channels, save_png, to_uint8
from bench.metrics.base import Options
from bench.metrics.translation import TranslationContext, TranslationMetric, require_paired
from bench.protocol import make_protocol
from bench.seeding import derive_seed, sample_seeds
from bench.tasks.base import TaskKind, TaskPlan

if TYPE_CHECKING:
    from bench.adapters.translators import Translator
    from bench.results import Row
    from bench.runner import Runner
    from bench.suite import TaskSpec


class TranslationArgs(Options):
    direction: Literal["a2b", "b2a"] = Field(default="a2b", description="the direction whose translations are scored")


def _sides(direction: str) -> tuple[str, str]:
    return ("a", "b") if direction == "a2b" else ("b", "a")


class TranslationTask(TaskKind):
    """Translate a domain pair's source images; paired, distribution, cycle, identity, diversity and label metrics."""

    name = "translation"
    adapter_kinds = frozenset({"translator"})
    Args = TranslationArgs
    needs_n = False

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        if spec.n is not None and spec.n < 2:
            return [(("n",), "a translation task needs at least 2 inputs")]
        return []

    def prepare(self, runner: Runner, task: TaskPlan) -> None:
        from bench.translation.data import DomainPair

        ds = runner.dataset(task.reference)
        if not isinstance(ds, DomainPair):
            raise ConfigError(f"dataset '{task.reference}' is not a translation dataset (kinds digits-edges, "
                              "digits-strokes, paired-folder, unpaired-folder)")
        for m in task.metrics.values():
            require_paired(m, ds)
        src, dst = _sides(task.args.direction)  # type: ignore[attr-defined]
        source, labels, names = ds.domain(src)
        n = min(task.n or source.shape[0], source.shape[0])
        if task.n is not None and task.n > source.shape[0]:
            raise InputError(f"dataset '{task.reference}': domain {src.upper()} holds {source.shape[0]} images, fewer than n={task.n}")
        target, _, _ = ds.domain(dst)
        task.state.update(dataset=ds, n=n, source=source[:n], names=list(names[:n]),
                          labels=None if labels is None else labels[:n],
                          truth=target[:n] if ds.paired else None, target=target)
        if task.backbone is not None and any(not isinstance(m, TranslationMetric) for m in task.metrics.values()):
            task.state["target_feats"] = runner.store.get(target, task.backbone, label=f"[{task.reference}#{dst.upper()}]",
                                                          images_hash=ds.domain_hash(dst))

    # ------------------------------------------------------------------------------------------------
    def _translate(self, runner: Runner, task: TaskPlan, model: str, adapter: Translator, images: torch.Tensor,
                   direction: str, names: list[str], tag: str) -> torch.Tensor:
        """All ``images`` through ``direction`` in batches, with per-sample seeds keyed by (task, model, tag)."""
        from bench.adapters.translators import TranslationRequest

        adapter.require(direction, model)
        base = derive_seed(runner.suite.seed, task.name, model, direction, tag)
        outs: list[torch.Tensor] = []
        for start in range(0, images.shape[0], task.batch_size):
            stop = min(images.shape[0], start + task.batch_size)
            req = TranslationRequest(images[start:stop], direction, sample_seeds(base, start, stop),
                                     range(start, stop), names[start:stop])
            out = to_uint8(adapter.translate(req), None, what=f"model '{model}' {direction} batch at input {start}")
            self._check_batch(model, out, stop - start, start, outs)
            outs.append(out)
        return torch.cat(outs)

    @staticmethod
    def _check_batch(model: str, out: torch.Tensor, want: int, start: int, done: list[torch.Tensor]) -> None:
        if out.shape[0] != want:
            raise InputError(f"model '{model}': asked for {want} translations at input {start}, got {out.shape[0]}")
        if done and out.shape[1:] != done[0].shape[1:]:
            raise InputError(f"model '{model}': batch at input {start} has shape {tuple(out.shape[1:])}, "
                             f"earlier batches {tuple(done[0].shape[1:])}")

    def _cycle(self, runner: Runner, task: TaskPlan, model: str, adapter: Translator, direction: str,
               outputs: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, reconstructions) for ``direction`` then back, on the first n images of its source domain."""
        from bench.adapters.translators import REVERSE, TranslationRequest

        ds = task.state["dataset"]
        x, _, names = ds.domain(_sides(direction)[0])
        x, names = x[: task.state["n"]], list(names[: task.state["n"]])
        reuse = outputs if direction == task.args.direction else None  # type: ignore[attr-defined]
        base = derive_seed(runner.suite.seed, task.name, model, direction, "main")
        recon: list[torch.Tensor] = []
        for start in range(0, x.shape[0], task.batch_size):
            stop = min(x.shape[0], start + task.batch_size)
            if not adapter.replays_files:  # a model translates there and back: it needs both directions
                adapter.require(direction, model, "cycle-consistency translates there and back")
                adapter.require(REVERSE[direction], model, "cycle-consistency translates there and back")
            req = TranslationRequest(x[start:stop], direction, sample_seeds(base, start, stop), range(start, stop),
                                     names[start:stop])
            fwd = None if reuse is None else reuse[start:stop]
            out = to_uint8(adapter.cycle(req, fwd), None, what=f"model '{model}' {direction} reconstruction at input {start}")
            self._check_batch(model, out, stop - start, start, recon)
            recon.append(out)
        return x, torch.cat(recon)

    def run_model(self, runner: Runner, task: TaskPlan, model: str) -> list[Row]:
        from bench.adapters.translators import Translator

        t0 = time.time()
        spec = runner.suite.models[model]
        adapter = build_adapter(spec.adapter, spec.args, runner.ctx)
        if not isinstance(adapter, Translator):
            raise ConfigError(f"model '{model}' is not a translator")
        st = task.state
        direction: str = task.args.direction  # type: ignore[attr-defined]
        need_outputs = any(getattr(m, "needs_outputs", True) for m in task.metrics.values())
        outputs = None
        if need_outputs:
            outputs = self._translate(runner, task, model, adapter, st["source"], direction, st["names"], "main")
            self._save_grid(runner, task, model, st["source"], outputs)
        gen_seconds = time.time() - t0
        feats = None
        if outputs is not None and task.backbone is not None:
            feats = runner.store.get(outputs, task.backbone, label=f"[{model}]")
        ctx = TranslationContext(
            images=outputs, adapter=adapter, runner=runner, task=task, model=model, dataset=st["dataset"],
            direction=direction, source=st["source"], source_names=st["names"], source_labels=st["labels"],
            truth=st["truth"], n=st["n"],
            translate=lambda imgs, d, names, tag: self._translate(runner, task, model, adapter, imgs, d, list(names), tag),
            cycle=lambda d: self._cycle(runner, task, model, adapter, d, outputs))
        rows: list[Row] = []
        dst = _sides(direction)[1]
        for mname, metric in task.metrics.items():
            layer = ""
            proto = None
            if task.backbone is not None:
                layer = (task.backbone.logits_layer if metric.layer_kind == "logits" else None) or task.backbone.default_layer
            if not isinstance(metric, TranslationMetric):
                assert task.backbone is not None and feats is not None
                proto = make_protocol(task.backbone, layer, f"{st['dataset'].id}#{dst.upper()}", st["n"],
                                      int(st["target"].shape[0]))
            m0 = time.time()
            # feats is None when no metric needs the translations (image-only metrics ignore it)
            values = metric.compute(feats, st.get("target_feats"), layer=layer,  # type: ignore[arg-type]
                                    seed=derive_seed(runner.suite.seed, task.name, model, mname), ctx=ctx)
            secs = time.time() - m0
            rows += [runner.make_row(task, model, v, seconds=secs, protocol=proto, n=st["n"],
                                     extras={"direction": direction, "translation_seconds": round(gen_seconds, 3)})
                     for v in values]
        self._save_per_image(runner, task, model, ctx)
        return rows

    @staticmethod
    def _save_grid(runner: Runner, task: TaskPlan, model: str, inputs: torch.Tensor, outputs: torch.Tensor) -> None:
        """Inputs and their translations in alternating rows of 8."""
        k = min(runner.suite.output.grid, inputs.shape[0]) // 8 * 8
        if k == 0:
            return
        c = max(inputs.shape[1], outputs.shape[1])
        if inputs.shape[2:] != outputs.shape[2:]:
            return
        x, y = match_channels(inputs[:k], c), match_channels(outputs[:k], c)
        rows = torch.stack([x.view(-1, 8, *x.shape[1:]), y.view(-1, 8, *y.shape[1:])], 1).reshape(-1, *x.shape[1:])
        folder = runner.run_dir.path / "samples" / task.name
        folder.mkdir(parents=True, exist_ok=True)
        save_png(make_grid(rows, ncol=8, scale=max(1, 64 // max(x.shape[-1], 1))), folder / f"{model}.png")

    @staticmethod
    def _save_per_image(runner: Runner, task: TaskPlan, model: str, ctx: TranslationContext) -> None:
        per = {k: v for k, v in ctx.per_image.items() if len(v) == ctx.n}
        if not per:
            return
        from bench.results import atomic_write_text

        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["name", *per])
        for i, name in enumerate(ctx.source_names):
            w.writerow([name, *(repr(float(np.asarray(v)[i])) for v in per.values())])
        atomic_write_text(runner.run_dir.path / "per_image" / task.name / f"{model}.csv", buf.getvalue())
