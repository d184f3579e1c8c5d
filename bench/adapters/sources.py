"""Generators from outside genbench: outputs made elsewhere (folder, .npz), Python factories, TorchScript files.

Data-only sources replay samples in a fixed order (sorted file names, array order): sample ``i`` is item ``i``.
Evaluating a submission of data never runs its code.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np
import torch
from pydantic import Field

from bench.adapters.base import Adapter, AdapterArgs, GenerationRequest, keyed, source_digest
from bench.errors import ConfigError, InputError
from bench.images import ArrayFile, ImageFiles, RangeMonitor, list_image_files, parse_range, to_uint8
from bench.registry import import_object

#: the arguments of a replayed source: each names its file or folder in ``path``
_ReplayArgsT = TypeVar("_ReplayArgsT", bound="FolderArgs | NpzArgs")


class _Replay(Adapter[_ReplayArgsT]):
    """Samples made elsewhere, replayed in file/array order: sample ``i`` is item ``i`` (seeds do not matter).
    Subclasses give the files (:meth:`_open`); samples are read only when asked for, batch by batch."""

    data_only = True
    _files: ImageFiles | ArrayFile | None = None

    def _open(self) -> ImageFiles | ArrayFile:
        raise NotImplementedError

    def _src(self) -> ImageFiles | ArrayFile:
        if self._files is None:
            self._files = self._open()
        return self._files

    @property
    def source(self) -> str:
        return str(self.ctx.resolve_path(self.args.path))

    @classmethod
    def check_args(cls, args: _ReplayArgsT, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        p = resolve(args.path)
        return [] if p.exists() else [(("path",), f"{p} does not exist")]

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        idx = list(request.indices)
        if idx and max(idx) >= len(self._src()):
            raise InputError(f"{self.source}: holds {len(self._src())} samples but the task asks for at least {max(idx) + 1}")
        return self._src().read(idx)

    def available(self) -> int:
        return len(self._src())

    def item_bytes(self) -> int:
        return self._src().item_bytes()

    def content_key(self, n: int) -> str | None:
        if n > len(self._src()):
            return None  # the run fails on the missing samples, with its own message
        return f"{self._src().digest()}:first{n}"


class FolderArgs(AdapterArgs):
    path: str


class FolderGenerator(_Replay[FolderArgs]):
    """A folder of images made elsewhere (sorted by path), decoded only for the samples asked for."""

    Args = FolderArgs

    def _open(self) -> ImageFiles:
        files = ImageFiles(list_image_files(self.ctx.resolve_path(self.args.path)), self.source)
        files.scan()  # one size for the whole folder, checked before any sample is used
        return files


class NpzArgs(AdapterArgs):
    path: str
    key: str | None = None
    range: str | list[float] | None = Field(default=None, description="value range of float arrays, e.g. '-1,1'")


class NpzGenerator(_Replay[NpzArgs]):
    """An ``.npz``/``.npy`` array of samples made elsewhere, read in order batch by batch (never loaded whole)."""

    Args = NpzArgs

    def _open(self) -> ArrayFile:
        a = self.args
        return ArrayFile(self.ctx.resolve_path(a.path), a.key, parse_range(a.range))

    def output_problem(self) -> str | None:
        """A float array whose values do not fit the declared ``range`` (the same monitor as a model's outputs)."""
        f = self._files
        return f.monitor.problem() if isinstance(f, ArrayFile) and f.monitor is not None else None


class _ModelArgs(AdapterArgs):
    range: str | list[float] = Field(default="-1,1", description="value range of float outputs")
    latent_dim: int | None = None
    device: str | None = Field(default=None, description="where the model runs (default: the run's device)")
    conditional: bool | None = Field(default=None, description=(
        "the model takes class labels: forward(z, classes), or generate(request) reading request.classes "
        "(default: detected from a Python model's forward signature: a 'classes', 'labels', 'y' or 'c' parameter)"))
    num_classes: int | None = Field(default=None, ge=2, description=(
        "classes of a conditional model, to sample its marginal in an unconditional task (a class per sample seed)"))


#: parameter names after z that mark a Python model's forward as class-conditional
_CLASS_PARAMS = ("classes", "labels", "label", "y", "c", "class_labels")


def _takes_classes(obj: Any) -> bool:
    """Whether a Python model (class, module or function) maps (z, classes) to images, from its signature."""
    import inspect

    fn = obj.forward if isinstance(obj, type) and hasattr(obj, "forward") else \
        getattr(obj, "forward", obj) if not isinstance(obj, type) else None
    try:
        params = list(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    if params and params[0] == "self":
        params = params[1:]
    return len(params) >= 2 and params[1] in _CLASS_PARAMS


_ModelArgsT = TypeVar("_ModelArgsT", bound=_ModelArgs)


class _ModelGenerator(Adapter[_ModelArgsT]):
    """Shared by Python and TorchScript sources: either the object answers ``generate(request)``, or it maps
    latents ``z [n, latent_dim]`` to images and genbench draws z from the per-sample seeds."""

    model: Any

    @classmethod
    def accepts_classes(cls, args: _ModelArgsT) -> bool:
        return bool(args.conditional)

    def _call(self, request: GenerationRequest) -> torch.Tensor:
        a = self.args
        m = self.model
        if request.classes is None and type(self).accepts_classes(a):
            # an unconditional task samples a conditional model's marginal: a class drawn from each sample's seed
            if a.num_classes is None:
                raise ConfigError(f"{self.label()} is class-conditional: evaluate it in a task with args.classes, or "
                                  "give num_classes to sample its marginal in an unconditional task")
            request = replace(request, classes=[int(np.random.default_rng(s).integers(a.num_classes))
                                                for s in request.seeds])
        if hasattr(m, "generate") and not isinstance(m, torch.jit.ScriptModule):
            out = m.generate(request)
        else:
            dim = a.latent_dim or getattr(m, "latent_dim", None)
            if dim is None:
                raise ConfigError(f"{self.label()}: give 'latent_dim' (the model has no generate() and no latent_dim)")
            z = request.latents(int(dim)).to(self.device)
            with torch.no_grad():
                out = m(z) if request.classes is None else m(z, torch.as_tensor(list(request.classes), device=self.device))
        out = torch.as_tensor(out).detach().cpu()
        if self._monitor is None:
            self._monitor = RangeMonitor(parse_range(a.range) or (-1.0, 1.0))
        return to_uint8(out, parse_range(a.range), what=self.label(), monitor=self._monitor)

    _monitor: RangeMonitor | None = None

    def output_problem(self) -> str | None:
        return None if self._monitor is None else self._monitor.problem()

    def label(self) -> str:
        return "model"

    @property
    def latent_dim(self) -> int | None:
        return self.args.latent_dim or getattr(self.model, "latent_dim", None)

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        return self._call(request)


class PythonArgs(_ModelArgs):
    target: str = Field(description="'module:attr' of a factory (called with kwargs) or an object")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class PythonGenerator(_ModelGenerator[PythonArgs]):
    """Your own generator from Python: ``target: module:attr`` (an object with ``generate(request)``, or a module
    mapping latents ``z [n, latent_dim]`` to images in ``range``; a class is instantiated with ``kwargs``)."""

    Args = PythonArgs

    @classmethod
    def accepts_classes(cls, args: PythonArgs) -> bool:
        a = args
        if a.conditional is not None:
            return a.conditional
        try:
            return _takes_classes(import_object(a.target, search=(os.getcwd(),)))
        except ConfigError:
            return False  # validate reports the import itself

    @classmethod
    def check_args(cls, args: PythonArgs, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        return check_target(args.target, resolve)

    def __init__(self, args: PythonArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        a = args
        self.model = load_target(a.target, a.kwargs, ctx.resolve_path, self.device, method="generate")

    def label(self) -> str:
        return self.args.target


def _search_paths(resolve: Any) -> tuple[str, ...]:
    """Where a ``python`` target's module is looked for besides sys.path: the suite's folder, then the working
    directory (``genbench`` as an installed command has neither on sys.path; ``python -m bench`` has the latter)."""
    return (str(resolve(".")), os.getcwd())


def check_target(target: str, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
    """``validate``'s check of a Python model's ``target: module:attr``: it imports, from the suite's folder too."""
    try:
        import_object(target, search=_search_paths(resolve))
    except ConfigError as exc:
        return [(("target",), str(exc))]
    return []


def load_target(target: str, kwargs: dict[str, Any], resolve: Any, device: torch.device, method: str) -> Any:
    """The model a Python ``target`` names: called with ``kwargs`` when it is a factory (:func:`_is_factory`, the
    model itself having ``method``), a torch module put in eval mode on ``device``."""
    obj = import_object(target, search=_search_paths(resolve))
    model = obj(**kwargs) if _is_factory(obj, kwargs, method) else obj  # type: ignore[operator]
    if isinstance(model, torch.nn.Module):
        model = model.eval().to(device)
    return model


def _is_factory(obj: Any, kwargs: dict[str, Any], method: str = "generate") -> bool:
    """Whether ``target`` names something to call for the model: a class, or a function given ``kwargs`` or
    callable without arguments (``def make_model(): ...``). A function that needs an argument (``z``) is the model
    itself, and so is a module or an object with ``method`` (``generate``, ``encode``)."""
    import inspect

    if isinstance(obj, type):
        return True
    if not callable(obj) or isinstance(obj, torch.nn.Module) or hasattr(obj, method):
        return False
    if kwargs:
        return True
    try:
        inspect.signature(obj).bind()
    except TypeError:
        return False  # needs arguments: a latents -> images function
    except ValueError:
        return False  # no signature to inspect (a builtin): use it as given
    return True


class _FileArgs(_ModelArgs):
    path: str


_FileArgsT = TypeVar("_FileArgsT", bound=_FileArgs)


class _FileModelGenerator(_ModelGenerator[_FileArgsT]):
    """A generator saved as one file (TorchScript, torch.export): validated before the run, keyed by its sha256."""

    Args = _FileArgs
    #: what the file is, in messages
    what: str = "model"
    #: short name in the model key
    key_name: str = "file"

    def _load(self, path: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def check_args(cls, args: _FileArgsT, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        p = resolve(args.path)
        return [] if p.is_file() else [(("path",), f"{p}: {cls.what} file does not exist")]

    def __init__(self, args: _FileArgsT, ctx: Any) -> None:
        super().__init__(args, ctx)
        p = ctx.resolve_path(args.path)
        if not p.is_file():
            raise InputError(f"{p}: {self.what} file does not exist")
        try:
            self.model = self._load(p)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise InputError(f"{p}: cannot load {self.what} ({exc.__class__.__name__}: {first})") from None
        self._path = p

    def model_key(self) -> str | None:
        import sys

        from bench.weights import sha256_file

        return keyed(self.key_name, self.args.model_dump(mode="json"), sha256_file(self._path),
                     source_digest(sys.modules[__name__]))

    def label(self) -> str:
        return str(self._path)


class TorchScriptArgs(_FileArgs):
    pass


class TorchScriptGenerator(_FileModelGenerator[TorchScriptArgs]):
    """A TorchScript generator file: ``forward(z)`` (or ``forward(z, classes)``) → images in ``range``."""

    Args = TorchScriptArgs
    what, key_name = "TorchScript", "torchscript"

    def _load(self, path: Any) -> Any:
        return torch.jit.load(str(path), map_location=self.device).eval()


class ExportArgs(_FileArgs):
    pass


class ExportGenerator(_FileModelGenerator[ExportArgs]):
    """A ``torch.export`` program file (``.pt2``, ``torch.export.save``): ``forward(z)`` (or ``forward(z, classes)``
    with ``conditional: true``) → images in ``range``. TorchScript is deprecated in current torch; this is its
    successor. The program runs as exported (its shapes must allow the task's batch size: export with a dynamic
    batch dimension)."""

    Args = ExportArgs
    what, key_name = "torch.export program", "export"

    @classmethod
    def check_args(cls, args: ExportArgs, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        problems = super().check_args(args, resolve)
        if problems:
            return problems
        p = resolve(args.path)
        try:
            n = static_batch(torch.export.load(str(p)))
        except Exception as exc:  # not a program file: said here rather than at run time
            return [(("path",), f"{p}: not a torch.export program ({exc.__class__.__name__}: "
                                f"{(str(exc).strip().splitlines() or [''])[0]})")]
        if n is not None:  # would fail at run time on any other batch (the last, smaller one included)
            return [(("path",), f"{p}: exported with a static batch size of {n}: genbench calls it with the task's "
                                "batch_size and a smaller last batch; export with a dynamic batch dimension "
                                "(torch.export.export(m, (z,), dynamic_shapes=({0: torch.export.Dim('batch')},)))")]
        return []

    def _load(self, path: Any) -> Any:
        module = torch.export.load(str(path)).module()
        return module.to(self.device) if self.device.type != "cpu" else module


def static_batch(program: Any) -> int | None:
    """The fixed size of an exported program's first input's first dimension, or None when it is dynamic (a
    symbolic size) or unknown."""
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in set(program.graph_signature.user_inputs):
            val = node.meta.get("val")
            shape = getattr(val, "shape", None)
            if shape is None or not len(shape):
                return None
            return int(shape[0]) if isinstance(shape[0], int) else None
    return None


class OnnxArgs(_FileArgs):
    pass


class OnnxGenerator(_FileModelGenerator[OnnxArgs]):
    """An ONNX generator file run by onnxruntime (``genbench[onnx]``; the CUDA provider on a GPU): input ``z [n,
    latent_dim]`` (and int64 class labels with ``conditional: true``) → images in ``range``; ``latent_dim`` is read
    from the graph when its input has a fixed second dimension. Export with a dynamic batch dimension."""

    Args = OnnxArgs
    what, key_name = "ONNX", "onnx"

    @classmethod
    def check_args(cls, args: OnnxArgs, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        from bench.adapters.onnx_models import require_onnxruntime

        try:
            require_onnxruntime()
        except ConfigError as exc:
            return [(("path",), str(exc))]
        return super().check_args(args, resolve)

    def _load(self, path: Any) -> Any:
        from bench.adapters.onnx_models import OnnxModel

        return OnnxModel(path, self.device)
