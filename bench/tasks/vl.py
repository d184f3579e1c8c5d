"""Vision-language task kinds: retrieval (retrievers), captioning (captioners) and text-to-image.

The reference dataset must carry captions (``shapes``, ``coco-captions``, ``karpathy``). ``n`` is optional: the first
``n`` images of the reference (with all their captions) are used. Per-sample values go to the run folder's
``per_sample/<task>/<model>.json`` and rows carry its path in ``extras["per_sample_file"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from bench.adapters import GenerationRequest
from bench.errors import ConfigError, InputError
from bench.guard import time_limit
from bench.metrics.base import Metric, Options, Reference, SampleSet
from bench.protocol import make_protocol
from bench.seeding import model_seed
from bench.tasks.base import TaskKind, TaskPlan

if TYPE_CHECKING:
    from bench.runner import Runner
    from bench.suite import TaskSpec


def captioned_reference(runner: Runner, task: TaskPlan) -> Reference:
    """The first n images of a captioned dataset with all their captions (kind state: images, ids, texts, pairs)."""
    ds = runner.dataset(task.reference)
    if not ds.captions:
        raise ConfigError(f"dataset '{task.reference}' has no captions; a {task.kind.name} task needs a captioned "
                          "dataset (shapes, coco-captions, karpathy)")
    n = min(task.n or ds.images.shape[0], ds.images.shape[0])
    caps = ds.captions[:n]
    task.state.update(ds_id=ds.id, images=ds.images[:n], ids=list(range(n)), texts=[c for cs in caps for c in cs],
                      pairs=np.repeat(np.arange(n), [len(c) for c in caps]))
    return Reference(task.reference, ds.id, images=ds.images[:n], captions=caps)


class RetrievalTask(TaskKind):
    """Text↔image retrieval on a captioned dataset: embed every image and caption, rank, recall@K."""

    name = "retrieval"
    adapter_kinds = frozenset({"retriever"})
    provides = frozenset({"embeddings", "reference.captions"})
    needs_backbone = False
    needs_n = False
    seconds_key = "embedding_seconds"

    def load_reference(self, runner: Runner, task: TaskPlan) -> Reference:
        return captioned_reference(runner, task)

    def produce(self, runner: Runner, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        st = task.state
        im, tx = embed(adapter, st["images"], st["texts"], task.batch_size, ids=st["ids"],
                       timeout=runner.policy(task.name)[1], model=model)
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
    within ``timeout`` seconds (the suite's ``timeout_s``)."""
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


class CaptioningTask(TaskKind):
    """Caption every reference image; COCO caption metrics against its references, CLIPScore with the backbone."""

    name = "captioning"
    adapter_kinds = frozenset({"captioner"})
    provides = frozenset({"texts", "image_text_pairs", "backbone", "reference.captions"})
    needs_n = False
    seconds_key = "captioning_seconds"

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        return _text_image_check(spec, "captioning")

    def load_reference(self, runner: Runner, task: TaskPlan) -> Reference:
        assert task.backbone is not None
        ref = captioned_reference(runner, task)
        # the captioned images' features: what CLIPScore pairs each caption with
        task.state["image_features"] = runner.store.get(task.state["images"], task.backbone, label=f"[{task.reference}]")
        return ref

    def produce(self, runner: Runner, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        images, ids = task.state["images"], task.state["ids"]
        if adapter.data_only:
            hyps = list(adapter.caption(images, ids=ids))
        else:
            hyps = [c for out in timed_batches(adapter.caption, images, images.shape[0], task.batch_size,
                                               runner.policy(task.name)[1], f"model '{model}' on images") for c in out]
        if len(hyps) != len(ids):
            raise InputError(f"model '{model}': {len(hyps)} captions for {len(ids)} images")
        bad = [i for i, h in enumerate(hyps) if not isinstance(h, str) or not h.strip()]
        if bad:
            raise InputError(f"model '{model}': empty or non-string caption for image {bad[0]} ({len(bad)} in all)")
        return SampleSet(texts=hyps, features=task.state["image_features"], backbone=task.backbone)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        assert task.backbone is not None and task.ref is not None
        n = len(task.state["ids"])
        if "image_text_pairs" in metric.requires:
            return {**make_protocol(task.backbone, layer, task.ref.id, n, None),
                    "scorer": task.backbone.scorer}  # type: ignore[attr-defined]
        return {"task": "captioning", "reference": task.ref.id, "n_images": n,
                "implementation": "bench.text (pycocoevalcap 1.2 numbers, PTB tokenizer)"}

    def per_sample_data(self, samples: SampleSet) -> dict[str, Any]:
        return {"captions": samples.texts}


class T2IArgs(Options):
    samples_per_prompt: int = Field(default=2, ge=1, description="images per prompt (>= 2 for prompt-diversity)")


class TextToImageTask(TaskKind):
    """Prompts in, images out: each reference image's prompt is rendered ``samples_per_prompt`` times (one seed per
    sample); FID against the prompts' reference images, CLIP-score, diversity per prompt, attribute accuracy."""

    name = "text-to-image"
    adapter_kinds = frozenset({"text-to-image"})
    provides = frozenset({"features", "images", "texts", "image_text_pairs", "prompt_index", "backbone",
                          "reference.features", "reference.images"})
    needs_n = False
    Args = T2IArgs

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        return _text_image_check(spec, "text-to-image", image_only_ok=True)

    def load_reference(self, runner: Runner, task: TaskPlan) -> Reference:
        assert task.backbone is not None
        ds = runner.dataset(task.reference)
        if not ds.prompts:
            raise ConfigError(f"dataset '{task.reference}' has no prompts; a text-to-image task needs a captioned dataset")
        n = min(task.n or ds.images.shape[0], ds.images.shape[0])
        task.state["prompts"] = ds.prompts[:n]
        feats = runner.store.get(ds.images[:n], task.backbone, label=f"[{task.reference}]")
        return Reference(task.reference, ds.id, features=feats, images=ds.images[:n])

    def produce(self, runner: Runner, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        spp = task.args.samples_per_prompt  # type: ignore[attr-defined]
        prompt_index = np.repeat(np.arange(len(task.state["prompts"])), spp)
        prompts = [task.state["prompts"][i] for i in prompt_index]
        images = self.batched(runner, task, model, len(prompts), model_seed(runner.suite.seed, runner.seed_name(model)),
                              lambda idx, seeds: adapter.generate(GenerationRequest(
                                  indices=idx, seeds=seeds, prompts=prompts[idx.start:idx.stop],
                                  device=str(adapter.device))), noun="images")
        return SampleSet(images=images, texts=prompts, prompt_index=prompt_index, backbone=task.backbone)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        bb = task.backbone
        assert bb is not None and task.ref is not None and task.ref.images is not None
        own = getattr(metric, "protocol_fields", None)  # scorers with their own model (PickScore, GenEval, ...)
        if own is not None:
            return {"task": "text-to-image", "reference": task.ref.id, "n": samples.n,
                    "samples_per_prompt": task.args.samples_per_prompt, **own()}  # type: ignore[attr-defined]
        # image-only metrics (attributes, diversity) are recorded under the scorer's joint space, as before
        used = layer if metric.requires & {"features", "image_text_pairs"} else getattr(bb, "embed_layer", None) or layer
        return {**make_protocol(bb, used, task.ref.id, samples.n, int(task.ref.images.shape[0])),
                "samples_per_prompt": task.args.samples_per_prompt,  # type: ignore[attr-defined]
                "scorer": getattr(bb, "scorer", bb.name)}

    def per_sample_data(self, samples: SampleSet) -> dict[str, Any]:
        assert samples.prompt_index is not None
        return {"prompt_index": samples.prompt_index.tolist()}

