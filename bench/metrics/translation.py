"""Translation metrics: paired L1/PSNR/SSIM/MS-SSIM/perceptual, cycle-consistency, identity mapping,
conditional diversity and label preservation.

They read images, not features: paired metrics require ``images`` and ``truth`` (ground truth aligned with each
output: a paired translation dataset, or an autoencoder's inputs), so any task kind that provides those can use
them; cycle, identity and diversity require ``translator`` (re-translation through the model, batched with the
task's seeds); label preservation requires the backbone's logits and ``source_labels``. FID and KID of translations
against the target domain are the ordinary ``fid``/``kid`` metrics on features. All per-image computations live in
:mod:`bench.translation.measures`; per-image values go through the artifact sink's one per-sample channel.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import numpy as np
import torch
from pydantic import Field

from bench.backbones.lpips_nets import WEIGHTS_FILES as LPIPS_WEIGHTS
from bench.errors import InputError
from bench.metrics.base import (
    ArtifactSink,
    Metric,
    MetricValue,
    Options,
    OutputInfo,
    Reference,
    SampleSet,
    Translator,
)
from bench.translation import measures

PERCEPTUAL_NAMES = ("lpips", "perceptual_digits")


def _translator(samples: SampleSet) -> Translator:
    if samples.translator is None:
        raise InputError("this metric re-translates through the model: run it in a translation task")
    return samples.translator


def _replayed(samples: SampleSet, value: str, why: str) -> MetricValue | None:
    """An unavailable value for translators that replay files (they hold no translation for other inputs/seeds)."""
    if _translator(samples).replays_files:
        return MetricValue(value, None, extras={"reason": f"model '{samples.name}' replays files: {why}"})
    return None


def _value(name: str, per_image: np.ndarray, sink: ArtifactSink | None, **extras: Any) -> MetricValue:
    if sink is not None:
        sink.per_sample(name, per_image)
    m, lo, hi = measures.summary(per_image)
    return MetricValue(name, m, lo, hi, extras={"n": len(per_image), **extras})


class NetOpts(Options):
    net: Literal["auto", "lpips", "digits"] = Field(
        default="auto", description="perceptual network: lpips (AlexNet, when its weights are present), the "
                                    "digits classifier, or auto (lpips if present, else digits)")


NetOptsT = TypeVar("NetOptsT", bound=NetOpts)


class _Perceptual(Metric[NetOptsT]):
    """Metrics whose distance is LPIPS when its AlexNet weights are present (bench.translation.measures.perceptual),
    generic in their options (``NetOpts`` names the network)."""

    weights_files = LPIPS_WEIGHTS


class _PairedMetric(Metric):
    """Outputs against the ground truth aligned with them: one value per item, which a task computes from each
    batch as it streams (:meth:`item_measures`; no image is held for it) and a caller from Python may instead
    hand over as whole ``images`` and ``truth`` tensors."""

    requires = frozenset({"truth"})

    def _truth(self, samples: SampleSet) -> tuple[torch.Tensor, torch.Tensor]:
        if samples.images is None or samples.truth is None:
            raise InputError(f"metric '{self.name}' needs outputs and their aligned ground truth")
        measures.check_aligned(samples.images, samples.truth, f"model '{samples.name}'", samples.source_names)
        return samples.images, samples.truth

    def _per_item(self, samples: SampleSet, name: str) -> np.ndarray:
        """The per-item values ``name``: streamed by the task, else computed from whole images and truth."""
        if name in samples.item_values:
            return np.asarray(samples.item_values[name])
        return np.asarray(self.item_measures()[name](*self._truth(samples)))


class L1(_PairedMetric):
    name = "l1"
    description = "mean absolute error to the ground truth, pixels scaled to [0, 1]"
    outputs = {"l1": OutputInfo(higher_is_better=False, description=description)}

    def item_measures(self) -> dict[str, Any]:
        return {"l1": measures.l1}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        return [_value("l1", self._per_item(samples, "l1"), sink)]


class PSNR(_PairedMetric):
    name = "psnr"
    description = f"peak signal-to-noise ratio to the ground truth (data range 255), per image capped at {measures.PSNR_CAP:g} dB"
    outputs = {"psnr": OutputInfo(higher_is_better=True, unit="dB", description=description)}

    def item_measures(self) -> dict[str, Any]:
        return {"psnr": measures.psnr}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        return [_value("psnr", self._per_item(samples, "psnr"), sink, cap_db=measures.PSNR_CAP)]


class SSIM(_PairedMetric):
    name = "ssim"
    description = "structural similarity to the ground truth (torchmetrics conventions: Gaussian sigma 1.5, reflect pad)"
    outputs = {"ssim": OutputInfo(higher_is_better=True, description=description)}

    def item_measures(self) -> dict[str, Any]:
        return {"ssim": measures.ssim}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        shape = samples.item_shape or (tuple(samples.images.shape[1:]) if samples.images is not None else None)
        notes: dict[str, Any] = {"sigma": measures.SSIM_SIGMA, "window": 11}
        if shape is not None and min(shape[-2:]) < 11:
            notes["note"] = f"the 11-pixel window exceeds the {shape[-1]}x{shape[-2]} images: values lean on reflected pixels"
        return [_value("ssim", self._per_item(samples, "ssim"), sink, **notes)]


class MSSSIM(_PairedMetric):
    name = "ms_ssim"
    description = "multi-scale SSIM to the ground truth (torchmetrics conventions); needs images of at least 176x176"
    outputs = {"ms_ssim": OutputInfo(higher_is_better=True, description=description)}

    def item_measures(self) -> dict[str, Any]:
        def values(out: torch.Tensor, truth: torch.Tensor) -> np.ndarray:  # NaN: images too small (compute says)
            return np.full(out.shape[0], np.nan) if measures.ms_ssim_unavailable(out) else measures.ms_ssim(out, truth)

        return {"ms_ssim": values}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        shape = samples.item_shape or (tuple(samples.images.shape[1:]) if samples.images is not None else None)
        reason = measures.ms_ssim_unavailable(torch.empty((1, *shape), dtype=torch.uint8)) if shape else None
        if reason:
            return [MetricValue("ms_ssim", None, extras={"reason": reason})]
        return [_value("ms_ssim", self._per_item(samples, "ms_ssim"), sink)]


class PerceptualPaired(_PairedMetric, _Perceptual[NetOpts]):
    name = "lpips"
    description = "perceptual distance to the ground truth: LPIPS-alex when its weights are present, else perceptual_digits"
    outputs = {
        "lpips": OutputInfo(higher_is_better=False, description="LPIPS v0.1 AlexNet (lpips package), 64x64 bilinear input"),
        "perceptual_digits": OutputInfo(higher_is_better=False, description="LPIPS formula, uniform weights, on the digits classifier"),
    }
    Opts = NetOpts

    def item_measures(self) -> dict[str, Any]:
        p = measures.perceptual(self.opts.net)
        return {p.name: p.distance}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        p = measures.perceptual(self.opts.net)
        return [_value(p.name, self._per_item(samples, p.name), sink, **p.protocol)]


class CycleOpts(NetOpts):
    directions: list[Literal["a2b", "b2a"]] = Field(
        default_factory=lambda: ["a2b", "b2a"],  # type: ignore[arg-type]
        description="a2b: x_A vs F(G(x_A)) (values *_aba); b2a: x_B vs G(F(x_B)) (values *_bab)")


def _cycle_outputs() -> dict[str, OutputInfo]:
    out = {}
    for tag, what in (("aba", "A → B → A"), ("bab", "B → A → B")):
        out[f"cycle_l1_{tag}"] = OutputInfo(higher_is_better=False, description=f"L1 between x and its {what} reconstruction")
        for p in PERCEPTUAL_NAMES:
            out[f"cycle_{p}_{tag}"] = OutputInfo(higher_is_better=False, description=f"{p} between x and its {what} reconstruction")
    return out


class Cycle(_Perceptual[CycleOpts]):
    name = "cycle"
    description = "cycle-consistency: L1 and perceptual distance between x and F(G(x)), in each direction"
    outputs = _cycle_outputs()
    Opts = CycleOpts
    requires = frozenset({"translator"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        p = measures.perceptual(o.net)
        t = _translator(samples)
        fns: dict[str, Any] = {"l1": measures.l1, p.name: p.distance}
        identity: dict[str, Any] = {"perceptual": p.protocol}
        values = []
        for d in o.directions:
            tag = "aba" if d == "a2b" else "bab"
            if t.cycle_values is not None:  # streamed by the task: per-item distances, no image held
                got = t.cycle_values(d, fns, identity)
            else:
                x, recon = t.cycle(d)
                measures.check_aligned(recon, x, f"model '{samples.name}' {tag} reconstructions")
                got = {k: f(recon, x) for k, f in fns.items()}
            values.append(_value(f"cycle_l1_{tag}", got["l1"], sink))
            values.append(_value(f"cycle_{p.name}_{tag}", got[p.name], sink, **p.protocol))
        return values


class Identity(Metric):
    name = "identity"
    description = "identity-mapping error: L1 between a target-domain image y and G(y) (G should leave y alone)"
    outputs = {"identity_l1": OutputInfo(higher_is_better=False, description=description)}
    requires = frozenset({"translator"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        skip = _replayed(samples, "identity_l1", "it has no translations of target-domain images")
        if skip:
            return [skip]
        t = _translator(samples)
        if t.identity_values is not None:  # streamed by the task
            return [_value("identity_l1", t.identity_values({"l1": measures.l1}, {})["l1"], sink)]
        y, names = t.other_side(samples.n)
        out = t.translate(y, t.direction, names, "identity")
        measures.check_aligned(out, y, f"model '{samples.name}' identity mapping")
        return [_value("identity_l1", measures.l1(out, y), sink)]


class DiversityOpts(NetOpts):
    inputs: int = Field(default=32, gt=0, description="first inputs to translate several times")
    samples: int = Field(default=4, gt=1, description="translations per input, each with its own seed")


class Diversity(_Perceptual[DiversityOpts]):
    name = "diversity"
    description = "conditional diversity: mean perceptual distance between translations of one input under different seeds"
    outputs = {f"diversity_{p}": OutputInfo(higher_is_better=True, description=f"mean pairwise {p} among outputs for one input")
               for p in PERCEPTUAL_NAMES}
    Opts = DiversityOpts
    requires = frozenset({"translator"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o = self.opts
        p = measures.perceptual(o.net)
        skip = _replayed(samples, f"diversity_{p.name}", "it holds one translation per input, whatever the seed")
        if skip:
            return [skip]
        t = _translator(samples)
        k = min(o.inputs, samples.n)
        if t.inputs is not None:
            x, names = t.inputs(k)
        else:
            assert samples.source is not None and samples.source_names is not None
            x, names = samples.source[:k], samples.source_names[:k]
        outs = [t.translate(x, t.direction, names, f"diversity-{j}") for j in range(o.samples)]
        dists = [p.distance(outs[i], outs[j]) for i in range(o.samples) for j in range(i + 1, o.samples)]
        per_input = np.mean(np.stack(dists), axis=0)
        m, lo, hi = measures.summary(per_input)
        return [MetricValue(f"diversity_{p.name}", m, lo, hi,
                            extras={"inputs": k, "samples": o.samples, **p.protocol})]


class LabelPreservation(Metric):
    name = "label_preservation"
    description = "accuracy of the digits classifier on translations, against the inputs' labels"
    outputs = {"label_preservation": OutputInfo(higher_is_better=True, description=description)}
    layer = "logits"
    requires = frozenset({"features", "source_labels"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        if samples.source_labels is None:
            return [MetricValue("label_preservation", None, extras={"reason": f"dataset '{ref.name}' has no labels"})]
        correct = (np.asarray(samples.x).argmax(1) == np.asarray(samples.source_labels)).astype(np.float64)
        return [_value("label_preservation", correct, sink, backbone_layer=samples.layer)]
