"""GAN Dissection as a task kind: which units of a generator layer draw which concepts, and what ablating or
inserting them does (Bau et al., ICLR 2019; docs/dissection.md says how every number is computed).

The generator runs through its own adapter (``python``, ``zoo``, ``shapes-gan``: anything whose torch module can be
hooked) on the task's ``n`` per-sample seeds; forward hooks on the module named by ``args.layer`` read and edit
its units (bench.dissection.hooks), the segmenter gives each generated image its concept masks, and
bench.dissection.study does the measuring. Besides the rows, each model leaves ``dissection/<task>/<model>/`` in
the run folder (bench.dissection.outputs): the unit × concept CSV, the ablation curves and before/after grids.

The task's ``backbone`` and ``reference`` give one more number under each ablation: the FID of the edited samples
against the reference (``fid_change@<concept>``), the quality cost of removing a concept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from bench.adapters import GenerationRequest
from bench.metrics.base import MetricValue, Options, OutputInfo, Reference
from bench.progress import announce
from bench.seeding import derive_seed
from bench.tasks.base import MeasurementKind, TaskPlan, dataset_features, sample_grid, value_info
from bench.tasks.production import Producer, produce_all

if TYPE_CHECKING:
    from bench.dissection.study import EditFor, StudyResult
    from bench.results import Row
    from bench.suite import TaskSpec
    from bench.tasks.context import RunContext


class DissectionArgs(Options):
    layer: str | None = Field(default=None, description="the generator module whose output units are dissected (a "
                              "name from the torch module's named_modules(), e.g. layer1); required")
    quantile: float = Field(default=0.005, gt=0, lt=1, description=(
        "a unit's threshold is the level its activations exceed with this probability (top 0.5%)"))
    iou_threshold: float = Field(default=0.05, ge=0, le=1, description="a unit is interpretable above this IoU")
    top_k: int = Field(default=4, ge=1, description="units per concept ablated (concept_drop) and inserted (concept_gain)")
    curve: list[int] = Field(default_factory=lambda: [1, 2, 4, 8, 16], min_length=1, description=(
        "unit counts k of the ablation curves (k best units vs k random units)"))
    random_sets: int = Field(default=3, ge=1, description="random unit sets per k (the baseline; seeded)")
    insert_size: int = Field(default=2, ge=1, description="side of the square window, in layer locations, where "
                             "units are inserted")
    bootstrap: int = Field(default=200, ge=0, description="bootstrap resamples of the samples for every interval")
    confidence: float = Field(default=0.95, gt=0, lt=1)
    best_units: int = Field(default=3, ge=1, description="best units listed per concept")
    grid: int = Field(default=8, ge=1, description="samples in each before/after grid")
    segmenter: Literal["shapes"] = Field(default="shapes", description=(
        "concept masks of the generated images: 'shapes' (colours and shapes, bench/assets/shapes/segmenter.pt)"))
    fid: bool = Field(default=True, description="FID of the unedited and each concept's ablated samples against "
                      "the reference, on the task's backbone")

    @model_validator(mode="after")
    def _positive_curve(self) -> DissectionArgs:
        if any(k < 1 for k in self.curve):
            raise ValueError("curve: unit counts must be at least 1")
        return self


def _protocol(task: TaskPlan, a: DissectionArgs, segmenter: Any) -> dict[str, Any]:
    assert task.ref is not None
    proto: dict[str, Any] = {"kind": "dissection", "layer": a.layer, "segmenter": segmenter.name,
                             "segmenter_sha256": segmenter.sha256, "quantile": a.quantile,
                             "iou_threshold": a.iou_threshold, "top_k": a.top_k, "random_sets": a.random_sets,
                             "insert_size": a.insert_size, "n": task.n}
    if a.fid and task.backbone is not None:
        d = task.backbone.describe()
        proto.update(backbone=d["backbone"], weights_sha256=d["weights_sha256"], reference=task.ref.id)
    return proto


class DissectionTask(MeasurementKind[DissectionArgs]):
    """Dissect one layer of each generator; rows per concept (docs/dissection.md)."""

    name = "dissection"
    adapter_kinds = frozenset({"image-generator"})
    provides = frozenset({"units"})
    needs_backbone = True  # the FID of the unedited and ablated samples (args.fid)
    outputs: ClassVar[dict[str, OutputInfo]] = {
        "interpretable_units": OutputInfo(higher_is_better=True, unit="units", description=(
            "units whose best concept IoU exceeds iou_threshold")),
        "interpretable_fraction": OutputInfo(higher_is_better=True, description="interpretable units / layer units"),
        "best_iou": OutputInfo(higher_is_better=True, description=(
            "best_iou@<concept>: the IoU of the concept's best unit (extras: its best units and their IoU)")),
        "concept_fraction": OutputInfo(higher_is_better=True, ranked=False, description=(
            "concept_fraction@<concept>: the fraction of generated pixels the segmenter gives the concept")),
        "concept_drop": OutputInfo(higher_is_better=True, description=(
            "concept_drop@<concept>: relative drop of the concept's pixels after ablating its top_k units")),
        "random_drop": OutputInfo(higher_is_better=False, ranked=False, description=(
            "random_drop@<concept>: the same for top_k random units of the layer (the baseline)")),
        "concept_gain": OutputInfo(higher_is_better=True, description=(
            "concept_gain@<concept>: increase of the concept's share of an inserted window when its top_k units "
            "are set high there")),
        "random_gain": OutputInfo(higher_is_better=False, ranked=False, description=(
            "random_gain@<concept>: the same for top_k random units (the baseline)")),
        "fid_change": OutputInfo(higher_is_better=False, ranked=False, description=(
            "fid_change@<concept>: FID of the ablated samples minus FID of the unedited ones (task backbone and "
            "reference)")),
        "fid_unedited": OutputInfo(higher_is_better=False, description="FID of the unedited samples"),
        "mean_concept_drop": OutputInfo(higher_is_better=True, description="concept_drop averaged over the concepts "
                                        "present"),
        "mean_random_drop": OutputInfo(higher_is_better=False, ranked=False, description="random_drop averaged over "
                                       "the concepts present"),
        "removable_concepts": OutputInfo(higher_is_better=True, unit="concepts", description=(
            "concepts whose top_k units remove at least half of them, at least 3x what as many random units remove")),
    }
    Args = DissectionArgs

    def check(self, spec: TaskSpec) -> list[tuple[tuple[Any, ...], str]]:
        if not spec.args.get("layer"):
            return [(("args",), "a dissection task needs args.layer: the name of the generator module to dissect "
                               "(e.g. layer1 of the shapes GAN)")]
        return []

    def check_model(self, args: Options, adapter_cls: Any, adapter_args: Any) -> str | None:
        if adapter_cls.data_only:
            return "replays images made elsewhere: dissection runs the generator itself (its layers are hooked)"
        if adapter_cls.__name__ in ("TorchScriptGenerator", "OnnxGenerator", "ExportGenerator"):
            return ("is a compiled graph (TorchScript, ONNX or torch.export): its layers run without Python forward "
                    "hooks; load the eager torch module with the 'python' adapter to dissect it")
        return None

    def load_reference(self, ctx: RunContext, task: TaskPlan) -> Reference:
        a = self.args(task)
        ref = ctx.dataset(task.reference)
        feats = None
        if a.fid and task.backbone is not None:
            feats = dataset_features(ctx, task, ref, f"[{task.reference}]")
        return Reference(task.reference, ref.id, features=feats)

    def measure(self, ctx: RunContext, task: TaskPlan, model: str) -> list[Row]:
        """Dissection is this kind's whole job: no produce-then-metrics loop."""
        import time

        from bench.dissection import outputs
        from bench.dissection.hooks import capture, edited, find_layer, torch_module
        from bench.dissection.segmenters import SEGMENTERS
        from bench.dissection.study import StudyConfig, run_study

        assert task.n is not None and task.ref is not None
        a = self.args(task)
        assert a.layer is not None, "validate refuses a dissection task without args.layer"
        layer_name = a.layer
        t0 = time.time()
        adapter = self.build(ctx, model)
        module = torch_module(adapter, model)
        layer = find_layer(module, layer_name, model)
        segmenter = SEGMENTERS[a.segmenter]()
        seed = ctx.model_seed(model)

        def generate(edit_for: EditFor | None, into: list[torch.Tensor] | None) -> torch.Tensor:
            def call(idx: range, seeds: list[int], cond: Any) -> Any:
                edit = edit_for(idx) if edit_for is not None else None
                with torch.no_grad(), edited(layer, layer_name, edit):
                    request = GenerationRequest(indices=idx, seeds=seeds, device=str(adapter.device))
                    if into is None:
                        return adapter.generate(request)  # type: ignore[attr-defined]
                    with capture(layer, layer_name, into):
                        return adapter.generate(request)  # type: ignore[attr-defined]
            return produce_all(ctx, task, model, Producer(count=task.n or 0, call=call, seed=seed))

        cfg = StudyConfig(quantile=a.quantile, iou_threshold=a.iou_threshold, top_k=a.top_k, curve=tuple(a.curve),
                          random_sets=a.random_sets, insert_size=a.insert_size, bootstrap=a.bootstrap,
                          confidence=a.confidence, best_units=a.best_units,
                          seed=derive_seed(ctx.seed, task.name, ctx.seed_name(model), "dissection"))
        with announce(f"[{task.name}] {model}: dissecting layer '{layer_name}' (n={task.n})", enabled=ctx.progress):
            result = run_study(generate, segmenter, cfg)
        seconds = time.time() - t0
        fids = self._fids(task, result) if a.fid and task.backbone is not None else {}
        if fids.get("") is not None and task.backbone is not None:
            shape = tuple(result.images.shape[1:])
            if (why := task.backbone.domain_problem(shape)) is not None:
                fids["warning"] = why
        common: dict[str, Any] = {"generation_seconds": round(seconds, 3), "layer": layer_name}
        if ctx.artifacts_dir is not None:  # the unit tables, curves and grids go to the run folder
            path = outputs.write(result, ctx.artifacts_dir, task.name, model, layer=layer_name, grid=a.grid,
                                 extra={"fid": {k: v for k, v in fids.items()}, "model": model, "task": task.name})
            common["dissection_folder"] = str(path.relative_to(ctx.artifacts_dir))
        if ctx.grid:
            ctx.sink(task.name, model).image("", sample_grid(result.images, ctx.grid))
        values = self._values(result, fids)
        proto = _protocol(task, a, segmenter)
        return [ctx.row(task, model, v, info=value_info(v.metric), seconds=0.0, protocol=proto, n=task.n,
                                extras={**v.extras, **common}) for v in values]

    @staticmethod
    def _fids(task: TaskPlan, result: StudyResult) -> dict[str, Any]:
        """FID of the unedited samples (key ``""``) and of each concept's ablated samples, on the task's backbone."""
        from bench.metrics.frechet import frechet_distance, gaussian_stats

        assert task.backbone is not None and task.ref is not None and task.ref.features is not None
        layer = task.backbone.default_layer
        ref = gaussian_stats(task.ref.features[layer])

        def fid(images: torch.Tensor) -> float:
            g = gaussian_stats(task.backbone.extract(images)[layer])  # type: ignore[union-attr]
            return float(frechet_distance(g.mu, g.sigma, ref.mu, ref.sigma).value)

        out: dict[str, Any] = {"": fid(result.images)}
        for name, res in result.per_concept.items():
            if res.ablated is not None:
                out[name] = fid(res.ablated)
        return out

    @staticmethod
    def _values(result: StudyResult, fids: dict[str, Any]) -> list[MetricValue]:
        cfg = result.config
        interp = result.interpretable
        best = result.best_concept()
        by_concept: dict[str, list[int]] = {}
        for u in range(result.units):
            if interp[u]:
                by_concept.setdefault(best[u][0], []).append(u)
        vals = [MetricValue("interpretable_units", float(interp.sum()), extras={
                    "units": result.units, "iou_threshold": cfg.iou_threshold, "quantile": cfg.quantile,
                    "by_concept": {c: len(u) for c, u in sorted(by_concept.items())}}),
                MetricValue("interpretable_fraction", float(interp.float().mean()))]
        if "" in fids:
            vals.append(MetricValue("fid_unedited", fids[""], extras={"warning": fids["warning"]} if "warning" in fids
                                    else {}))
        for name, res in result.per_concept.items():
            vals.append(MetricValue(f"concept_fraction@{name}", res.fraction))
            vals.append(MetricValue(f"best_iou@{name}", res.best_units[0][1] if res.best_units else None, extras={
                "best_units": [{"unit": u, "iou": round(v, 6)} for u, v in res.best_units]}))
            if res.drop is None:
                why = {"reason": f"the segmenter finds no '{name}' pixel in the unedited samples"}
                vals += [MetricValue(f"{m}@{name}", None, extras=why)
                         for m in ("concept_drop", "random_drop", "concept_gain", "random_gain")]
                continue
            assert res.random_drop is not None and res.gain is not None and res.random_gain is not None
            k = cfg.top_k if cfg.top_k <= result.units else result.units
            curve = {"targeted": {str(kk): round(v, 6) for kk, v in sorted(res.curve.items())},
                     "random": {str(kk): round(result.random_curve[kk][name], 6) for kk in sorted(res.curve)}}
            vals.append(MetricValue(f"concept_drop@{name}", res.drop.value, res.drop.ci_low, res.drop.ci_high,
                                    extras={"k": k, "units": res.top_units, "curve": curve, **res.drop.extras}))
            vals.append(MetricValue(f"random_drop@{name}", res.random_drop.value, res.random_drop.ci_low,
                                    res.random_drop.ci_high, extras={"k": k, "random_sets": result.random_units.get(k),
                                                                     **res.random_drop.extras}))
            vals.append(MetricValue(f"concept_gain@{name}", res.gain.value, res.gain.ci_low, res.gain.ci_high,
                                    extras={"k": k, "units": res.top_units, **res.gain.extras}))
            vals.append(MetricValue(f"random_gain@{name}", res.random_gain.value, res.random_gain.ci_low,
                                    res.random_gain.ci_high, extras={"k": k, **res.random_gain.extras}))
            if name in fids and "" in fids:
                vals.append(MetricValue(f"fid_change@{name}", fids[name] - fids[""],
                                        extras={"fid_ablated": fids[name], "fid_unedited": fids[""], "k": k}))
        # the summary the table shows (variants ``name@concept`` stay in the rows, CSV and report)
        present = [res for res in result.per_concept.values() if res.drop is not None and res.random_drop is not None]
        if present:
            removable = [res.name for res in present if res.drop.value >= 0.5  # type: ignore[union-attr]
                         and res.drop.value >= 3 * max(res.random_drop.value, 0.0)]  # type: ignore[union-attr]
            vals += [MetricValue("mean_concept_drop", float(np.mean([r.drop.value for r in present])),  # type: ignore[union-attr]
                                 extras={"concepts": [r.name for r in present], "k": cfg.top_k}),
                     MetricValue("mean_random_drop", float(np.mean([r.random_drop.value for r in present])),  # type: ignore[union-attr]
                                 extras={"concepts": [r.name for r in present], "k": cfg.top_k}),
                     MetricValue("removable_concepts", float(len(removable)), extras={
                         "concepts": removable, "rule": "concept_drop >= 0.5 and >= 3 x random_drop"})]
        return [v if v.value is None or np.isfinite(v.value) else
                MetricValue(v.metric, None, extras={**v.extras, "reason": "not finite"}) for v in vals]
