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

from typing import Any, Literal

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


class _Perceptual(Metric):
    """Metrics whose distance is LPIPS when its AlexNet weights are present (bench.translation.measures.perceptual)."""

    weights_files = LPIPS_WEIGHTS


class NetOpts(Options):
    net: Literal["auto", "lpips", "digits"] = Field(
        default="auto", description="perceptual network: lpips (AlexNet, when its weights are present), the "
                                    "digits classifier, or auto (lpips if present, else digits)")


class _PairedMetric(Metric):
    """Outputs against the ground truth aligned with them."""

    requires = frozenset({"images", "truth"})

    def _truth(self, samples: SampleSet) -> tuple[torch.Tensor, torch.Tensor]:
        if samples.images is None or samples.truth is None:
            raise InputError(f"metric '{self.name}' needs outputs and their aligned ground truth")
        measures.check_aligned(samples.images, samples.truth, f"model '{samples.name}'", samples.source_names)
        return samples.images, samples.truth


class L1(_PairedMetric):
    name = "l1"
    description = "mean absolute error to the ground truth, pixels scaled to [0, 1]"
    outputs = {"l1": OutputInfo(higher_is_better=False, description=description)}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        return [_value("l1", measures.l1(*self._truth(samples)), sink)]


class PSNR(_PairedMetric):
    name = "psnr"
    description = f"peak signal-to-noise ratio to the ground truth (data range 255), per image capped at {measures.PSNR_CAP:g} dB"
    outputs = {"psnr": OutputInfo(higher_is_better=True, unit="dB", description=description)}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        return [_value("psnr", measures.psnr(*self._truth(samples)), sink, cap_db=measures.PSNR_CAP)]


class SSIM(_PairedMetric):
    name = "ssim"
    description = "structural similarity to the ground truth (torchmetrics conventions: Gaussian sigma 1.5, reflect pad)"
    outputs = {"ssim": OutputInfo(higher_is_better=True, description=description)}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        out, truth = self._truth(samples)
        notes: dict[str, Any] = {"sigma": measures.SSIM_SIGMA, "window": 11}
        if min(out.shape[-2:]) < 11:
            notes["note"] = f"the 11-pixel window exceeds the {out.shape[-1]}x{out.shape[-2]} images: values lean on reflected pixels"
        return [_value("ssim", measures.ssim(out, truth), sink, **notes)]


class MSSSIM(_PairedMetric):
    name = "ms_ssim"
    description = "multi-scale SSIM to the ground truth (torchmetrics conventions); needs images of at least 176x176"
    outputs = {"ms_ssim": OutputInfo(higher_is_better=True, description=description)}

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        out, truth = self._truth(samples)
        reason = measures.ms_ssim_unavailable(out)
        if reason:
            return [MetricValue("ms_ssim", None, extras={"reason": reason})]
        return [_value("ms_ssim", measures.ms_ssim(out, truth), sink)]


class PerceptualPaired(_PairedMetric, _Perceptual):
    name = "lpips"
    description = "perceptual distance to the ground truth: LPIPS-alex when its weights are present, else perceptual_digits"
    outputs = {
        "lpips": OutputInfo(higher_is_better=False, description="LPIPS v0.1 AlexNet (lpips package), 64x64 bilinear input"),
        "perceptual_digits": OutputInfo(higher_is_better=False, description="LPIPS formula, uniform weights, on the digits classifier"),
    }
    Opts = NetOpts

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        p = measures.perceptual(self.opts.net)  # type: ignore[attr-defined]
        return [_value(p.name, p.distance(*self._truth(samples)), sink, **p.protocol)]


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


class Cycle(_Perceptual):
    name = "cycle"
    description = "cycle-consistency: L1 and perceptual distance between x and F(G(x)), in each direction"
    outputs = _cycle_outputs()
    Opts = CycleOpts
    requires = frozenset({"translator"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o: CycleOpts = self.opts  # type: ignore[assignment]
        p = measures.perceptual(o.net)
        values = []
        for d in o.directions:
            tag = "aba" if d == "a2b" else "bab"
            x, recon = _translator(samples).cycle(d)
            measures.check_aligned(recon, x, f"model '{samples.name}' {tag} reconstructions")
            values.append(_value(f"cycle_l1_{tag}", measures.l1(recon, x), sink))
            values.append(_value(f"cycle_{p.name}_{tag}", p.distance(recon, x), sink, **p.protocol))
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
        y, names = t.other_side(samples.n)
        out = t.translate(y, t.direction, names, "identity")
        measures.check_aligned(out, y, f"model '{samples.name}' identity mapping")
        return [_value("identity_l1", measures.l1(out, y), sink)]


class DiversityOpts(NetOpts):
    inputs: int = Field(default=32, gt=0, description="first inputs to translate several times")
    samples: int = Field(default=4, gt=1, description="translations per input, each with its own seed")


class Diversity(_Perceptual):
    name = "diversity"
    description = "conditional diversity: mean perceptual distance between translations of one input under different seeds"
    outputs = {f"diversity_{p}": OutputInfo(higher_is_better=True, description=f"mean pairwise {p} among outputs for one input")
               for p in PERCEPTUAL_NAMES}
    Opts = DiversityOpts
    requires = frozenset({"translator"})

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int = 0, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        o: DiversityOpts = self.opts  # type: ignore[assignment]
        p = measures.perceptual(o.net)
        skip = _replayed(samples, f"diversity_{p.name}", "it holds one translation per input, whatever the seed")
        if skip:
            return [skip]
        t = _translator(samples)
        assert samples.source is not None and samples.source_names is not None
        k = min(o.inputs, samples.n)
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
