"""Reconstruction: encode and decode the reference's images through an autoencoder, score what comes back.

The task's inputs are the first ``n`` images of its reference dataset (all of them when ``n`` is omitted), fed to
every model in batches with per-sample seeds ``model_seed(suite seed, model, "reconstruct")`` (an ELBO's posterior
samples: an image's numbers do not depend on its batch). Metrics then read:

- paired metrics (``psnr``, ``ssim``, ``lpips``, ``l1``, ``ms_ssim``, bench.metrics.translation): reconstructions vs
  their inputs (``truth``), all on uint8 images, so data ranges are 255 throughout;
- ``rfid`` (and ``fid``, ``kid``, ``prc`` if asked): backbone features of the reconstructions vs those of the same
  inputs, the reference of their protocol record being ``<dataset id>#first<n>``;
- ``codebook``: the codes of a discrete model (``codes``), ``bits_per_dim``: a likelihood model's bound
  (``likelihood``).

``args: {image_size: S}`` centre-crops every input to a square and resizes it to S x S (PIL bicubic, as tokenizer
evaluations preprocess ImageNet) before anything else: every model encodes those images and every metric, rFID's
reference included, compares with them. A reconstruction must have its input's size: an autoencoder that crops or
resizes on its own is refused, naming the model and the sizes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import Field

from bench.adapters.base import keyed
from bench.errors import ConfigError, InputError
from bench.metrics.base import Codes, Metric, Options, Reference, SampleSet
from bench.protocol import make_protocol
from bench.tasks.base import (
    TaskKind,
    TaskPlan,
    dataset_features,
    images_kept,
    paired_grid,
    reference_images,
)
from bench.tasks.production import ItemValues, Producer, aligned_values, paired_measures

if TYPE_CHECKING:
    from bench.suite import TaskSpec
    from bench.tasks.context import RunContext


class ReconstructionArgs(Options):
    image_size: int | None = Field(default=None, gt=0, description=(
        "centre-crop each input to a square and resize it to image_size x image_size (PIL bicubic) before encoding; "
        "every metric compares with these images"))


def centre_crop_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 NCHW images centre-cropped to a square (the shorter side) and resized to ``size`` x ``size`` with PIL's
    bicubic filter (antialiased when shrinking), as ADM's and taming-transformers' ImageNet preprocessing does."""
    from PIL import Image

    h, w = images.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    crop = images[..., top: top + s, left: left + s]
    if s == size:
        return crop.contiguous()
    out = []
    for im in crop:
        arr = im.permute(1, 2, 0).numpy()
        pil = Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr)
        r = np.asarray(pil.resize((size, size), Image.Resampling.BICUBIC))
        out.append(torch.from_numpy(r.reshape(size, size, -1).copy()).permute(2, 0, 1))
    return torch.stack(out) if out else crop[..., :size, :size]


class _Inputs:
    """The task's inputs read batch by batch: the first ``n`` images of the dataset, each centre-cropped and
    resized when ``image_size`` is set; content key: the dataset's, n and the preprocessing."""

    def __init__(self, ds: Any, n: int, size: int | None) -> None:
        self.ds, self.n, self.size = ds, n, size
        self.hash = ds.hash if n == len(ds) and size is None else \
            keyed("reconstruction-inputs", ds.hash, n, size, "centre-crop-bicubic")

    def __len__(self) -> int:
        return self.n

    def read(self, idx: range) -> torch.Tensor:
        x = self.ds.read(idx)
        return x if self.size is None else centre_crop_resize(x, self.size)

    def head(self, m: int) -> torch.Tensor:
        return self.read(range(min(m, self.n)))

    def batches(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        stop = self.n if stop is None else min(stop, self.n)
        for i in range(start, stop, size):
            yield self.read(range(i, min(stop, i + size)))


class ReconstructionTask(TaskKind[ReconstructionArgs]):
    """Encode and decode the reference's first n images; PSNR, SSIM, LPIPS, rFID against the same images, codebook
    usage and bits per dimension. Inputs are read batch by batch; reconstructions stream through the backbone and
    the paired measures (against the very inputs they came from), so nothing holds n images."""

    name = "reconstruction"
    adapter_kinds = frozenset({"autoencoder"})
    provides = frozenset({"images", "truth", "features", "backbone", "codes", "likelihood", "reference.features",
                          "reference.images", "reference.inputs"})
    Args = ReconstructionArgs
    needs_n = False
    seconds_key = "reconstruction_seconds"

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        if spec.n is not None and spec.n < 2:
            return [(("n",), "a reconstruction task needs at least 2 inputs")]
        return []

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        from bench.data.base import Dataset

        ds = ctx.dataset(task.reference)
        if not isinstance(ds, Dataset):
            raise ConfigError(f"dataset '{task.reference}' is not an image set (a reconstruction task encodes images: "
                              "digits, folder, npz, ...)")
        n = len(ds) if task.n is None else task.n
        if n > len(ds):
            raise InputError(f"dataset '{task.reference}' holds {len(ds)} images, fewer than n={n}")
        size = self.args(task).image_size
        inputs = _Inputs(ds, n, size)
        feats = None
        if task.backbone is not None and any("reference.features" in m.requires for m in task.metrics.values()):
            feats = dataset_features(ctx, task, inputs, f"[{task.reference}]")
        images = reference_images(task, inputs)
        task.state.update(n=n, inputs=inputs)
        rid = f"{ds.id}#first{n}" + ("" if size is None else f"@{size}px-centre-crop-bicubic")
        return Reference(task.reference, rid, features=feats, images=images,
                         labels=None if ds.labels is None else ds.labels[:n].numpy())

    def produce(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any) -> Producer:
        x: _Inputs = task.state["inputs"]
        fns, identity = paired_measures(task.metrics)
        wants_codes = any(m.reads("codes") for m in task.metrics.values())
        wants_ll = any(m.reads("likelihood") for m in task.metrics.values())
        # what each call saw and returned besides the images, by its first index: the inputs (the truth of the
        # paired measures) and the encodings (codes, likelihood), taken by the per-item values of the same batch
        seen: dict[int, tuple[torch.Tensor, Any]] = {}

        def call(idx: range, seeds: list[int], cond: Any) -> torch.Tensor:
            inputs = cond["images"]
            out, enc = adapter.reconstruct(inputs, seeds)
            seen[idx.start] = (inputs, enc)
            return out  # type: ignore[no-any-return]

        def values(idx: range, out: torch.Tensor) -> dict[str, np.ndarray]:
            inputs, enc = seen.pop(idx.start)
            if out.shape[2:] != inputs.shape[2:]:
                raise InputError(f"model '{model}': reconstructions are {out.shape[-1]}x{out.shape[-2]} but its "
                                 f"inputs are {inputs.shape[-1]}x{inputs.shape[-2]} (input {idx.start} of dataset "
                                 f"'{task.reference}'); an autoencoder must return its input's size")
            got = aligned_values(fns, out, inputs, f"model '{model}'", None) if fns else {}
            if wants_codes:  # a continuous model has none: an empty row per item
                codes = enc.codes
                got["codes"] = np.zeros((len(idx), 0), np.int64) if codes is None else \
                    torch.as_tensor(codes).reshape(len(idx), -1).long().numpy()
            if wants_ll:
                ll = enc.log_likelihood
                got["log_likelihood"] = np.full(len(idx), np.nan) if ll is None else \
                    torch.as_tensor(ll).reshape(-1).double().numpy()
            if not got:  # the size check above runs on every batch, even with nothing else to measure
                got["size_checked"] = np.ones(len(idx))
            return got

        names = (*fns, *(("codes",) if wants_codes else ()), *(("log_likelihood",) if wants_ll else ()))
        item = ItemValues(values, names or ("size_checked",), {"truth": x.hash, "n": x.n, **identity})
        return Producer(count=x.n, call=call, seed=ctx.model_seed(model, "reconstruct"),
                        conditions=lambda idx: {"images": x.read(idx)}, item_values=item,
                        keep=images_kept(task, x.n), noun="reconstructions", at="input", desc="reconstruct",
                        share=self.sample_set(task, model))

    def finish(self, ctx: RunContext, task: TaskPlan, model: str, adapter: Any, samples: SampleSet) -> SampleSet:
        x: _Inputs = task.state["inputs"]
        values = dict(samples.item_values)
        codes, ll = values.pop("codes", None), values.pop("log_likelihood", None)
        values.pop("size_checked", None)
        samples.item_values = values
        samples.model, samples.backbone = adapter, task.backbone
        samples.codes = Codes(codes, adapter.codebook_size) if codes is not None and codes.shape[1] else None
        samples.log_likelihood = ll if ll is not None and not np.isnan(ll).all() else None
        samples.source_preview = x.head(ctx.grid) if ctx.grid else None
        samples.item_shape = samples.item_shape or tuple(x.head(1).shape[1:])
        return samples

    def sample_set(self, task: TaskPlan, model: str) -> Any:
        return ("reconstruction", task.reference, task.n, self.args(task).image_size)

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        if task.backbone is None or not metric.requires & {"features", "reference.features"}:
            return None
        assert task.ref is not None
        return make_protocol(task.backbone, layer, task.ref.id, task.state["n"], task.state["n"])

    def row_extras(self, task: TaskPlan, model: str, samples: SampleSet) -> dict[str, Any]:
        c = samples.codes
        return {} if c is None else {"codebook_size": c.size, "codes_per_input": int(np.asarray(c.indices).shape[1])}

    def grid(self, ctx: RunContext, task: TaskPlan, samples: SampleSet) -> torch.Tensor | None:
        """Inputs and their reconstructions in alternating rows of 8."""
        outputs = samples.images if samples.images is not None else samples.preview
        if samples.source_preview is None or outputs is None:
            return None
        return paired_grid(samples.source_preview, outputs, ctx.grid)
