"""One production path for every task kind: a kind *describes* the work (a :class:`Producer`), this module *runs* it.

A producer says how many items a model is asked for, the call that makes a batch of them from their indices, their
per-item seeds and their conditions (prompts, class labels, source images, images to reconstruct), and an identity
for sharing. :func:`run_producer` then does, for every kind alike:

- rank slicing: under torchrun each rank makes only its slice of the items (bench.distributed; per-item seeds make
  the set the same at every world size), and the features and per-item values are gathered in index order;
- per-item seeds (``sample_seeds``), uint8/count/shape checks, out-of-memory halving, ``timeout_s`` per call;
- every backbone of every task that reads the same set (``Producer.share``): one production pass feeds them all,
  and a later task reads cached features;
- per-item values (:class:`ItemValues`: PSNR/SSIM/L1/LPIPS against the aligned ground truth, an autoencoder's codes
  and likelihood) computed from each batch as it passes, rank-sliced, resumable and cached like features;
- the preview grid and the first images that metrics declare they read (``Metric.images_needed``); nothing else is
  held, so memory does not grow with the number of items.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from bench.backbones.base import Backbone
from bench.errors import InputError
from bench.features import feature_key
from bench.guard import is_out_of_memory, release_memory, time_limit
from bench.images import to_uint8
from bench.metrics.base import SampleSet
from bench.runtime import model_context
from bench.seeding import sample_seeds

if TYPE_CHECKING:
    from bench.tasks.base import TaskPlan
    from bench.tasks.context import RunContext

#: a batch's conditions: per-item prompts, class labels, source images, ... (``Producer.conditions``)
Conditions = Mapping[str, Any]
#: per-item values of one batch of outputs: ``fn(indices, outputs) -> {name: array with one row per item}``
ItemFn = Callable[[range, torch.Tensor], Mapping[str, Any]]


@dataclass
class Producer:
    """What a task kind asks one model for; :func:`run_producer` runs it.

    ``call(indices, seeds, conditions)`` returns the outputs of items ``indices`` (uint8, or float in the adapter's
    declared range), one seed per item; ``conditions(indices)`` gives those items' conditions (prompts, labels,
    source images: read per batch, never all at once). ``share``: the identity of the set (equal identities: equal
    outputs), so tasks that read it share one pass. ``content_key``: the outputs named without making them (files
    made elsewhere, or a model genbench can name whole), so cached features are used. ``item_values``: per-item
    values computed from each batch as it streams. ``keep(item_bytes)``: how many of the first images metrics read."""

    count: int
    call: Callable[[range, list[int], Conditions], Any]
    seed: int
    conditions: Callable[[range], Conditions] = lambda idx: {}
    share: Hashable | None = None
    content_key: str | None = None
    item_values: ItemValues | None = None
    keep: Callable[[int], int] | None = None
    batch_size: int | None = None
    #: the outputs are files being read: reading the next batch overlaps the backbones
    decode: bool = False
    noun: str = "samples"
    at: str = "sample"
    desc: str = "sample"
    #: names this pass among a task's passes of one model (a cycle pass besides the main one): resumable ids
    tag: str = ""


class ItemValues(Backbone):
    """Per-item values computed from each batch of outputs as it streams, run as one more "backbone" of the pass:
    so they are computed on each rank's slice and gathered in index order, written with a long pass's finished part
    (a killed run resumes after it) and cached under the outputs' content key like features. ``identity`` is
    everything the values depend on besides the outputs (the ground truth's content key, the measures and their
    networks' weights): part of the cache key.

    The pass feeds it the batches in order; :meth:`expect` tells it each batch's item indices first (the stream
    wrapper calls it as the batch is made, possibly ahead in a reading thread: a FIFO keeps them in step). A batch
    may arrive in pieces (the feature pass splits a batch that ran out of device memory, and keeps the smaller size
    for later batches): each piece takes the next indices of the current batch, and the batch is done when its last
    index has been measured."""

    name = "item-values"

    def __init__(self, fn: ItemFn, names: tuple[str, ...], identity: Mapping[str, Any]) -> None:
        super().__init__()
        self.fn, self.layers, self.identity = fn, tuple(names), dict(identity)
        self.weights_sha256 = "-"
        self._pending: deque[range] = deque()
        self._current: range | None = None  # the batch being measured, and how many of its items are done
        self._done = 0

    def load(self) -> None:  # nothing to build
        return None

    def resolve_weights(self) -> None:
        return None

    def ensure_built(self) -> None:
        return None

    def preprocessing(self) -> dict[str, Any]:
        return {"values": list(self.layers), **self.identity}

    def expect(self, indices: range) -> None:
        self._pending.append(indices)

    @torch.no_grad()
    def add_rows(self, images: torch.Tensor, outs: dict[str, list[np.ndarray]]) -> None:
        if self._current is None:
            self._current, self._done = self._pending.popleft(), 0
        idx = self._current[self._done: self._done + int(images.shape[0])]
        if len(idx) != int(images.shape[0]):
            raise InputError(f"per-item values: {int(images.shape[0])} outputs for the {len(idx)} items left of "
                             f"batch {self._current.start}..{self._current.stop - 1}")
        values = self.fn(idx, images)  # may run out of memory: nothing is counted done before it returns
        got = {k: np.asarray(values[k]) for k in self.layers}
        for k, v in got.items():
            if v.shape[0] != len(idx):
                raise InputError(f"per-item value '{k}': {v.shape[0]} values for {len(idx)} items")
        for k, v in got.items():
            outs[k].append(v)
        self._done += len(idx)
        if self._done == len(self._current):
            self._current = None


def iter_batches(ctx: RunContext, task: TaskPlan, model: str, p: Producer, first: int = 0,
                 count: int | None = None) -> Iterator[torch.Tensor]:
    """Outputs ``first..count-1`` of ``p.call``, one batch of ``p.batch_size`` (default the task's) at a time, one
    seed per item (``sample_seeds(p.seed, ...)``: the same item whatever the batch size), each converted to uint8
    on the model's device, copied to the host once and checked for count and shape. A batch that runs out of device
    memory is made again in halves (per-item seeds: the same outputs); each call is bounded by ``timeout_s``."""
    count = p.count if count is None else count
    shape: tuple[int, ...] | None = None
    size = p.batch_size or task.batch_size
    timeout = ctx.timeout(task.name)
    with tqdm(total=count, initial=first, desc=f"{p.desc} {model}", unit="img", leave=False,
              disable=None if ctx.progress else True) as bar:
        start = first
        while start < count:
            stop = min(count, start + size)
            idx = range(start, stop)
            try:
                with time_limit(timeout, f"model '{model}' on {p.noun} {start}..{stop - 1}"), \
                        model_context(ctx.device, ctx.dtype):
                    raw = p.call(idx, sample_seeds(p.seed, start, stop), p.conditions(idx))
                    b = to_uint8(raw, None, what=f"model '{model}' batch at {p.at} {start}").cpu()
            except Exception as exc:
                if not is_out_of_memory(exc) or stop - start == 1:
                    raise
                del exc
                release_memory()
                size = max(1, (stop - start) // 2)
                ctx.batch_sizes[(task.name, model)] = size
                warnings.warn(f"model '{model}': out of memory with {stop - start} {p.noun} a batch; retrying "
                              f"with {size}", stacklevel=2)
                continue
            if b.shape[0] != stop - start:
                raise InputError(f"model '{model}': asked for {stop - start} {p.noun} at {p.at} {start}, got {b.shape[0]}")
            if shape is not None and tuple(b.shape[1:]) != shape:
                raise InputError(f"model '{model}': batch at {p.at} {start} has shape {tuple(b.shape[1:])}, "
                                 f"earlier batches {shape}")
            shape = tuple(b.shape[1:])
            bar.update(b.shape[0])
            start = stop
            yield b


def produce_all(ctx: RunContext, task: TaskPlan, model: str, p: Producer, count: int | None = None) -> torch.Tensor:
    """The first ``count`` (default all) outputs of ``p`` as one tensor: for small bounded sets only (previews, the
    first images a metric reads)."""
    out = list(iter_batches(ctx, task, model, p, count=min(p.count, count if count is not None else p.count)))
    return torch.cat(out) if out else torch.zeros((0, 1, 1, 1), dtype=torch.uint8)


@dataclass
class _Head:
    """The first samples a stream holds while it passes: the preview (``k``) and the images metrics declare they
    read (``keep(item_bytes)``, known at the first batch), kept as ``(first index, images)`` pieces, and one image's
    shape. Under torchrun each rank sees the pieces of its own slice; :meth:`merge` gathers them."""

    k: int
    keep: Callable[[int], int] | None
    #: how many of the first images metrics read (None: none declared, or no batch seen yet)
    need: int | None = None
    shape: tuple[int, ...] | None = None
    pieces: list[tuple[int, torch.Tensor]] = field(default_factory=list)

    @property
    def want(self) -> int:
        return max(self.k, self.need or 0)

    def see(self, at: int, batch: torch.Tensor) -> None:
        self.shape = tuple(batch.shape[1:])
        if self.keep is not None and self.need is None:
            self.need = self.keep(int(batch[0].numel())) if batch.shape[0] else 0
        if at < self.want:
            self.pieces.append((at, batch[: self.want - at]))

    def merge(self, group: Any, what: str) -> None:
        shared = group.gather((self.pieces, self.need, self.shape), what)
        self.pieces = [piece for pieces, _, _ in shared for piece in pieces]
        needs = [need for _, need, _ in shared if need is not None]
        self.need = max(needs) if needs else None
        self.shape = next((shape for _, _, shape in shared if shape is not None), None)

    def leading(self) -> torch.Tensor | None:
        """The samples ``0..m-1`` that consecutive pieces cover from index 0 (None: none)."""
        out: list[torch.Tensor] = []
        at = 0
        for first, images in sorted(self.pieces, key=lambda piece: piece[0]):
            if first != at:
                break
            out.append(images)
            at += int(images.shape[0])
        return torch.cat(out) if out else None


def run_producer(ctx: RunContext, task: TaskPlan, model: str, p: Producer, *, backbones: bool = True) -> SampleSet:
    """Run ``p`` once for every reader of its set: each batch goes to the content hash, the preview, the first
    images metrics read, every backbone of the tasks that share the set and the per-item values, and is then
    dropped. With a ``content_key`` (or a set made earlier in the run) cached features and values are used and
    nothing is made but the preview. The finished part of a long pass is written as it goes
    (bench.features.PartialFeatures): a killed run resumed with ``--resume`` starts after it. ``backbones=False``:
    per-item values only (a cycle pass)."""
    store = ctx.store
    share = p.share
    # the task's backbone sees the outputs only where a metric reads their features
    own = task.backbone if backbones and any(m.requires & {"features", "image_text_pairs"}
                                             for m in task.metrics.values()) else None
    nets: list[Backbone] = ctx.samples.backbones(model, share, own) if own is not None else []
    if p.item_values is not None:
        nets = [*nets, p.item_values]
    made = ctx.samples.made.get((model, share)) if share is not None else None
    content_key = p.content_key if p.content_key is not None else (made[0] if made is not None else None)
    todo = nets if content_key is None else \
        [b for b in nets if store.lookup(feature_key(content_key, b), b, p.count) is None]
    head = _Head(ctx.grid, p.keep)
    values = p.item_values

    if todo and (own is None or own in todo or (values is not None and values in todo)):
        def batches(first: int, stop: int) -> Iterator[torch.Tensor]:
            at = first
            for b in iter_batches(ctx, task, model, p, first=first, count=min(p.count, stop)):
                head.see(at, b)
                if values is not None:
                    values.expect(range(at, at + int(b.shape[0])))
                at += int(b.shape[0])
                yield b

        pass_id = content_key or f"{ctx.pass_scope}|{model}|{share if share is not None else task.name}|{p.tag}"
        if content_key is not None:
            store.misses += 1
        feats, hashed = store.compute(pass_id, todo, batches, total=p.count, label=f"[{model}]", decode=p.decode)
        content_key = content_key or hashed
        for b, f in zip(todo, feats, strict=True):
            store.put(feature_key(content_key, b), f)
    assert content_key is not None or not nets
    found = {id(b): store.lookup(feature_key(content_key, b), b, p.count) for b in nets} \
        if content_key is not None else {}
    group = ctx.group
    if group is not None and group.world > 1 and todo:  # each rank saw its slice of the head
        head.merge(group, f"the first samples of model '{model}'")
    held = head.leading()
    k = ctx.grid
    if held is not None and p.keep is not None and held.shape[0] < min(head.want, p.count):
        held = None  # a resumed pass did not see all of them: made again below
    if p.keep is not None and held is None:  # served from the cache or resumed: make the first images again
        first = produce_all(ctx, task, model, p, max(k, 1))
        head.need = max(k, p.keep(int(first[0].numel())))
        held = first if head.need <= first.shape[0] else produce_all(ctx, task, model, p, head.need)
    preview = held[:k] if held is not None else (made[1] if made is not None else None)
    if k and preview is None:  # served from the cache: make only the preview
        preview = produce_all(ctx, task, model, p, k)
    if share is not None and content_key is not None:
        ctx.samples.made[(model, share)] = (content_key, preview)
    images = held[: head.need or 0] if p.keep is not None and held is not None else None
    shape = head.shape or (tuple(preview.shape[1:]) if preview is not None and preview.shape[0] else None)
    own_feats = found.get(id(own)) if own is not None else None
    item = found.get(id(values)) if values is not None else None
    return SampleSet(features=own_feats or {}, images_hash=content_key, preview=preview,
                     images=images if images is not None and images.shape[0] else None, item_shape=shape,
                     item_values=item or {}, count=p.count)


def paired_measures(metrics: Mapping[str, Any]) -> tuple[dict[str, Callable[[torch.Tensor, torch.Tensor], Any]],
                                                          dict[str, Any]]:
    """The per-item measures a task's metrics read (``Metric.item_measures``: value name → fn(outputs, truth)) and
    what they depend on besides the images (each metric's options, the measuring code, a perceptual network's
    weights): part of the cache key of their values."""
    import bench.metrics.translation
    import bench.translation.measures
    from bench.adapters.base import source_digest

    fns: dict[str, Callable[[torch.Tensor, torch.Tensor], Any]] = {}
    identity: dict[str, Any] = {}
    for name, metric in metrics.items():
        got = metric.item_measures()
        if not got:
            continue
        fns.update(got)
        identity[name] = {"options": metric.opts.model_dump(mode="json"),
                          "networks": [getattr(getattr(f, "__self__", None), "protocol", None) for f in got.values()]}
    if fns:
        identity["code"] = source_digest(bench.translation.measures, bench.metrics.translation)
    return fns, identity


def aligned_values(fns: Mapping[str, Callable[[torch.Tensor, torch.Tensor], Any]], outputs: torch.Tensor,
                   truth: torch.Tensor, what: str, names: list[str] | None) -> dict[str, np.ndarray]:
    """Each measure of one batch of outputs against its aligned ground truth (checked: counts and sizes)."""
    from bench.translation.measures import check_aligned

    check_aligned(outputs, truth, what, names)
    return {k: np.asarray(f(outputs, truth), dtype=np.float64) for k, f in fns.items()}


def collect_items(ctx: RunContext, task: TaskPlan, model: str, count: int, call: Callable[[range], list[Any]],
                  *, noun: str = "items", batch_size: int | None = None) -> list[Any]:
    """Outputs that are not images (captions, embeddings), ``call(indices)`` batch by batch: each rank calls the
    model for its slice only (bench.distributed), every call bounded by ``timeout_s``, the slices gathered in index
    order, so every rank returns what one process would."""
    group = ctx.group
    lo, hi = group.span(count) if group is not None and group.world > 1 else (0, count)
    size = batch_size or task.batch_size
    timeout = ctx.timeout(task.name)
    mine: list[Any] = []
    error: Exception | None = None
    try:
        for s in range(lo, hi, size):
            idx = range(s, min(hi, s + size))
            with time_limit(timeout, f"model '{model}' on {noun} {idx.start}..{idx.stop - 1}"), \
                    model_context(ctx.device, ctx.dtype):
                out = list(call(idx))
            if len(out) != len(idx):
                raise InputError(f"model '{model}': {len(out)} outputs for {len(idx)} {noun} at {idx.start}")
            mine.extend(out)
    except Exception as exc:
        if group is None or group.world == 1:
            raise
        error = exc
    if group is None or group.world == 1:
        return mine
    group.agree(error, f"model '{model}' on its slice of {noun}")
    return [x for part in group.gather(mine, f"gathering the outputs of model '{model}'") for x in part]
