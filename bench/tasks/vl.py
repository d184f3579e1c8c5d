"""Vision-language task kinds: retrieval (retrievers) and captioning (captioners).

The reference dataset must carry captions (``shapes``, ``coco-captions``, ``karpathy``). ``n`` is optional: the first
``n`` images of the reference (with all their captions) are used. Per-sample values go to the run folder's
``per_sample/<task>/<model>.json`` and rows carry its path in ``extras["per_sample_file"]``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import Field

from bench.adapters import build_adapter
from bench.errors import ConfigError, InputError
from bench.metrics.base import MetricContext, Options
from bench.seeding import derive_seed
from bench.tasks.base import TaskKind, TaskPlan

if TYPE_CHECKING:
    from bench.results import Row
    from bench.runner import Runner
    from bench.suite import TaskSpec


def captioned_reference(runner: Runner, task: TaskPlan) -> dict[str, Any]:
    ds = runner.dataset(task.reference)
    if not ds.captions:
        raise ConfigError(f"dataset '{task.reference}' has no captions; a {task.kind.name} task needs a captioned "
                          "dataset (shapes, coco-captions, karpathy)")
    n = min(task.n or ds.images.shape[0], ds.images.shape[0])
    caps = ds.captions[:n]
    return {"ds": ds, "images": ds.images[:n], "captions": caps, "ids": list(range(n)),
            "texts": [c for cs in caps for c in cs], "pairs": np.repeat(np.arange(n), [len(c) for c in caps])}


def _rows(runner: Runner, task: TaskPlan, model: str, values: list[Any], secs: float, proto: dict[str, Any] | None,
          n: int, per_sample: dict[str, Any], extras: dict[str, Any]) -> list[Row]:
    for v in values:
        if "per_sample" in v.extras:
            ps = v.extras.pop("per_sample")
            if isinstance(ps, dict):
                per_sample.update(ps)  # several named per-sample arrays (retrieval ranks)
            else:
                per_sample[v.metric] = ps
    rel = runner.save_per_sample(task, model, per_sample)
    return [runner.make_row(task, model, v, seconds=secs, protocol=proto, n=n,
                            extras={**extras, "per_sample_file": rel}) for v in values]


class RetrievalTask(TaskKind):
    """Text↔image retrieval on a captioned dataset: embed every image and caption, rank, recall@K."""

    name = "retrieval"
    adapter_kinds = frozenset({"retriever"})
    needs_backbone = False
    needs_n = False

    def prepare(self, runner: Runner, task: TaskPlan) -> None:
        task.state.update(captioned_reference(runner, task))

    def run_model(self, runner: Runner, task: TaskPlan, model: str) -> list[Row]:
        st = task.state
        spec = runner.suite.models[model]
        t0 = time.time()
        adapter = build_adapter(spec.adapter, spec.args, runner.ctx)
        im, tx = embed(adapter, st["images"], st["texts"], task.batch_size, ids=st["ids"])
        emb_s = time.time() - t0
        feats = {"images": im, "texts": tx, "pairs": st["pairs"]}
        proto = {"task": "retrieval", "reference": st["ds"].id, "n_images": len(st["ids"]), "n_texts": len(st["texts"]),
                 "similarity": "cosine, float32", "ties": "against the query (rank = 1 + wrong candidates with sim >= correct)",
                 "i2t": "rank of the best-ranked of the image's captions"}
        rows: list[Row] = []
        per: dict[str, Any] = {}
        for mname, metric in task.metrics.items():
            m0 = time.time()
            vals = metric.compute(feats, None, layer="", seed=derive_seed(runner.suite.seed, task.name, model, mname),
                                  ctx=MetricContext(adapter=adapter, runner=runner, task=task, model=model))
            rows += _rows(runner, task, model, vals, time.time() - m0, proto, len(st["ids"]), per,
                          {"embedding_seconds": round(emb_s, 3)})
        return rows


def embed(adapter: Any, images: Any, texts: list[str], batch: int, ids: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Image and text embeddings as float32 arrays, batch by batch (data-only sources answer in one go)."""
    if adapter.data_only:
        im, tx = adapter.embed_images(images, ids=ids), adapter.embed_texts(texts)
    else:
        im = np.concatenate([np.asarray(adapter.embed_images(images[s: s + batch]), dtype=np.float32)
                             for s in range(0, images.shape[0], batch)])
        tx = np.concatenate([np.asarray(adapter.embed_texts(texts[s: s + batch]), dtype=np.float32)
                             for s in range(0, len(texts), batch)])
    im, tx = np.asarray(im, dtype=np.float32), np.asarray(tx, dtype=np.float32)
    if im.ndim != 2 or im.shape[0] != images.shape[0]:
        raise InputError(f"embed_images returned shape {im.shape} for {images.shape[0]} images")
    if tx.ndim != 2 or tx.shape[0] != len(texts):
        raise InputError(f"embed_texts returned shape {tx.shape} for {len(texts)} texts")
    return im, tx


class CaptioningTask(TaskKind):
    """Caption every reference image; COCO caption metrics against its references, CLIPScore with the backbone."""

    name = "captioning"
    adapter_kinds = frozenset({"captioner"})
    needs_n = False

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        from bench.backbones import BACKBONES
        from bench.backbones.textimage import TextImageBackbone

        if spec.backbone in BACKBONES and not issubclass(BACKBONES.get(spec.backbone), TextImageBackbone):
            return [(("backbone",), f"a captioning task needs a text-image backbone for CLIPScore "
                                    f"(shapes-clip offline, clip-vit-b32 for the published protocol), not '{spec.backbone}'")]
        return []

    def prepare(self, runner: Runner, task: TaskPlan) -> None:
        st = captioned_reference(runner, task)
        assert task.backbone is not None
        st["image_embed"] = runner.store.get(st["images"], task.backbone, label=f"[{task.reference}]")[task.backbone.embed_layer]  # type: ignore[attr-defined]
        task.state.update(st)

    def run_model(self, runner: Runner, task: TaskPlan, model: str) -> list[Row]:
        assert task.backbone is not None
        st = task.state
        spec = runner.suite.models[model]
        t0 = time.time()
        adapter = build_adapter(spec.adapter, spec.args, runner.ctx)
        images, ids = st["images"], st["ids"]
        if adapter.data_only:
            hyps = list(adapter.caption(images, ids=ids))  # type: ignore[attr-defined]
        else:
            hyps = [c for s in range(0, images.shape[0], task.batch_size)
                    for c in adapter.caption(images[s: s + task.batch_size])]  # type: ignore[attr-defined]
        if len(hyps) != len(ids):
            raise InputError(f"model '{model}': {len(hyps)} captions for {len(ids)} images")
        bad = [i for i, h in enumerate(hyps) if not isinstance(h, str) or not h.strip()]
        if bad:
            raise InputError(f"model '{model}': empty or non-string caption for image {bad[0]} ({len(bad)} in all)")
        cap_s = time.time() - t0
        from bench.protocol import make_protocol

        clip_proto = {**make_protocol(task.backbone, task.backbone.embed_layer, st["ds"].id, len(ids), None),  # type: ignore[attr-defined]
                      "scorer": task.backbone.scorer}  # type: ignore[attr-defined]
        text_proto = {"task": "captioning", "reference": st["ds"].id, "n_images": len(ids),
                      "implementation": "bench.text (pycocoevalcap 1.2 numbers, PTB tokenizer)"}
        rows: list[Row] = []
        per: dict[str, Any] = {"captions": hyps}
        for mname, metric in task.metrics.items():
            m0 = time.time()
            vals = metric.compute({"image_embed": st["image_embed"]}, None, layer="",
                                  seed=derive_seed(runner.suite.seed, task.name, model, mname),
                                  ctx=MetricContext(adapter=adapter, runner=runner, task=task, model=model,
                                                    hypotheses=hyps, references=st["captions"]))
            proto = text_proto if mname == "coco-captions" else clip_proto
            rows += _rows(runner, task, model, vals, time.time() - m0, proto, len(ids), per,
                          {"captioning_seconds": round(cap_s, 3)})
        return rows


class T2IArgs(Options):
    samples_per_prompt: int = Field(default=2, ge=1, description="images per prompt (>= 2 for prompt-diversity)")


class TextToImageTask(TaskKind):
    """Prompts in, images out: each reference image's prompt is rendered ``samples_per_prompt`` times (one seed per
    sample); FID against the prompts' reference images, CLIP-score, diversity per prompt, attribute accuracy."""

    name = "text-to-image"
    adapter_kinds = frozenset({"text-to-image"})
    needs_n = False
    Args = T2IArgs

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        return CaptioningTask().check(spec)

    def prepare(self, runner: Runner, task: TaskPlan) -> None:
        assert task.backbone is not None
        ds = runner.dataset(task.reference)
        if not ds.prompts:
            raise ConfigError(f"dataset '{task.reference}' has no prompts; a text-to-image task needs a captioned dataset")
        n = min(task.n or ds.images.shape[0], ds.images.shape[0])
        task.state.update(ds=ds, prompts=ds.prompts[:n], images=ds.images[:n])
        task.state["ref_feats"] = runner.store.get(ds.images[:n], task.backbone, label=f"[{task.reference}]")

    def run_model(self, runner: Runner, task: TaskPlan, model: str) -> list[Row]:
        from bench.adapters import GenerationRequest
        from bench.images import to_uint8
        from bench.protocol import make_protocol
        from bench.seeding import sample_seeds

        assert task.backbone is not None
        st = task.state
        spp = task.args.samples_per_prompt  # type: ignore[attr-defined]
        prompt_index = np.repeat(np.arange(len(st["prompts"])), spp)
        prompts = [st["prompts"][i] for i in prompt_index]
        spec = runner.suite.models[model]
        t0 = time.time()
        adapter = build_adapter(spec.adapter, spec.args, runner.ctx)
        base = derive_seed(runner.suite.seed, task.name, model)
        out = []
        for s in range(0, len(prompts), task.batch_size):
            e = min(len(prompts), s + task.batch_size)
            req = GenerationRequest(indices=range(s, e), seeds=sample_seeds(base, s, e), prompts=prompts[s:e])
            b = to_uint8(adapter.generate(req), None, what=f"model '{model}' batch at sample {s}")  # type: ignore[attr-defined]
            if b.shape[0] != e - s:
                raise InputError(f"model '{model}': asked for {e - s} images at {s}, got {b.shape[0]}")
            out.append(b)
        images = torch.cat(out)
        gen_s = time.time() - t0
        runner.save_grid(task, model, images)
        bb = task.backbone
        feats = dict(runner.store.get(images, bb, label=f"[{model}]"))
        feats["image_embed"] = feats[bb.embed_layer]  # type: ignore[attr-defined]
        feats["prompt_index"] = prompt_index
        ref = st["ref_feats"]
        rows: list[Row] = []
        per: dict[str, Any] = {"prompt_index": prompt_index.tolist()}
        for mname, metric in task.metrics.items():
            layer = bb.default_layer
            proto = {**make_protocol(bb, layer if mname == "fid" else bb.embed_layer, st["ds"].id, len(prompts),  # type: ignore[attr-defined]
                                     int(st["images"].shape[0])), "samples_per_prompt": spp,
                     "scorer": getattr(bb, "scorer", bb.name)}
            m0 = time.time()
            vals = metric.compute(feats, ref if metric.needs_reference else None, layer=layer,
                                  seed=derive_seed(runner.suite.seed, task.name, model, mname),
                                  ctx=MetricContext(images=images, adapter=adapter, runner=runner, task=task, model=model,
                                                    hypotheses=prompts))
            rows += _rows(runner, task, model, vals, time.time() - m0, proto, len(prompts), per,
                          {"generation_seconds": round(gen_s, 3)})
        return rows
