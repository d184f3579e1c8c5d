"""From a validated suite to an executable plan, checking every name and option before anything runs.

Problems are collected (not raised one at a time) and reported together as ``file:line: field.path: problem``:
unknown adapters, metrics, backbones and datasets with did-you-mean, invalid adapter arguments and metric
options, adapter × task-kind mismatches, metrics whose inputs the task kind does not provide (``requires`` vs
``provides``), backbones that lack a layer a metric names, and missing weights files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from pydantic import ValidationError

from bench.adapters import ADAPTERS
from bench.backbones import BACKBONES, Backbone, get_backbone, is_backbone
from bench.data.base import DatasetKind, no_images_line
from bench.errors import ConfigError, GenbenchError, ProtocolMismatchError, did_you_mean
from bench.metrics import METRICS, Metric
from bench.metrics.base import INPUTS
from bench.protocol import PRESETS, get_preset
from bench.runtime import resolve_device
from bench.suite import LoadedSuite, format_validation_errors
from bench.tasks import TASKS, TaskKind, TaskPlan
from bench.tasks.base import MeasurementKind


@dataclass
class Plan:
    loaded: LoadedSuite
    tasks: list[TaskPlan] = field(default_factory=list)
    #: where backbones and models compute (suite runtime.device, or --device)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backbones: dict[str, Backbone] = field(default_factory=dict)
    #: each dataset's kind and validated arguments
    datasets: dict[str, tuple[DatasetKind, Any]] = field(default_factory=dict)


def check_suite(loaded: LoadedSuite, *, check_weights: bool = True, device: str | None = None,
                check_files: bool = True) -> Plan:
    """The executable plan of a suite; ``device`` (``--device``) overrides the suite's ``runtime.device``.
    ``check_files=False`` leaves missing model files to the caller (``run --dry-run`` lists them as [MISSING])."""
    s = loaded.suite
    problems: list[str] = []
    try:
        plan = Plan(loaded, device=resolve_device(device or s.runtime.device))
    except ConfigError as exc:
        raise ConfigError(f"{loaded.where('runtime', 'device') if device is None else '--device'}: {exc}") from None

    def problem(path: tuple[Any, ...], msg: str) -> None:
        problems.append(f"{loaded.where(*path)}: {msg}")

    from bench.data import DATASETS

    stats_protocols: dict[str, dict[str, Any]] = {}  # statistics-only datasets: their recorded protocol
    mismatches: list[str] = []

    for dname, d in s.datasets.items():
        if d.kind in DATASETS:
            DATASETS.canonical(d.kind, loaded.where("datasets", dname, "kind"))
        if d.kind not in DATASETS:
            problem(("datasets", dname, "kind"), f"unknown dataset kind '{d.kind}'{did_you_mean(d.kind, DATASETS.names())}")
            continue
        dkind = DATASETS.get(d.kind)()
        try:
            dargs = dkind.Args.model_validate(d.args)
        except ValidationError as exc:
            problems.extend(format_validation_errors(exc, dkind.Args, str(loaded.path), loaded.lines, ("datasets", dname)))
            continue
        for path, msg in dkind.check(dargs, loaded.resolve_path):
            problem(("datasets", dname, *path), msg)
        plan.datasets[dname] = (dkind, dargs)
        try:
            proto = dkind.statistics_protocol(dargs, loaded.resolve_path)
        except ProtocolMismatchError as exc:
            mismatches.append(f"{loaded.where('datasets', dname)}: {exc}")
        except GenbenchError as exc:
            problem(("datasets", dname), str(exc))
        else:
            if proto is not None:
                stats_protocols[dname] = proto

    for mname, m in s.models.items():
        if m.adapter not in ADAPTERS:
            problem(("models", mname, "adapter"), f"unknown adapter '{m.adapter}'{did_you_mean(m.adapter, ADAPTERS.names())}")
            continue
        cls = ADAPTERS.get(ADAPTERS.canonical(m.adapter, loaded.where("models", mname, "adapter")))
        try:
            parsed = cls.Args.model_validate(m.args)
        except ValidationError as exc:
            problems.extend(format_validation_errors(exc, cls.Args, str(loaded.path), loaded.lines, ("models", mname, "args")))
            continue
        except ConfigError as exc:  # an argument validator that looks a name up (e.g. a zoo model)
            problem(("models", mname, "args"), str(exc))
            continue
        for path, msg in cls.check_args(parsed, loaded.resolve_path) if check_files else ():
            problem(("models", mname, "args", *path), msg)
        ds = getattr(parsed, "dataset", None)
        if ds is not None and ds not in s.datasets:  # any adapter whose arguments name a suite dataset
            problem(("models", mname, "args", "dataset"), f"unknown dataset '{ds}'{did_you_mean(str(ds), s.datasets)}")

    def backbone_for(name: str, weights: str | None, inference: str, where: tuple[Any, ...],
                     inference_where: tuple[Any, ...]) -> Backbone | None:
        """The plan's one instance of backbone ``name`` (shared by every task and metric that names it)."""
        if not is_backbone(name):
            problem(where, f"unknown backbone '{name}'{did_you_mean(name, BACKBONES.names())}")
            return None
        bkey = (name if weights is None else f"{name}@{weights}") + ("" if inference == "exact" else f"[{inference}]")
        if bkey not in plan.backbones:
            try:
                plan.backbones[bkey] = get_backbone(name, weights=str(loaded.resolve_path(weights)) if weights else None,
                                                    inference=inference, device=str(plan.device))
            except GenbenchError as exc:
                problem(inference_where if "inference" in str(exc) else where, str(exc))
                return None
        return plan.backbones[bkey]

    for ti, t in enumerate(s.tasks):
        base = ("tasks", ti)
        if t.kind not in TASKS:
            problem((*base, "kind"), f"unknown task kind '{t.kind}'{did_you_mean(t.kind, TASKS.names())}")
            continue
        kind: TaskKind = TASKS.get(TASKS.canonical(t.kind, loaded.where(*base, "kind")))()
        try:
            task_args = kind.Args.model_validate(t.args)
        except ValidationError as exc:
            problems.extend(format_validation_errors(exc, kind.Args, str(loaded.path), loaded.lines, (*base, "args")))
            continue
        for path, msg in kind.check(t):
            problem((*base, *path), msg)
        measurement = isinstance(kind, MeasurementKind)
        if not measurement and not t.metrics:
            problem((*base, "metrics"), f"a {t.kind} task needs at least one metric (genbench ls metrics)")
        if kind.needs_n and t.n is None:
            problem((*base, "n"), f"a {t.kind} task needs 'n' (the number of samples)")
        if t.reference not in s.datasets:
            problem((*base, "reference"), f"unknown dataset '{t.reference}'{did_you_mean(t.reference, s.datasets)}")
        models = t.models if t.models is not None else [
            m for m in s.models if _adapter_kind(s.models[m].adapter) in kind.adapter_kinds
            and _model_misfit(kind, task_args, s.models[m]) is None]
        if not models:
            none_fit = "" if t.models is not None else " (none of the suite's models fits it: " + "; ".join(
                f"'{m}' {_model_misfit(kind, task_args, s.models[m]) or 'is a ' + str(_adapter_kind(s.models[m].adapter))}"
                for m in s.models) + ")"
            problem((*base, "models") if t.models is not None else base,
                    f"task '{t.name}' has no model to evaluate{none_fit}")
        for mi, mname in enumerate(models):
            if mname not in s.models:
                problem((*base, "models", mi), f"unknown model '{mname}'{did_you_mean(mname, s.models)}")
            elif s.models[mname].adapter in ADAPTERS:
                akind = ADAPTERS.get(s.models[mname].adapter).kind
                if akind not in kind.adapter_kinds:
                    problem((*base, "models", mi), f"model '{mname}' is a {akind}; a {t.kind} task needs {sorted(kind.adapter_kinds)}")
                elif (why := _model_misfit(kind, task_args, s.models[mname])) is not None:
                    problem((*base, "models", mi), f"model '{mname}' {why}")
        bname = t.backbone
        if kind.needs_backbone and t.protocol is not None:
            try:
                bname = get_preset(t.protocol).backbone
            except GenbenchError as exc:
                problem((*base, "protocol"), str(exc))
                continue
            if "backbone" in t.model_fields_set and t.backbone != bname:
                problem((*base, "backbone"), f"backbone '{t.backbone}' contradicts protocol '{t.protocol}' (backbone '{bname}')")
                continue

        backbone = backbone_for(bname, t.weights, t.inference, (*base, "backbone"), (*base, "inference")) \
            if kind.needs_backbone else None
        if kind.needs_backbone and backbone is None:
            continue
        ref_proto = stats_protocols.get(t.reference)
        if ref_proto is not None and kind.needs_backbone and ref_proto.get("backbone") not in (None, bname):
            mismatches.append(f"{loaded.where(*base, 'reference')}: reference '{t.reference}' holds statistics made under "
                              f"protocol '{ref_proto.get('name')}' (backbone {ref_proto.get('backbone')}); this task uses "
                              f"backbone '{bname}'")
        # metrics by the backbone they read: the task's, or their own ``backbone:`` option (one part per backbone)
        parts: dict[int, tuple[Backbone | None, str, dict[str, Metric]]] = {id(backbone): (backbone, bname, {})}
        for mname, opts in t.metrics.items():
            if measurement and mname == kind.name:
                continue  # the old way to name a measurement kind's own values (metrics: [perf]): nothing to add
            if mname not in METRICS:
                problem((*base, "metrics", mname), f"unknown metric '{mname}'{did_you_mean(mname, METRICS.names())}")
                continue
            current = METRICS.canonical(mname, loaded.where(*base, "metrics", mname))
            cls_m = METRICS.get(current)
            missing = sorted(cls_m.requires - kind.provided(task_args))
            if missing:
                problem((*base, "metrics", mname), f"metric '{mname}' needs "
                        + "; ".join(f"{m} ({INPUTS.get(m, 'undeclared input')})" for m in missing)
                        + f", which this {t.kind} task does not provide (it provides "
                        f"{', '.join(sorted(kind.provided(task_args))) or 'nothing a metric reads'})")
                continue
            opts = dict(opts)
            if t.protocol is not None and t.protocol in PRESETS:  # the tool's conventions; the suite's options win
                opts = {**PRESETS[t.protocol].defaults_for(current), **opts}
            if cls_m.own_backbone is not None and "backbone" not in opts and cls_m.own_backbone != bname:
                opts["backbone"] = cls_m.own_backbone  # a metric defined on its own network (prc_vgg16)
            m_bname, m_backbone = bname, backbone
            if "weights" in opts and "backbone" not in opts:
                problem((*base, "metrics", mname, "weights"), "'weights' goes with the metric's own 'backbone' "
                        "(the task's backbone takes the task's 'weights')")
                continue
            if "backbone" in opts:
                m_bname, m_weights = str(opts.pop("backbone")), opts.pop("weights", None)
                if not kind.needs_backbone or not kind.multi_backbone:
                    problem((*base, "metrics", mname, "backbone"), f"a {t.kind} task reads one backbone (the task's "
                            "'backbone'); a metric cannot name its own here")
                    continue
                m_backbone = backbone_for(m_bname, None if m_weights is None else str(m_weights), t.inference, (*base, "metrics", mname, "backbone"),
                                          (*base, "inference"))
                if m_backbone is None:
                    continue
            try:
                metric = cls_m(opts)
            except ValidationError as exc:
                problems.extend(format_validation_errors(exc, cls_m.Opts, str(loaded.path), loaded.lines, (*base, "metrics", mname)))
                continue
            for path, msg in metric.check(s.datasets):
                problem((*base, "metrics", mname, *path), msg)
            if t.reference in plan.datasets and not plan.datasets[t.reference][0].has_images \
                    and cls_m.uses_reference():
                problem((*base, "metrics", mname), no_images_line(mname, t.reference, s.datasets[t.reference].kind))
                continue
            if t.reference in stats_protocols and cls_m.uses_reference() and not cls_m.reference_stats_ok:
                problem((*base, "metrics", mname), f"metric '{mname}' needs the reference's features, but reference "
                        f"'{t.reference}' is statistics only (mu, sigma); use a folder or image .npz reference for it")
                continue
            if ref_proto is not None and m_backbone is not backbone and ref_proto.get("backbone") not in (None, m_bname):
                mismatches.append(f"{loaded.where(*base, 'metrics', mname)}: reference '{t.reference}' holds statistics "
                                  f"made under protocol '{ref_proto.get('name')}' (backbone {ref_proto.get('backbone')}); "
                                  f"metric '{mname}' uses backbone '{m_bname}'")
                continue
            if m_backbone is not None and m_backbone.layer_name(cls_m.layer) is None:
                what = {"logits": "class logits", "embed": "a joint text-image space"}.get(cls_m.layer, f"layer '{cls_m.layer}'")
                problem((*base, "metrics", mname), f"metric '{mname}' needs {what}; backbone '{m_bname}' has none "
                        f"(it has {', '.join(m_backbone.layers)})")
                continue
            parts.setdefault(id(m_backbone), (m_backbone, m_bname, {}))[2][current] = metric
        kept = [m for m in models if m in s.models]
        # a part per backbone that has metrics (the task's own part even without any, if it is the only one)
        for i, (part_backbone, _, part_metrics) in enumerate([p for p in parts.values() if p[2]] or list(parts.values())[:1]):
            plan.tasks.append(TaskPlan(t.name, ti, kind, t.reference, kept, t.n, t.batch_size, part_backbone,
                                       part_metrics, task_args, part=i))

    names = [t.name for t in s.tasks]
    for ti, t in enumerate(s.tasks):
        if names.count(t.name) > 1:
            problem(("tasks", ti, "name"), f"task name '{t.name}' is used more than once")
            break

    if check_weights:
        for bname, b in plan.backbones.items():
            for msg in b.check_weights():
                problems.append(f"{loaded.path}: backbone '{bname.split('@')[0]}': {msg}")
    if mismatches:  # comparing across protocols is its own error (ProtocolMismatchError), listed first
        raise ProtocolMismatchError("\n".join(mismatches + problems))
    if problems:
        raise ConfigError("\n".join(problems))
    return plan


def _model_misfit(kind: TaskKind, task_args: Any, spec: Any) -> str | None:
    """The task kind's objection to a model (e.g. unconditional model in a conditional task), or None."""
    if spec.adapter not in ADAPTERS:
        return None
    cls = ADAPTERS.get(spec.adapter)
    try:
        parsed = cls.Args.model_validate(spec.args)
    except (ValidationError, GenbenchError):
        return None  # reported with the model itself
    return kind.check_model(task_args, cls, parsed)


def dry_run_lines(plan: Plan) -> list[str]:
    """What a run would fetch and read, and where, without loading or downloading anything."""
    import os

    from bench.weights import ENV_OFFLINE

    s = plan.loaded.suite
    offline = os.environ.get(ENV_OFFLINE, "") in ("1", "true", "yes")
    lines = [f"# dry run of {plan.loaded.path}: nothing is loaded, downloaded or computed"
             + (" (GENBENCH_OFFLINE=1: missing files would fail, not download)" if offline else "")]
    lines.append("weights:")
    for bkey, b in plan.backbones.items():
        wf = b.required_weights()
        if (own := b.dry_run()) is not None:
            lines.append(f"  {bkey}: {own}")
        elif b.weights_arg is not None:
            state = "present" if os.path.isfile(b.weights_arg) else "MISSING"
            lines.append(f"  {bkey}: explicit file {b.weights_arg} [{state}]")
        elif wf is None:
            lines.append(f"  {bkey}: bundled with genbench (nothing to download)")
        else:
            state = "present" if wf.cache_path().is_file() else "would download"
            lines.append(f"  {bkey}: {wf.filename} [{state}]\n      from {wf.url or '(no public URL)'}\n"
                         f"      to   {wf.cache_path()}\n      sha256 {wf.sha256 or 'not pinned (hash recorded in results)'}")
    for t in s.tasks:  # metrics with models of their own (PickScore, VQAScore, GenEval's detector, ...)
        for mname, mopts in t.metrics.items():
            if mname in METRICS and hasattr(METRICS.get(mname), "dry_run"):
                try:
                    own_lines = METRICS.get(mname)(mopts).dry_run()  # type: ignore[attr-defined]
                except (ValidationError, GenbenchError):
                    continue  # validate reports it
                lines += [f"  {t.name}/{mname}: {line}" for line in own_lines]
    lines.append("datasets:")
    used = {t.reference for t in s.tasks} | {str(m.args.get("dataset")) for m in s.models.values() if "dataset" in m.args}
    for dname in s.datasets:
        if dname not in used or dname not in plan.datasets:
            continue
        dkind, dargs = plan.datasets[dname]
        lines.append(f"  {dname}: {dkind.name} {dkind.sources(dargs, plan.loaded.resolve_path)}")
    needs: dict[tuple[str, str], list[str]] = {}  # (adapter, entry) -> the models that read it (sweeps: once)
    for m, spec in s.models.items():
        if spec.adapter not in ADAPTERS:
            continue
        cls = ADAPTERS.get(spec.adapter)
        try:
            args = cls.Args.model_validate(spec.args)
        except ValidationError:
            continue  # validate reports it
        for entry in cls.dry_run(args, plan.loaded.resolve_path):
            names = needs.setdefault((spec.adapter, entry), [])
            if (spec.seed_name or m) not in names:
                names.append(spec.seed_name or m)
    lines += [f"model {', '.join(names)}: {adapter} {entry}" for (adapter, entry), names in needs.items()]
    return lines


def _adapter_kind(name: str) -> str | None:
    return ADAPTERS.get(name).kind if name in ADAPTERS else None


def validate_suite_file(path: str) -> Plan:
    from bench.suite import load_suite

    try:
        return check_suite(load_suite(path))
    except GenbenchError:
        raise
