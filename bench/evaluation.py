"""In-process evaluation: samples and a reference in, typed rows out, through the same task template as ``genbench
run`` (bench.tasks), with no suite file, no run folder and no temporary files.

    rows = bench.evaluate(fake_uint8, "real/", metrics=["fid", "kid"], protocol="tf-compat")
    rows = bench.evaluate(generator_module, ref_tensor, n=10_000, range="-1,1", protocol="digits")

Samples may be a uint8 tensor or array (NCHW or NHWC; floats with ``range``), a folder, an ``.npz``/``.npy``, or a
generator: an ``nn.Module`` mapping latents ``z [n, latent_dim]`` to images in ``range``, or an object answering
``generate(request)`` (asked for ``n`` samples with the CLI's per-sample seeds). The reference takes the same forms
(not a generator), or statistics (an ``.npz`` with mu/sigma, a torch-fidelity ``.pt``, a named reference). The
only thing written is the content cache of features (``cache=False``: not even that).

:func:`run_plan` does the same for a whole checked suite (``bench.run_suite``, and ``genbench score pairs|cycle|
captions --images`` without ``--out``): every task through its kind, typed rows and per-sample data in memory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bench.errors import ConfigError, InputError

if TYPE_CHECKING:
    from bench.features import FeatureStore
    from bench.plan import Plan
    from bench.results import Row

#: what evaluate scores with when neither protocol nor backbone is given (as ``genbench score images``)
DEFAULT_PROTOCOL = "tf-compat"
SampleInput = Any


def _is_generator(x: Any) -> bool:
    return isinstance(x, torch.nn.Module) or (callable(x) and not isinstance(x, type | str | os.PathLike)
                                             and not isinstance(x, np.ndarray | torch.Tensor)) \
        or (hasattr(x, "generate") and not isinstance(x, str | os.PathLike))


def _tensor(x: Any, value_range: str | None, what: str) -> torch.Tensor:
    from bench.images import parse_range, to_uint8

    t = torch.as_tensor(x)
    if t.dtype != torch.uint8 and value_range is None:
        raise InputError(f"{what}: float images need range= (for example '-1,1' or '0,1')")
    return to_uint8(t, None if t.dtype == torch.uint8 else parse_range(value_range), what=what)


def _dataset(x: Any, value_range: str | None, what: str) -> Any:
    """The reference as a dataset (bench.data): a tensor held as it is; a path read by its kind, batch by batch."""
    from bench.data import DATASETS
    from bench.data.base import Dataset
    from bench.images import content_hash
    from bench.inputs import input_source

    if isinstance(x, np.ndarray | torch.Tensor):
        images = _tensor(x, value_range, what)
        return Dataset(what, f"tensor:{what}@{content_hash(images)[:12]}", images)
    if not isinstance(x, str | os.PathLike):
        raise InputError(f"{what}: expected a path, a numpy array or a torch tensor, got {type(x).__name__}")
    kind, args, _ = input_source(os.fspath(x))
    if kind == "npz" and value_range is not None:
        args["range"] = value_range
    k = DATASETS.get(kind)()
    return k.load(what, k.Args.model_validate(args), lambda p: Path(p))


class _TensorSamples:
    """Samples held as a uint8 tensor, replayed in order (sample i is row i): a data-only generator."""

    kind = "image-generator"
    data_only = True
    registered_name = "tensor"

    def __init__(self, images: torch.Tensor) -> None:
        from bench.adapters.base import AdapterArgs

        self.images, self.args = images, AdapterArgs()
        self.device = torch.device("cpu")

    def generate(self, request: Any) -> torch.Tensor:
        idx = list(request.indices)
        if idx and max(idx) >= self.images.shape[0]:
            raise InputError(f"samples: hold {self.images.shape[0]} images but sample {max(idx)} was asked for")
        return self.images[idx]

    def item_bytes(self) -> int:
        return int(self.images[0].numel())

    def content_key(self, n: int) -> str | None:
        from bench.images import content_hash

        return f"{content_hash(self.images[:n])}:first{n}"

    def model_key(self) -> str | None:
        return None

    def output_problem(self) -> str | None:
        return None

    @classmethod
    def accepts_classes(cls, args: Any) -> bool:
        return False


def _adapter(x: Any, value_range: str | None, latent_dim: int | None, device: torch.device) -> tuple[Any, int | None]:
    """The samples as an adapter of kind image-generator, and how many they are (None: a generator, unbounded)."""
    from bench.adapters import AdapterContext, build_adapter
    from bench.adapters.sources import PythonArgs, PythonGenerator
    from bench.inputs import input_source

    if isinstance(x, np.ndarray | torch.Tensor):
        images = _tensor(x, value_range, "samples")
        return _TensorSamples(images), int(images.shape[0])
    if isinstance(x, str | os.PathLike):
        kind, args, n = input_source(os.fspath(x))
        if kind == "stats":
            raise InputError(f"{x}: statistics cannot be the samples (they are the reference's side)")
        if kind == "npz" and value_range is not None:
            args["range"] = value_range
        return build_adapter(kind, args, AdapterContext(device=str(device))), n
    if _is_generator(x):
        # the object itself: no module-global registry, no import string (PythonGenerator without load_target)
        adapter = PythonGenerator.__new__(PythonGenerator)
        adapter.args = PythonArgs(target="<object>", range=value_range or "-1,1", latent_dim=latent_dim)
        adapter.ctx = AdapterContext(device=str(device))
        adapter.registered_name = "python"
        adapter.model = x.eval().to(device) if isinstance(x, torch.nn.Module) else x
        return adapter, None
    raise InputError(f"samples: expected a tensor, an array, a path or a generator, got {type(x).__name__}")


def evaluate(samples: SampleInput, reference: SampleInput, metrics: Sequence[str] | Mapping[str, Mapping[str, Any]]
             = ("fid",), *, protocol: str | None = None, backbone: str | None = None, weights: str | None = None,
             n: int | None = None, range: str | None = None, latent_dim: int | None = None,  # noqa: A002
             device: str | None = None, seed: int = 0, batch_size: int = 250, cache: bool = True,
             progress: bool = False) -> list[Row]:
    """Score ``samples`` against ``reference``: one typed :class:`bench.results.Row` per value, each with its
    protocol record, computed by the generation task kind exactly as ``genbench run`` computes it.

    ``metrics``: names, or name → options. ``protocol`` (default ``tf-compat`` unless ``backbone`` is given) selects
    the feature network and the tool's metric conventions; ``n``: how many samples (all of a tensor or folder; a
    generator needs it)."""
    from bench.backbones import get_backbone
    from bench.features import FeatureStore
    from bench.metrics import METRICS
    from bench.protocol import get_preset
    from bench.runtime import resolve_device
    from bench.tasks.base import TaskPlan
    from bench.tasks.context import RunContext
    from bench.tasks.generation import GenerationArgs, GenerationTask

    if protocol is None and backbone is None:
        protocol = DEFAULT_PROTOCOL
    preset = get_preset(protocol) if protocol is not None else None
    if preset is not None and backbone is not None and backbone != preset.backbone:
        raise InputError(f"backbone '{backbone}' contradicts protocol '{protocol}' (backbone {preset.backbone})")
    dev = resolve_device(device or "auto")
    net = get_backbone(preset.backbone if preset is not None else str(backbone), weights=weights, device=str(dev))
    specs = {m: {} for m in metrics} if not isinstance(metrics, Mapping) else {k: dict(v) for k, v in metrics.items()}
    chosen = {}
    for name, opts in specs.items():
        if name not in METRICS:
            raise ConfigError(f"unknown metric '{name}'")
        defaults = dict(preset.metric_defaults.get(name, {})) if preset is not None else {}
        chosen[name] = METRICS.get(name)({**defaults, **opts})
    ref = _dataset(reference, range, "reference")
    adapter, available = _adapter(samples, range, latent_dim, dev)
    if n is None:
        if available is None:
            raise InputError("a generator needs n= (how many samples to draw)")
        n = available
    if available is not None and n > available:
        raise InputError(f"samples: hold {available} images, fewer than n={n}")
    if n < 2:
        raise InputError(f"samples: {n} sample(s); scoring a set needs at least 2")
    # named as `genbench score images` names them (task "score", model "input1"): the same per-sample and metric
    # seeds, so a generator's samples and KID's subsets are the command's
    task = TaskPlan(name="score", index=0, kind=GenerationTask(), reference="input2", models=["input1"], n=n,
                    batch_size=min(n, batch_size), backbone=net, metrics=chosen, args=GenerationArgs())
    ctx = RunContext.standalone(models={"input1": adapter}, datasets={"input2": ref}, seed=seed,
                                store=FeatureStore("default" if cache else None, progress=progress), device=dev,
                                progress=progress, suite_name="evaluate", run_id="in-process", tasks=[task])
    net.resolve_weights()
    task.kind.prepare(ctx, task)
    return task.kind.run_model(ctx, task, "input1")


def as_values(rows: Sequence[Row]) -> dict[str, float | None]:
    """Rows as value name → value (the shape ``bench.score_images`` returns)."""
    return {r.metric: r.value for r in rows}


@dataclass
class Evaluation:
    """What :func:`run_plan` computed: typed rows, the failures (one line each, as a run's manifest lists them)
    and each (task, model)'s per-sample data (what a run folder's ``per_sample/`` file would hold)."""

    rows: list[Row]
    errors: list[str] = field(default_factory=list)
    per_sample: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as ``rows.jsonl`` holds them (plain dicts), for code written against run folders."""
        return [r.to_dict() for r in self.rows]


def run_plan(plan: Plan, *, store: FeatureStore | None = None, progress: bool = False,
             datasets: Mapping[str, Any] | None = None, log: Callable[[str], None] | None = None) -> Evaluation:
    """Run a checked suite (:func:`bench.plan.check_suite`) in process: every task through its kind with a
    :meth:`RunContext.standalone` context, exactly as :class:`bench.runner.Runner` runs it, but with no run folder,
    no manifest and no resume; nothing is written but the content cache. ``datasets``: objects standing for some
    of the suite's datasets (built in memory by the caller). A model that fails is listed in ``errors`` (its
    traceback is not kept: there is no ``errors.log``) and the others go on, under the suite's ``on_error``."""
    from bench.adapters.base import AdapterContext, build_adapter
    from bench.errors import GenbenchError
    from bench.features import FeatureStore
    from bench.runner import stops, task_policy, unavailable_models
    from bench.tasks.context import RunContext

    suite = plan.loaded.suite
    loaded: dict[str, Any] = dict(datasets or {})
    say = log or (lambda msg: None)

    def dataset(name: str) -> Any:
        if name not in loaded:
            if name not in plan.datasets:
                raise ConfigError(f"unknown dataset '{name}'")
            kind, args = plan.datasets[name]
            loaded[name] = kind.load(name, args, plan.loaded.resolve_path)
        return loaded[name]

    actx = AdapterContext(resolve_path=plan.loaded.resolve_path, datasets=dataset,
                          dataset_names=tuple(suite.datasets), device=str(plan.device))

    def adapter(model: str) -> Any:
        spec = suite.models[model]
        return build_adapter(spec.adapter, spec.args, actx)

    ctx = RunContext.standalone(
        models=adapter, datasets=dataset, seed=suite.seed, tasks=plan.tasks,
        store=store if store is not None else FeatureStore("default", progress=progress), device=plan.device,
        dtype=suite.runtime.dtype, progress=progress, suite_name=suite.name, run_id="in-process",
        seed_names=lambda m: (suite.models[m].seed_name if m in suite.models else None) or m,
        timeouts=lambda task: task_policy(suite, task)[1])
    for bname, b in plan.backbones.items():
        try:
            b.resolve_weights()  # missing weights fail before any sampling, as in a run
        except GenbenchError as exc:
            raise GenbenchError(f"backbone '{bname}': {exc}") from None
    out = Evaluation(rows=[])
    missing = unavailable_models(plan)
    failures = 0

    def failed(task: str, line: str) -> bool:
        nonlocal failures
        out.errors.append(line)
        say(f"error: {line}")
        failures += 1
        return stops(task_policy(suite, task)[0], failures)

    try:
        _run_tasks(plan, ctx, missing, failed, out)
    finally:
        out.per_sample = {key: sink.data() for key, sink in ctx.kept.items()}
    return out


def _run_tasks(plan: Plan, ctx: Any, missing: Mapping[str, str], failed: Callable[[str, str], bool],
               out: Evaluation) -> None:
    """The task loop of :func:`run_plan` (returns when ``failed`` says the error policy stops the run)."""
    import traceback

    from bench.errors import GenbenchError, ProtocolMismatchError
    from bench.runner import task_parts

    for parts in task_parts(plan.tasks):
        task = parts[0]
        for model in [m for m in task.models if m in missing]:
            if failed(task.name, f"model '{model}' (task {task.name}): {missing[model]}"):
                return
        if all(m in missing for m in task.models):
            continue
        try:
            for part in parts:
                part.kind.prepare(ctx, part)
        except ProtocolMismatchError:
            raise
        except GenbenchError as exc:
            if failed(task.name, f"task {task.name}: reference '{task.reference}': {exc}"):
                return
            continue
        for model in task.models:
            if model in missing:
                continue
            try:
                out.rows += [row for part in parts for row in part.kind.run_model(ctx, part, model)]
            except GenbenchError as exc:
                stop = failed(task.name, f"model '{model}' (task {task.name}): {exc}")
            except Exception as exc:  # a user's model crashed: keep going, as a run does
                if ctx.progress:
                    print(traceback.format_exc(), file=sys.stderr)
                stop = failed(task.name, f"model '{model}' (task {task.name}): {exc.__class__.__name__}: {exc}")
            else:
                continue
            if stop:
                return
