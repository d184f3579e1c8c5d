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

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.images import content_hash
from bench.metrics.base import Codes, Metric, Options, Reference, SampleSet
from bench.protocol import make_protocol
from bench.seeding import model_seed
from bench.tasks.base import TaskKind, TaskPlan, paired_grid

if TYPE_CHECKING:
    from bench.runner import Runner
    from bench.suite import TaskSpec


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


class ReconstructionTask(TaskKind):
    """Encode and decode the reference's first n images; PSNR, SSIM, LPIPS, rFID against the same images, codebook
    usage and bits per dimension."""

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

    def load_reference(self, runner: Runner, task: TaskPlan) -> Reference:
        from bench.data.base import Dataset

        ds = runner.dataset(task.reference)
        if not isinstance(ds, Dataset):
            raise ConfigError(f"dataset '{task.reference}' is not an image set (a reconstruction task encodes images: "
                              "digits, folder, npz, ...)")
        n = len(ds) if task.n is None else task.n
        if n > len(ds):
            raise InputError(f"dataset '{task.reference}' holds {len(ds)} images, fewer than n={n}")
        inputs = ds.head(n)
        size = task.args.image_size  # type: ignore[attr-defined]
        if size is not None:
            inputs = centre_crop_resize(inputs, size)
        key = ds.hash if n == len(ds) and size is None else content_hash(inputs)
        feats = None
        if task.backbone is not None and any("reference.features" in m.requires for m in task.metrics.values()):
            feats = runner.store.get(inputs, task.backbone, label=f"[{task.reference}]", images_hash=key)
        task.state.update(n=n, inputs=inputs)
        rid = f"{ds.id}#first{n}" + ("" if size is None else f"@{size}px-centre-crop-bicubic")
        return Reference(task.reference, rid, features=feats, images=inputs,
                         labels=None if ds.labels is None else ds.labels[:n].numpy())

    def produce(self, runner: Runner, task: TaskPlan, model: str, adapter: Any) -> SampleSet:
        x: torch.Tensor = task.state["inputs"]
        codes: list[torch.Tensor] = []
        lls: list[torch.Tensor] = []

        def call(idx: range, seeds: list[int]) -> torch.Tensor:
            out, enc = adapter.reconstruct(x[idx.start:idx.stop], seeds)
            if enc.codes is not None:
                codes.append(torch.as_tensor(enc.codes).reshape(len(idx), -1))
            if enc.log_likelihood is not None:
                lls.append(torch.as_tensor(enc.log_likelihood).reshape(-1))
            return out  # type: ignore[no-any-return]

        recon = self.batched(runner, task, model, x.shape[0], model_seed(runner.suite.seed, runner.seed_name(model),
                                                                          "reconstruct"),
                             call, noun="reconstructions", at="input", desc="reconstruct")
        if recon.shape[2:] != x.shape[2:]:
            raise InputError(f"model '{model}': reconstructions are {recon.shape[-1]}x{recon.shape[-2]} but its inputs "
                             f"are {x.shape[-1]}x{x.shape[-2]} (input 0 of dataset '{task.reference}'); an autoencoder "
                             "must return its input's size")
        return SampleSet(images=recon, truth=x, source=x, backbone=task.backbone, model=adapter,
                         codes=Codes(torch.cat(codes).numpy(), adapter.codebook_size) if codes else None,
                         log_likelihood=torch.cat(lls).double().numpy() if lls else None,
                         item_shape=tuple(x.shape[1:]))

    def protocol(self, task: TaskPlan, metric: Metric, layer: str, samples: SampleSet) -> dict[str, Any] | None:
        if task.backbone is None or not metric.requires & {"features", "reference.features"}:
            return None
        assert task.ref is not None
        return make_protocol(task.backbone, layer, task.ref.id, task.state["n"], task.state["n"])

    def row_extras(self, task: TaskPlan, model: str, samples: SampleSet) -> dict[str, Any]:
        c = samples.codes
        return {} if c is None else {"codebook_size": c.size, "codes_per_input": int(np.asarray(c.indices).shape[1])}

    def grid(self, runner: Runner, task: TaskPlan, samples: SampleSet) -> torch.Tensor | None:
        """Inputs and their reconstructions in alternating rows of 8."""
        if samples.source is None or samples.images is None:
            return None
        return paired_grid(samples.source, samples.images, runner.suite.output.grid)
