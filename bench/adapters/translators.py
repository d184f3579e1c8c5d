"""The translator protocol and its sources: Python objects, TorchScript files, folders of outputs made
elsewhere, the reference zoo and the three baselines (identity, random-target copier, blurred oracle).

A translator answers a :class:`TranslationRequest`: uint8 input images, a direction (``a2b`` or ``b2a``), one
seed per input, and the inputs' dataset indices and file names. Per-sample seeds make a stochastic
translator's output for input ``i`` independent of the batch it came in (as ``GenerationRequest`` does for
generators). Outputs are uint8 ``[N, C, H, W]`` or floats in the adapter's declared ``range``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from bench.adapters.base import Adapter, AdapterArgs, AdapterContext, ArgsT, to_implement
from bench.errors import ConfigError, InputError
from bench.images import list_image_files, load_image_files, parse_range, to_uint8
from bench.registry import import_object
from bench.seeding import derive_seed, latents_from_seeds

DIRECTIONS = ("a2b", "b2a")
REVERSE = {"a2b": "b2a", "b2a": "a2b"}


@dataclass(frozen=True)
class TranslationRequest:
    images: torch.Tensor  # uint8 NCHW inputs
    direction: str  # "a2b" or "b2a"
    seeds: Sequence[int]
    indices: Sequence[int] = ()
    names: Sequence[str] = ()

    @property
    def n(self) -> int:
        return int(self.images.shape[0])

    def latents(self, *shape: int) -> torch.Tensor:
        """Standard-normal noise ``[n, *shape]``, one generator per sample seed."""
        return latents_from_seeds(list(self.seeds), tuple(shape))


class Translator(Adapter[ArgsT]):
    """Base of translator adapters. Subclasses implement :meth:`directions` and :meth:`translate`."""

    kind: ClassVar[str] = "translator"
    #: True when translations are replayed from files (one per input name) rather than computed: reconstructions
    #: F(G(x)) then come from their own files, and identity mapping and conditional diversity are undefined
    replays_files: ClassVar[bool] = False

    def directions(self) -> tuple[str, ...]:
        return DIRECTIONS

    @to_implement
    def translate(self, request: TranslationRequest) -> torch.Tensor:
        raise NotImplementedError

    def require(self, direction: str, label: str, why: str = "") -> None:
        """An InputError naming the model when it cannot translate ``direction``."""
        if direction not in self.directions():
            have = ", ".join(self.directions()) or "none"
            raise InputError(f"model '{label}' does not translate {direction} (it has: {have})" + (f"; {why}" if why else ""))

    def cycle(self, request: TranslationRequest, forward: torch.Tensor | None = None) -> torch.Tensor:
        """``F(G(x))`` for ``G`` = ``request.direction``: translate, then translate back with seeds derived from
        the request's (so the two passes draw different noise). ``forward`` reuses an already computed ``G(x)``."""
        if forward is None:
            forward = to_uint8(self.translate(request), None, what="forward translation")
        back = replace(request, images=forward, direction=REVERSE[request.direction],
                       seeds=[derive_seed(s, "cycle") for s in request.seeds])
        return self.translate(back)


# ----------------------------------------------------------------------------------------- baselines


class IdentityTranslator(Translator):
    """Returns its input: perfect cycle and identity error, the source domain's FID to the target."""

    data_only = True

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        return request.images.clone()


class _DatasetArgs(AdapterArgs):
    dataset: str = Field(description="a translation dataset of the suite (digits-edges, paired-folder, ...)")


def _domain_pair(ctx: AdapterContext, name: str) -> Any:
    from bench.translation.data import DomainPair

    if ctx.datasets is None:
        raise ConfigError("this adapter needs the suite's datasets")
    ds = ctx.datasets(name)
    if not isinstance(ds, DomainPair):
        raise ConfigError(f"dataset '{name}' is not a translation dataset (kinds: digits-edges, digits-strokes, "
                          "paired-folder, unpaired-folder)")
    return ds


class RandomTargetArgs(_DatasetArgs):
    replace: bool = Field(default=False, description="draw from each input's own seed (with replacement) instead of "
                                                     "a fixed permutation of the target domain")


class RandomTargetTranslator(Translator[RandomTargetArgs]):
    """Copies a random image of the target domain, ignoring the input: a real target-domain distribution (best
    FID) with no relation to the input (worst paired metrics and label preservation).

    Input ``i`` gets ``target[perm[i]]`` for a permutation fixed by the dataset and direction, so n inputs give n
    distinct target images (with every input of the domain: exactly the target set, FID ~ 0). With
    ``replace: true`` each input's own seed picks the image (duplicates, and a seed-dependent output)."""

    Args = RandomTargetArgs
    data_only = True

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        a = self.args
        ds = _domain_pair(self.ctx, a.dataset)
        side = "b" if request.direction == "a2b" else "a"
        pool = ds.side(side)
        n = len(pool)
        if a.replace:
            idx = [int(np.random.default_rng(s).integers(n)) for s in request.seeds]
        else:
            if request.indices and max(request.indices) >= n:
                raise InputError(f"random-target: domain {side.upper()} of '{a.dataset}' holds {n} images but input "
                                 f"{max(request.indices)} was asked for; set replace: true")
            perm = np.random.default_rng(derive_seed("random-target", a.dataset, side, n)).permutation(n)
            idx = [int(perm[i]) for i in request.indices]
        return pool.read(idx)


class OracleArgs(_DatasetArgs):
    sigma: float = Field(default=0.8, gt=0, description="Gaussian blur sigma in pixels")


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius ceil(3 sigma), reflection padding), rounded back to uint8."""
    r = max(1, int(np.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    c = images.shape[1]
    t = images.double()
    t = F.conv2d(F.pad(t, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    t = F.conv2d(F.pad(t, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return t.round().clamp(0, 255).to(torch.uint8)


class BlurredOracle(Translator[OracleArgs]):
    """The ground truth of a paired dataset, Gaussian-blurred: an upper reference that any paired metric should
    rank near the top, and whose blur costs it a little FID. Looks the truth up by input file name."""

    Args = OracleArgs
    data_only = True

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        a = self.args
        ds = _domain_pair(self.ctx, a.dataset)
        if not ds.paired:
            raise ConfigError(f"blurred-oracle needs a paired dataset; '{a.dataset}' is unpaired")
        side = "b" if request.direction == "a2b" else "a"
        truth, names = ds.side(side), ds.names_b if side == "b" else ds.names_a
        where = {n: i for i, n in enumerate(names)}
        missing = [n for n in request.names if n not in where]
        if missing:
            raise InputError(f"blurred-oracle: no ground truth in '{a.dataset}' for {', '.join(missing[:5])}")
        return gaussian_blur(truth.read([where[n] for n in request.names]), a.sigma)


# ----------------------------------------------------------------------------------------- data only


class FolderTranslatorArgs(AdapterArgs):
    a2b: str | None = Field(default=None, description="folder of A→B outputs named like the A inputs")
    b2a: str | None = Field(default=None, description="folder of B→A outputs named like the B inputs")
    a2b2a: str | None = Field(default=None, description="folder of A→B→A reconstructions named like the A inputs")
    b2a2b: str | None = Field(default=None, description="folder of B→A→B reconstructions named like the B inputs")


class FolderTranslator(Translator[FolderTranslatorArgs]):
    """Outputs made elsewhere, one folder per direction, looked up by input file name (the extension may
    differ: ``0001.png`` matches ``0001.jpg``). Evaluating them never runs the submitter's code."""

    Args = FolderTranslatorArgs
    data_only = True
    replays_files = True

    def __init__(self, args: FolderTranslatorArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        self._cache: dict[str, tuple[Path, dict[str, Path]]] = {}

    def directions(self) -> tuple[str, ...]:
        return tuple(d for d in DIRECTIONS if getattr(self.args, d) is not None)

    def _index(self, key: str) -> tuple[Path, dict[str, Path]]:
        if key not in self._cache:
            folder = self.ctx.resolve_path(getattr(self.args, key))
            files = list_image_files(folder)
            index: dict[str, Path] = {}
            for f in files:
                stem = f.relative_to(folder).with_suffix("").as_posix()
                if stem in index:
                    raise InputError(f"{folder}: two outputs for input '{stem}': {index[stem].name} and {f.name}")
                index[stem] = f
            self._cache[key] = (folder, index)
        return self._cache[key]

    def _lookup(self, key: str, names: Sequence[str]) -> torch.Tensor:
        folder, index = self._index(key)
        stems = list(names)  # dataset names are already extension-free relative paths
        missing = [n for n, s in zip(names, stems, strict=True) if s not in index]
        if missing:
            raise InputError(f"{folder}: no output for {len(missing)} input(s): {', '.join(missing[:10])}"
                             + (" ..." if len(missing) > 10 else ""))
        return load_image_files([index[s] for s in stems])

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        if getattr(self.args, request.direction) is None:
            raise InputError(f"translator folder: no '{request.direction}' folder given")
        return self._lookup(request.direction, request.names)

    def cycle(self, request: TranslationRequest, forward: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructions come from the ``a2b2a``/``b2a2b`` folder when one is given."""
        key = f"{request.direction}2{request.direction[0]}"  # a2b -> a2b2a
        if getattr(self.args, key) is not None:
            return self._lookup(key, request.names)
        raise InputError(f"translator folder: cycle-consistency of {request.direction} needs a '{key}' folder of "
                         f"reconstructions (a data-only translator cannot translate its own outputs)")


# ----------------------------------------------------------------------------------------- code sources


class _ModelArgs(AdapterArgs):
    range: str | list[float] = Field(default="-1,1", description="value range of float inputs and outputs")
    device: str | None = Field(default=None, description="where the model runs (default: the run's device)")


class PythonTranslatorArgs(_ModelArgs):
    target: str = Field(description="'module:attr' of a factory (called with kwargs) or an object")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    directions: list[str] | None = Field(default=None, description="directions it translates (default: the object's "
                                                                   "'directions' attribute, else [a2b])")


class PythonTranslator(Translator[PythonTranslatorArgs]):
    """An object with ``translate(x, direction, seeds)`` (x float in ``range``, one seed per image), or a
    module/callable ``f(x)`` for a single direction. Inputs are given as floats in ``range``. As for generators,
    a class is instantiated with ``kwargs``; a function is called as a factory only when ``kwargs`` are given."""

    Args = PythonTranslatorArgs

    def __init__(self, args: PythonTranslatorArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        a = args
        obj = import_object(a.target)
        model = obj(**a.kwargs) if (isinstance(obj, type) or (callable(obj) and a.kwargs)) else obj
        if isinstance(model, torch.nn.Module):
            model = model.eval().to(self.device)
        self.model: Any = model
        dirs = a.directions or list(getattr(model, "directions", None) or ["a2b"])
        bad = [d for d in dirs if d not in DIRECTIONS]
        if bad:
            raise ConfigError(f"{a.target}: unknown direction(s) {bad}; use a2b, b2a")
        if not hasattr(model, "translate") and len(dirs) != 1:
            raise ConfigError(f"{a.target}: a plain callable translates one direction; give 'directions: [a2b]' or [b2a]")
        self._dirs = tuple(dirs)

    def directions(self) -> tuple[str, ...]:
        return self._dirs

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        a = self.args
        lo, hi = parse_range(a.range) or (-1.0, 1.0)
        x = (request.images.float() / 255.0 * (hi - lo) + lo).to(self.device)
        with torch.no_grad():
            if hasattr(self.model, "translate"):
                out = self.model.translate(x, request.direction, list(request.seeds))
            else:
                out = self.model(x)
        out = torch.as_tensor(out).detach().cpu()
        return to_uint8(out, (lo, hi), what=f"{a.target} ({request.direction})")


class TorchScriptTranslatorArgs(_ModelArgs):
    a2b: str | None = Field(default=None, description="TorchScript file of the A→B network")
    b2a: str | None = Field(default=None, description="TorchScript file of the B→A network")
    noise_channels: int = Field(default=0, ge=0, description="if > 0, called as f(x, z) with z [n, k, H, W] drawn "
                                                              "from the per-sample seeds")


class TorchScriptTranslator(Translator[TorchScriptTranslatorArgs]):
    """One TorchScript network per direction, ``f(x)`` or ``f(x, z)``, floats in ``range``."""

    Args = TorchScriptTranslatorArgs
    #: what the files are, in messages
    what = "TorchScript"

    def _load(self, path: Path) -> Any:
        return torch.jit.load(str(path), map_location=self.device).eval()

    def __init__(self, args: TorchScriptTranslatorArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        a = args
        self.nets: dict[str, Any] = {}
        for d in DIRECTIONS:
            path = getattr(a, d)
            if path is None:
                continue
            p = ctx.resolve_path(path)
            if not p.is_file():
                raise InputError(f"{p}: {self.what} file does not exist")
            try:
                self.nets[d] = self._load(p)
            except ConfigError:
                raise
            except Exception as exc:
                first = str(exc).splitlines()[0] if str(exc) else ""
                raise InputError(f"{p}: cannot load {self.what} ({exc.__class__.__name__}: {first})") from None
        if not self.nets:
            raise ConfigError(f"{self.what} translator: give at least one of 'a2b', 'b2a'")

    def directions(self) -> tuple[str, ...]:
        return tuple(self.nets)

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        a = self.args
        lo, hi = parse_range(a.range) or (-1.0, 1.0)
        x = (request.images.float() / 255.0 * (hi - lo) + lo).to(self.device)
        net = self.nets[request.direction]
        with torch.no_grad():
            if a.noise_channels:
                z = request.latents(a.noise_channels, *request.images.shape[2:]).to(self.device)
                out = net(x, z)
            else:
                out = net(x)
        return to_uint8(torch.as_tensor(out).detach().cpu(), (lo, hi), what=f"{self.what} {request.direction}")


class OnnxTranslatorArgs(TorchScriptTranslatorArgs):
    a2b: str | None = Field(default=None, description="ONNX file of the A→B network")
    b2a: str | None = Field(default=None, description="ONNX file of the B→A network")


class OnnxTranslator(TorchScriptTranslator):
    """One ONNX network per direction (``a2b``/``b2a`` files), ``f(x)`` or ``f(x, z)``, floats in ``range``, run by
    onnxruntime (``genbench[onnx]``; the CUDA provider on a GPU)."""

    Args = OnnxTranslatorArgs
    what = "ONNX"

    def _load(self, path: Path) -> Any:
        from bench.adapters.onnx_models import OnnxModel

        return OnnxModel(path, self.device)


class ZooArgs(AdapterArgs):
    name: str = Field(description="a reference translator in bench/assets/translation (pix2pix-edges, cyclegan-strokes)")


class ZooTranslator(Translator[ZooArgs]):
    """The reference zoo: small pix2pix and CycleGAN translators trained by scripts/translation/ (fixed seeds),
    weights checked against bench/assets/translation/MANIFEST.json."""

    Args = ZooArgs

    def __init__(self, args: ZooArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        from bench.translation.zoo import load_zoo

        self.model = load_zoo(self.args.name)

    def directions(self) -> tuple[str, ...]:
        return tuple(self.model.nets)

    def translate(self, request: TranslationRequest) -> torch.Tensor:
        return self.model.translate(request.images, request.direction, list(request.seeds))
