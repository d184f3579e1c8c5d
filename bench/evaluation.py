"""In-process evaluation: samples and a reference in, typed rows out, through the same task template as ``genbench
run`` (bench.tasks), with no suite file, no run folder and no temporary files.

    rows = bench.evaluate(fake_uint8, "real/", metrics=["fid", "kid"], protocol="tf-compat")
    rows = bench.evaluate(generator_module, ref_tensor, n=10_000, range="-1,1", protocol="digits")

Samples may be a uint8 tensor or array (NCHW or NHWC; floats with ``range``), a folder, an ``.npz``/``.npy``, or a
generator: an ``nn.Module`` mapping latents ``z [n, latent_dim]`` to images in ``range``, or an object answering
``generate(request)`` (asked for ``n`` samples with the CLI's per-sample seeds). The reference takes the same forms
(not a generator), or statistics (an ``.npz`` with mu/sigma, a torch-fidelity ``.pt``, a named reference). The
only thing written is the content cache of features (``cache=False``: not even that).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from bench.errors import ConfigError, InputError

if TYPE_CHECKING:
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
    from bench.score import _source

    if isinstance(x, np.ndarray | torch.Tensor):
        images = _tensor(x, value_range, what)
        return Dataset(what, f"tensor:{what}@{content_hash(images)[:12]}", images)
    if not isinstance(x, str | os.PathLike):
        raise InputError(f"{what}: expected a path, a numpy array or a torch tensor, got {type(x).__name__}")
    kind, args, _ = _source(os.fspath(x))
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
    from bench.score import _source

    if isinstance(x, np.ndarray | torch.Tensor):
        images = _tensor(x, value_range, "samples")
        return _TensorSamples(images), int(images.shape[0])
    if isinstance(x, str | os.PathLike):
        kind, args, n = _source(os.fspath(x))
        if kind == "stats":
            raise InputError(f"{x}: statistics cannot be the samples (they are the reference's side)")
        if kind == "npz" and value_range is not None:
            args["range"] = value_range
        return build_adapter(kind, args, AdapterContext(device=str(device))), n
    if _is_generator(x):
        # the object itself: no module-global registry, no import string (PythonGenerator without load_target)
        adapter = PythonGenerator.__new__(PythonGenerator)
        args = PythonArgs(target="<object>", range=value_range or "-1,1", latent_dim=latent_dim)
        adapter.args, adapter.ctx = args, AdapterContext(device=str(device))
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


_ = Callable  # re-exported names stay typed for documentation tools
