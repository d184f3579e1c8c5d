"""Vision-language task kinds: retrieval (retrievers), captioning (captioners) and text-to-image.

The reference dataset must carry captions (``shapes``, ``coco-captions``, ``karpathy``). ``n`` is optional: the first
``n`` images of the reference (with all their captions) are used. Per-sample values go to the run folder's
``per_sample/<task>/<model>.json`` and rows carry its path in ``extras["per_sample_file"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import Field

from bench.adapters import GenerationRequest
from bench.adapters.base import keyed
from bench.errors import ConfigError, InputError
from bench.guard import time_limit
from bench.metrics.base import Metric, Options, Reference, SampleSet
from bench.protocol import make_protocol
from bench.tasks.base import TaskKind, TaskPlan, images_kept, reference_images
from bench.tasks.production import ItemValues, Producer, collect_items

if TYPE_CHECKING:
    from bench.suite import TaskSpec
    from bench.tasks.context import RunContext


class _First:
    """The first ``n`` images of a captioned dataset, read batch by batch (``read``, ``batches``, ``head``), with
    a content key of their own (the dataset's when n is all of it)."""

    def __init__(self, ds: Any, n: int) -> None:
        self.ds, self.n = ds, n
        self.hash = ds.hash if n == len(ds) else keyed("first", ds.hash, n)

    def __len__(self) -> int:
        return self.n

    def read(self, idx: Any) -> torch.Tensor:
        return self.ds.read(idx)  # type: ignore[no-any-return]

    def head(self, m: int) -> torch.Tensor:
        return self.ds.head(min(m, self.n))  # type: ignore[no-any-return]

    def batches(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        return self.ds.batches(size, start, self.n if stop is None else min(stop, self.n))  # type: ignore[no-any-return]


def captioned_reference(ctx: RunContext, task: TaskPlan, *, images: bool = False) -> Reference:
    """The first n images of a captioned dataset with all their captions (kind state: ``first``, a batch reader of
    those images; ``ids``, the dataset's own image ids; ``texts``, ``pairs``). ``images``: hold them (retrieval)."""
    ds = ctx.dataset(task.reference)
    if not ds.captions:
        raise ConfigError(f"dataset '{task.reference}' has no captions; a {task.kind.name} task needs a captioned "
                          "dataset (shapes, coco-captions, karpathy)")
    n = min(task.n or len(ds), len(ds))
    caps = ds.captions[:n]
    ids = list(ds.image_ids[:n]) if getattr(ds, "image_ids", None) is not None else list(range(n))
    first = _First(ds, n)
    task.state.update(ds_id=ds.id, first=first, ids=ids, texts=[c for cs in caps for c in cs],
                      pairs=np.repeat(np.arange(n), [len(c) for c in caps]))
    return Reference(task.reference, ds.id, images=first.head(n) if images else None, captions=caps)


class RetrievalTask(TaskKind[Options]):
    """Text↔image retrieval on a captioned dataset: embed every image and caption, rank, recall@K."""

    name = "retrieval"
    adapter_kinds = frozenset({"retriever"})
    provides = frozenset({"embeddings", "reference.captions"})
    needs_backbone = False
    needs_n = False
    seconds_key = "embedding_seconds"

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        return captioned_reference(ctx, task)

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        st = task.state
        first, ids, texts = st["first"], st["ids"], st["texts"]
        if adapter.data_only:  # embeddings made elsewhere: looked up by id, no pixel read
            im = adapter.embed_images(torch.empty((first.n, 0, 0, 0), dtype=torch.uint8), ids=ids)
            tx = adapter.embed_texts(texts)
        else:
            im = np.concatenate([np.asarray(e, dtype=np.float32)[None] for e in collect_items(
                ctx, task, model, first.n, lambda idx: list(np.asarray(adapter.embed_images(first.read(idx)),
                                                                       dtype=np.float32)), noun="images")])
            tx = np.concatenate([np.asarray(e, dtype=np.float32)[None] for e in collect_items(
                ctx, task, model, len(texts), lambda idx: list(np.asarray(
                    adapter.embed_texts(texts[idx.start:idx.stop]), dtype=np.float32)), noun="texts")])
        im, tx = np.asarray(im, dtype=np.float32), np.asarray(tx, dtype=np.float32)
        if im.ndim != 2 or im.shape[0] != first.n:
            raise InputError(f"model '{model}': embed_images returned shape {im.shape} for {first.n} images")
        if tx.ndim != 2 or tx.shape[0] != len(texts):
            raise InputError(f"model '{model}': embed_texts returned shape {tx.shape} for {len(texts)} texts")
        return SampleSet(embeddings={"images": im, "texts": tx, "pairs": st["pairs"]})

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        st = task.state
        return {"task": "retrieval", "reference": st["ds_id"], "n_images": len(st["ids"]), "n_texts": len(st["texts"]),
                "similarity": "cosine, float32", "ties": "against the query (rank = 1 + wrong candidates with sim >= correct)",
                "i2t": "rank of the best-ranked of the image's captions"}


def timed_batches(fn: Any, items: Any, n: int, batch: int, timeout: float | None, what: str) -> Iterator[Any]:
    """``fn`` on consecutive batches of ``items``, each call within ``timeout`` seconds (the suite's ``timeout_s``;
    ``what`` names the model and its inputs in the error)."""
    for s in range(0, n, batch):
        with time_limit(timeout, f"{what} {s}..{min(n, s + batch) - 1}"):
            out = fn(items[s: s + batch])
        yield out


def embed(adapter: Any, images: Any, texts: list[str], batch: int, ids: list[Any], timeout: float | None = None,
          model: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Image and text embeddings as float32 arrays, batch by batch (data-only sources answer in one go); each call
    within ``timeout`` seconds (the suite's ``timeout_s``). For whole tensors given from Python (``score
    retrieval``); a task streams through :func:`bench.tasks.production.collect_items`."""
    if adapter.data_only:
        im, tx = adapter.embed_images(images, ids=ids), adapter.embed_texts(texts)
    else:
        im = np.concatenate([np.asarray(e, dtype=np.float32) for e in timed_batches(
            adapter.embed_images, images, images.shape[0], batch, timeout, f"model '{model}' on images")])
        tx = np.concatenate([np.asarray(e, dtype=np.float32) for e in timed_batches(
            adapter.embed_texts, texts, len(texts), batch, timeout, f"model '{model}' on texts")])
    im, tx = np.asarray(im, dtype=np.float32), np.asarray(tx, dtype=np.float32)
    if im.ndim != 2 or im.shape[0] != images.shape[0]:
        raise InputError(f"embed_images returned shape {im.shape} for {images.shape[0]} images")
    if tx.ndim != 2 or tx.shape[0] != len(texts):
        raise InputError(f"embed_texts returned shape {tx.shape} for {len(texts)} texts")
    return im, tx


def _text_image_check(spec: TaskSpec, kind: str, image_only_ok: bool = False) -> list[tuple[tuple[Any, ...], str]]:
    """A text-image backbone where the task's metrics score images against texts. ``image_only_ok``: a task whose
    metrics read images only (FID of a text-to-image model on COCO-30k) may use any image backbone or protocol."""
    from bench.backbones import BACKBONES
    from bench.backbones.textimage import TextImageBackbone
    from bench.metrics import METRICS
    from bench.protocol import PRESETS

    name = PRESETS[spec.protocol].backbone if spec.protocol in PRESETS else spec.backbone
    textual = [m for m in spec.metrics if m in METRICS and "image_text_pairs" in METRICS.get(m).requires]
    if image_only_ok and not textual:
        return []
    if name in BACKBONES and not issubclass(BACKBONES.get(name), TextImageBackbone):
        what = f"{', '.join(textual)} need" if image_only_ok else "needs"
        return [(("backbone",), f"a {kind} task {what} a text-image backbone for CLIPScore "
                                f"(shapes-clip offline, clip-vit-b32 for the published protocol), not '{name}'"
                                + ("; image-only metrics (FID, ...) may use any backbone in a task of their own"
                                   if image_only_ok else ""))]
    return []


class CaptioningTask(TaskKind[Options]):
    """Caption every reference image; COCO caption metrics against its references, CLIPScore with the backbone.
    Images are read batch by batch (each rank captions its slice); the captions, one string per image, are what
    is held, and the dataset's own image ids name them end to end."""

    name = "captioning"
    adapter_kinds = frozenset({"captioner"})
    provides = frozenset({"texts", "image_text_pairs", "backbone", "reference.captions"})
    needs_n = False
    seconds_key = "captioning_seconds"

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        return _text_image_check(spec, "captioning")

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        from bench.tasks.base import dataset_features

        assert task.backbone is not None
        ref = captioned_reference(ctx, task)
        # the captioned images' features: what CLIPScore pairs each caption with (streamed, cached by content)
        task.state["image_features"] = dataset_features(ctx, task, task.state["first"], f"[{task.reference}]")
        return ref

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        first, ids = task.state["first"], task.state["ids"]
        if adapter.data_only:  # captions made elsewhere: looked up by the dataset's image ids, no pixel read
            hyps = list(adapter.caption(torch.empty((first.n, 0, 0, 0), dtype=torch.uint8), ids=ids))
        else:
            hyps = collect_items(ctx, task, model, first.n, lambda idx: list(adapter.caption(first.read(idx))),
                                 noun="images")
        if len(hyps) != len(ids):
            raise InputError(f"model '{model}': {len(hyps)} captions for {len(ids)} images")
        bad = [i for i, h in enumerate(hyps) if not isinstance(h, str) or not h.strip()]
        if bad:
            raise InputError(f"model '{model}': empty or non-string caption for image {ids[bad[0]]!r} "
                             f"({len(bad)} in all)")
        return SampleSet(texts=hyps, features=task.state["image_features"], backbone=task.backbone,
                         item_shape=tuple(first.head(1).shape[1:]))  # the scorer's domain check (one image read)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        assert task.backbone is not None and task.ref is not None
        n = len(task.state["ids"])
        if "image_text_pairs" in metric.requires:
            return {**make_protocol(task.backbone, layer, task.ref.id, n, None),
                    "scorer": getattr(task.backbone, "scorer", task.backbone.name)}
        return {"task": "captioning", "reference": task.ref.id, "n_images": n,
                "implementation": "bench.text (pycocoevalcap 1.2 numbers, PTB tokenizer)"}

    def per_sample_data(self, samples: SampleSet) -> dict[str, Any]:
        return {"captions": samples.texts}


class T2IArgs(Options):
    samples_per_prompt: int = Field(default=2, ge=1, description="images per prompt (>= 2 for prompt-diversity)")


def _item_array(values: Any) -> np.ndarray:
    """One batch's per-item values: scores as float64; strings (GenEval's per-image verdicts) as they are."""
    a = np.asarray(values)
    return a if a.dtype.kind == "U" else a.astype(np.float64)


class TextToImageTask(TaskKind[T2IArgs]):
    """Prompts in, images out: each reference image's prompt is rendered ``samples_per_prompt`` times (one seed per
    sample); FID against the prompts' reference images, CLIP-score, diversity per prompt, attribute accuracy.

    The images stream: each batch goes through every backbone of every task on the same prompts (the FID task and
    the CLIP-score task of one model render each prompt once) and is dropped; the reference images are read batch
    by batch. Only the preview and the first images a metric declares it reads are held."""

    name = "text-to-image"
    adapter_kinds = frozenset({"text-to-image"})
    provides = frozenset({"features", "images", "texts", "image_text_pairs", "prompt_index", "backbone",
                          "reference.features", "reference.images"})
    needs_n = False
    Args = T2IArgs

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        return _text_image_check(spec, "text-to-image", image_only_ok=True)

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        from bench.tasks.base import dataset_features

        assert task.backbone is not None
        ds = ctx.dataset(task.reference)
        if not ds.prompts:
            raise ConfigError(f"dataset '{task.reference}' has no prompts; a text-to-image task needs a captioned dataset")
        if not getattr(ds, "has_images", True):  # a prompt set (GenEval): validate refuses these; from Python too
            from bench.data.base import no_images_line

            bad = [name for name, m in task.metrics.items() if m.uses_reference()]
            if bad:
                raise ConfigError(no_images_line(bad[0], task.reference, ds.id.split(":")[0]))
        n = min(task.n or len(ds), len(ds))
        first = _First(ds, n)
        task.state.update(prompts=ds.prompts[:n], n_ref=n)
        # the reference images' features only where a metric compares with them (FID, ...): a prompt set (GenEval)
        # has no images to read, and scorers of images against prompts never look at the reference's
        feats = dataset_features(ctx, task, first, f"[{task.reference}]") \
            if any(m.reads("reference.features") for m in task.metrics.values()) else None
        images = reference_images(task, first) if getattr(ds, "has_images", True) else None
        return Reference(task.reference, ds.id, features=feats, images=images)

    def _prompt_index(self, task: TaskPlan) -> np.ndarray:
        return np.repeat(np.arange(len(task.state["prompts"])), self.args(task).samples_per_prompt)

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> Producer:
        prompts, spp = task.state["prompts"], self.args(task).samples_per_prompt
        count = len(prompts) * spp

        def call(idx: range, seeds: list[int], cond: Any) -> Any:
            return adapter.generate(GenerationRequest(indices=idx, seeds=seeds, prompts=cond["prompts"],
                                                      device=str(adapter.device)))

        return Producer(count=count, call=call, seed=ctx.model_seed(model),
                        conditions=lambda idx: {"prompts": [prompts[i // spp] for i in idx]},
                        share=self.sample_set(task, model), keep=images_kept(task, count), noun="images",
                        item_values=self._scores(task, prompts, spp))

    @staticmethod
    def _scores(task: TaskPlan, prompts: list[str], spp: int) -> ItemValues | None:
        """Per-item scores of image-and-prompt metrics (preference scorers, VQAScore: ``Metric.item_measures``),
        computed from each batch as it streams against its prompts: no image is held for them."""
        fns: dict[str, Any] = {}
        identity: dict[str, Any] = {"prompts": keyed(prompts), "samples_per_prompt": spp}
        for name, metric in task.metrics.items():
            got = metric.item_measures()
            if got:
                fns.update(got)
                proto = getattr(metric, "protocol_fields", None)
                identity[name] = {"options": metric.opts.model_dump(mode="json"),
                                  "protocol": proto() if proto is not None else None}
        if not fns:
            return None

        def values(idx: range, out: torch.Tensor) -> dict[str, np.ndarray]:
            batch = [prompts[i // spp] for i in idx]
            return {k: _item_array(f(out, batch)) for k, f in fns.items()}

        return ItemValues(values, tuple(fns), identity)

    def finish(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any, samples: SampleSet) -> SampleSet:
        prompt_index = self._prompt_index(task)
        samples.texts = [task.state["prompts"][i] for i in prompt_index]
        samples.prompt_index, samples.backbone = prompt_index, task.backbone
        return samples

    def sample_set(self, task: TaskPlan, model: str) -> Any:
        # the prompts of the dataset's first n images, each rendered samples_per_prompt times
        return ("text-to-image", task.reference, task.n, self.args(task).samples_per_prompt)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        bb = task.backbone
        assert bb is not None and task.ref is not None
        own = getattr(metric, "protocol_fields", None)  # scorers with their own model (PickScore, GenEval, ...)
        if own is not None:
            return {"task": "text-to-image", "reference": task.ref.id, "n": samples.n,
                    "samples_per_prompt": self.args(task).samples_per_prompt, **own()}
        # image-only metrics (attributes, diversity) are recorded under the scorer's joint space, as before
        used = layer if metric.requires & {"features", "image_text_pairs"} else getattr(bb, "embed_layer", None) or layer
        return {**make_protocol(bb, used, task.ref.id, samples.n, int(task.state["n_ref"])),
                "samples_per_prompt": self.args(task).samples_per_prompt,
                "scorer": getattr(bb, "scorer", bb.name)}

    def per_sample_data(self, samples: SampleSet) -> dict[str, Any]:
        assert samples.prompt_index is not None
        return {"prompt_index": samples.prompt_index.tolist()}
