"""Translation metrics: paired L1/PSNR/SSIM/MS-SSIM/perceptual, cycle-consistency, identity mapping,
conditional diversity and label preservation.

They share the :class:`Metric` interface (``outputs`` metadata drives tables and gates) but read images, not
features: the ``translation`` task kind passes a :class:`TranslationContext` that gives them the inputs, the
ground truth (paired datasets), the translations (computed once, lazily) and the adapter for the extra passes
cycle-consistency and diversity need. FID and KID of translations against the target domain are the ordinary
``fid``/``kid`` metrics on features. All per-image computations live in :mod:`bench.translation.measures`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.features import Features
from bench.metrics.base import Metric, MetricContext, MetricValue, Options, OutputInfo
from bench.translation import measures

if TYPE_CHECKING:
    from bench.translation.data import DomainPair

TASK_KINDS = frozenset({"translation"})
PERCEPTUAL_NAMES = ("lpips", "perceptual_digits")


@dataclass
class TranslationContext(MetricContext):
    """What translation metrics read. ``images`` (from MetricContext) holds the translations of ``source``."""

    dataset: DomainPair | None = None
    direction: str = "a2b"
    source: torch.Tensor | None = None  # the n inputs
    source_names: list[str] = field(default_factory=list)
    source_labels: torch.Tensor | None = None
    truth: torch.Tensor | None = None  # ground truth aligned with source (paired datasets), else None
    n: int = 0
    translate: Any = None  # (images, direction, names, seed_tag) -> uint8 translations (batched, per-sample seeds)
    cycle: Any = None  # (side "a"|"b", n) -> (inputs, reconstructions)
    per_image: dict[str, np.ndarray] = field(default_factory=dict)  # value name -> per-input values (saved as CSV)


def _replayed(ctx: TranslationContext, value: str, why: str) -> MetricValue | None:
    """An unavailable value for translators that replay files (they hold no translation for other inputs/seeds)."""
    if getattr(ctx.adapter, "replays_files", False):
        return MetricValue(value, None, extras={"reason": f"model '{ctx.model}' replays files: {why}"})
    return None


def _ctx(ctx: MetricContext | None) -> TranslationContext:
    if not isinstance(ctx, TranslationContext):
        raise ConfigError("translation metrics run inside a translation task")
    return ctx


def _value(name: str, per_image: np.ndarray, ctx: TranslationContext, **extras: Any) -> MetricValue:
    ctx.per_image[name] = per_image
    m, lo, hi = measures.summary(per_image)
    return MetricValue(name, m, lo, hi, extras={"per_image": "per_image/<task>/<model>.csv", "n": len(per_image), **extras})


class NetOpts(Options):
    net: Literal["auto", "lpips", "digits"] = Field(
        default="auto", description="perceptual network: lpips (AlexNet, when its weights are present), the "
                                    "digits classifier, or auto (lpips if present, else digits)")


class TranslationMetric(Metric):
    """Base: reads the :class:`TranslationContext`; ``paired`` metrics need a paired dataset."""

    task_kinds = TASK_KINDS
    needs_reference = False
    #: needs ground truth aligned with the inputs
    paired: ClassVar[bool] = False
    #: needs the translations of the inputs (the task then requires the model to have the task's direction)
    needs_outputs: ClassVar[bool] = True


class _PairedMetric(TranslationMetric):
    paired = True

    def _truth(self, ctx: TranslationContext) -> tuple[torch.Tensor, torch.Tensor]:
        assert ctx.truth is not None and ctx.images is not None
        measures.check_aligned(ctx.images, ctx.truth, f"model '{ctx.model}'", ctx.source_names)
        return ctx.images, ctx.truth


class L1(_PairedMetric):
    name = "l1"
    description = "mean absolute error to the ground truth, pixels scaled to [0, 1]"
    outputs = {"l1": OutputInfo(higher_is_better=False, description=description)}

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        return [_value("l1", measures.l1(*self._truth(c)), c)]


class PSNR(_PairedMetric):
    name = "psnr"
    description = f"peak signal-to-noise ratio to the ground truth (data range 255), per image capped at {measures.PSNR_CAP:g} dB"
    outputs = {"psnr": OutputInfo(higher_is_better=True, unit="dB", description=description)}

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        return [_value("psnr", measures.psnr(*self._truth(c)), c, cap_db=measures.PSNR_CAP)]


class SSIM(_PairedMetric):
    name = "ssim"
    description = "structural similarity to the ground truth (torchmetrics conventions: Gaussian sigma 1.5, reflect pad)"
    outputs = {"ssim": OutputInfo(higher_is_better=True, description=description)}

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        out, truth = self._truth(c)
        notes: dict[str, Any] = {"sigma": measures.SSIM_SIGMA, "window": 11}
        if min(out.shape[-2:]) < 11:
            notes["note"] = f"the 11-pixel window exceeds the {out.shape[-1]}x{out.shape[-2]} images: values lean on reflected pixels"
        return [_value("ssim", measures.ssim(out, truth), c, **notes)]


class MSSSIM(_PairedMetric):
    name = "ms_ssim"
    description = "multi-scale SSIM to the ground truth (torchmetrics conventions); needs images of at least 176x176"
    outputs = {"ms_ssim": OutputInfo(higher_is_better=True, description=description)}

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        out, truth = self._truth(c)
        reason = measures.ms_ssim_unavailable(out)
        if reason:
            return [MetricValue("ms_ssim", None, extras={"reason": reason})]
        return [_value("ms_ssim", measures.ms_ssim(out, truth), c)]


class PerceptualPaired(_PairedMetric):
    name = "lpips"
    description = "perceptual distance to the ground truth: LPIPS-alex when its weights are present, else perceptual_digits"
    outputs = {
        "lpips": OutputInfo(higher_is_better=False, description="LPIPS v0.1 AlexNet (lpips package), 64x64 bilinear input"),
        "perceptual_digits": OutputInfo(higher_is_better=False, description="LPIPS formula, uniform weights, on the digits classifier"),
    }
    Opts = NetOpts

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        p = measures.perceptual(self.opts.net)  # type: ignore[attr-defined]
        return [_value(p.name, p.distance(*self._truth(c)), c, **p.protocol)]


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


class Cycle(TranslationMetric):
    name = "cycle"
    description = "cycle-consistency: L1 and perceptual distance between x and F(G(x)), in each direction"
    outputs = _cycle_outputs()
    Opts = CycleOpts
    needs_outputs = False

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        o: CycleOpts = self.opts  # type: ignore[assignment]
        p = measures.perceptual(o.net)
        values = []
        for d in o.directions:
            tag = "aba" if d == "a2b" else "bab"
            x, recon = c.cycle(d)
            measures.check_aligned(recon, x, f"model '{c.model}' {tag} reconstructions")
            values.append(_value(f"cycle_l1_{tag}", measures.l1(recon, x), c))
            values.append(_value(f"cycle_{p.name}_{tag}", p.distance(recon, x), c, **p.protocol))
        return values


class Identity(TranslationMetric):
    name = "identity"
    description = "identity-mapping error: L1 between a target-domain image y and G(y) (G should leave y alone)"
    outputs = {"identity_l1": OutputInfo(higher_is_better=False, description=description)}
    needs_outputs = False

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        skip = _replayed(c, "identity_l1", "it has no translations of target-domain images")
        if skip:
            return [skip]
        assert c.dataset is not None
        y, _, names = c.dataset.domain("b" if c.direction == "a2b" else "a")
        y, names = y[: c.n], names[: c.n]
        out = c.translate(y, c.direction, names, "identity")
        measures.check_aligned(out, y, f"model '{c.model}' identity mapping")
        return [_value("identity_l1", measures.l1(out, y), c)]


class DiversityOpts(NetOpts):
    inputs: int = Field(default=32, gt=0, description="first inputs to translate several times")
    samples: int = Field(default=4, gt=1, description="translations per input, each with its own seed")


class Diversity(TranslationMetric):
    name = "diversity"
    description = "conditional diversity: mean perceptual distance between translations of one input under different seeds"
    outputs = {f"diversity_{p}": OutputInfo(higher_is_better=True, description=f"mean pairwise {p} among outputs for one input")
               for p in PERCEPTUAL_NAMES}
    Opts = DiversityOpts
    needs_outputs = False

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        o: DiversityOpts = self.opts  # type: ignore[assignment]
        p = measures.perceptual(o.net)
        skip = _replayed(c, f"diversity_{p.name}", "it holds one translation per input, whatever the seed")
        if skip:
            return [skip]
        assert c.source is not None
        k = min(o.inputs, c.n)
        x, names = c.source[:k], c.source_names[:k]
        outs = [c.translate(x, c.direction, names, f"diversity-{j}") for j in range(o.samples)]
        dists = [p.distance(outs[i], outs[j]) for i in range(o.samples) for j in range(i + 1, o.samples)]
        per_input = np.mean(np.stack(dists), axis=0)
        m, lo, hi = measures.summary(per_input)
        return [MetricValue(f"diversity_{p.name}", m, lo, hi,
                            extras={"inputs": k, "samples": o.samples, **p.protocol})]


class LabelPreservation(TranslationMetric):
    name = "label_preservation"
    description = "accuracy of the digits classifier on translations, against the inputs' labels"
    outputs = {"label_preservation": OutputInfo(higher_is_better=True, description=description)}
    layer_kind = "logits"

    def compute(self, gen: Features | None, ref: Features | None, *, layer: str = "", seed: int = 0,
                ctx: MetricContext | None = None) -> list[MetricValue]:
        c = _ctx(ctx)
        if c.source_labels is None:
            return [MetricValue("label_preservation", None, extras={"reason": f"dataset '{c.task.reference}' has no labels"})]
        if gen is None or layer not in gen:
            raise InputError("label_preservation needs the backbone's logits of the translations")
        correct = (np.asarray(gen[layer]).argmax(1) == c.source_labels.numpy()).astype(np.float64)
        return [_value("label_preservation", correct, c, backbone_layer=layer)]


def require_paired(metric: Metric, dataset: DomainPair) -> None:
    if getattr(metric, "paired", False) and not dataset.paired:
        raise ConfigError(f"metric '{metric.name}' compares with ground truth; dataset '{dataset.name}' is unpaired "
                          "(use paired-folder or digits-edges, or drop the metric)")
