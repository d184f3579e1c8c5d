"""Autoencoders and image tokenizers (VAEs, VQ-VAEs, VQGAN-style tokenizers): kind ``autoencoder``.

An autoencoder answers ``encode(images, seeds)`` with an :class:`Encoding` (whatever its decoder takes, plus, for a
discrete model, the code indices, and, for a likelihood model, a per-image log-likelihood bound) and
``decode(encoding)`` with the reconstructions. Inputs are uint8 NCHW; outputs are uint8 or floats in the adapter's
declared range. The ``reconstruction`` task (bench.tasks.reconstruction) scores them.

Sources: Python (``python-autoencoder``, a ``module:attr`` factory), TorchScript (``torchscript-autoencoder``),
the digits zoo (``zoo-autoencoder``: ``vae``, ``vqvae``), diffusers ``AutoencoderKL`` / ``VQModel``
(``diffusers-autoencoder``), and the baselines ``identity-autoencoder`` (perfect reconstruction) and
``blur-autoencoder`` (the input, Gaussian-blurred).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
from pydantic import Field, field_validator

from bench.adapters.base import Adapter, AdapterArgs, AdapterContext, ArgsT, to_implement
from bench.errors import ConfigError, InputError
from bench.images import RangeMonitor, match_channels, parse_range, to_uint8


@dataclass
class Encoding:
    """What ``encode`` returns. ``latents``: what ``decode`` takes (continuous latents, quantized vectors, or the
    model's own object). ``codes``: integer codebook indices ``[n, ...]`` of a discrete model (None: continuous).
    ``log_likelihood``: per-image log-likelihood, or a lower bound of it such as the ELBO, in nats, of the 8-bit
    images (None: the model reports none); bits per dimension is ``-log_likelihood / (C H W ln 2)``."""

    latents: Any
    codes: torch.Tensor | None = None
    log_likelihood: torch.Tensor | None = None


class Autoencoder(Adapter[ArgsT]):
    """Base of autoencoder adapters: implement :meth:`encode` and :meth:`decode`; set ``codebook_size`` for a
    discrete model (the share of codes used is measured against it)."""

    kind: ClassVar[str] = "autoencoder"
    #: codebook entries of a discrete model; None for continuous latents
    codebook_size: int | None = None
    _monitor: RangeMonitor | None = None

    @to_implement
    def encode(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> Encoding:
        """uint8 NCHW images → their encoding. ``seeds`` (one per image) seed anything random (an ELBO's samples),
        so an image's numbers do not depend on the batch it came in."""
        raise NotImplementedError

    @to_implement
    def decode(self, encoding: Encoding) -> torch.Tensor:
        """An encoding → images: uint8 NCHW, or floats in the adapter's ``range``."""
        raise NotImplementedError

    def reconstruct(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> tuple[torch.Tensor, Encoding]:
        """(uint8 reconstructions, the encoding) of uint8 ``images``: decode(encode(images))."""
        enc = self.encode(images, seeds)
        out = self.decode(enc)
        return self._uint8(out), enc

    def _uint8(self, out: torch.Tensor) -> torch.Tensor:
        out = torch.as_tensor(out).detach().cpu()
        if out.dtype == torch.uint8:
            return out
        rng = parse_range(getattr(self.args, "range", None)) or (-1.0, 1.0)
        if self._monitor is None:
            self._monitor = RangeMonitor(rng)
        return to_uint8(out, rng, what=type(self).__name__, monitor=self._monitor)

    def output_problem(self) -> str | None:
        return None if self._monitor is None else self._monitor.problem()


def to_float(images: torch.Tensor, rng: tuple[float, float], device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images → float32 in ``rng`` (0 → lo, 255 → hi): the inverse of bench.images.to_uint8's mapping."""
    lo, hi = rng
    return (images.to(device).float() / 255.0) * (hi - lo) + lo


# ============================================================================================ baselines
class IdentityAutoencoder(Autoencoder):
    """Returns its input: perfect reconstruction (PSNR at the cap, SSIM 1, rFID 0); no codes, no likelihood."""

    data_only = True

    def encode(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> Encoding:
        return Encoding(images.clone())

    def decode(self, encoding: Encoding) -> torch.Tensor:
        return encoding.latents  # type: ignore[no-any-return]


class BlurArgs(AdapterArgs):
    sigma: float = Field(default=1.0, gt=0, description="Gaussian blur standard deviation in pixels")


class BlurAutoencoder(Autoencoder[BlurArgs]):
    """The input, Gaussian-blurred (bench.adapters.baselines.gaussian_blur): the blurry reconstruction a weak
    autoencoder makes; every number but a perfect one."""

    Args = BlurArgs
    data_only = True

    def encode(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> Encoding:
        return Encoding(images.clone())

    def decode(self, encoding: Encoding) -> torch.Tensor:
        from bench.adapters.baselines import gaussian_blur

        return gaussian_blur(encoding.latents, self.args.sigma)


# ============================================================================================ the digits zoo
#: train_vae.py's loss, squared error on the [-1, 1] scale plus the KL term (weight 1), is the negative ELBO of a
#: Gaussian decoder of variance 1/2: 1 / (2 sigma^2) = 1
VAE_DECODER_SIGMA = math.sqrt(0.5)


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, sigma: float) -> torch.Tensor:
    """Per-image log-probability (nats) of uint8 images ``x`` under a Gaussian of ``mean`` (on the [-1, 1] scale)
    and ``sigma``, discretized to the 256 bins of 8-bit values (bin width 2/255; the end bins extend to infinity,
    as PixelCNN++ discretizes its logistic): a probability of the 8-bit image, so it never exceeds 0 and bits per
    dimension are comparable with other discrete models."""
    v = x.double() / 127.5 - 1.0
    m = mean.double()
    half = 1.0 / 255.0
    upper = torch.where(x == 255, torch.ones_like(v), torch.special.ndtr((v + half - m) / sigma))
    lower = torch.where(x == 0, torch.zeros_like(v), torch.special.ndtr((v - half - m) / sigma))
    return torch.log((upper - lower).clamp_min(1e-300)).flatten(1).sum(1)


class ZooAutoencoderArgs(AdapterArgs):
    name: str = Field(description="zoo autoencoder: vae (continuous, with its ELBO) or vqvae (64 discrete codes)")
    elbo_samples: int = Field(default=16, gt=0, description="VAE: posterior samples per image of the ELBO's "
                                                            "reconstruction term (drawn from the image's own seed)")

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        from bench import zoo

        if zoo.entry(v)["arch"] not in ("vae", "vqvae"):  # ConfigError with did-you-mean for unknown names
            raise ValueError(f"zoo model '{v}' is a generator without an encoder; zoo autoencoders: vae, vqvae")
        return v


class ZooAutoencoder(Autoencoder[ZooAutoencoderArgs]):
    """A shipped digits autoencoder, sha256-verified: ``vae`` (reconstructs from the posterior mean; reports its
    ELBO with a discretized Gaussian decoder of the variance its training loss implies) or ``vqvae`` (16 codes per
    image from a codebook of 64)."""

    Args = ZooAutoencoderArgs

    def __init__(self, args: ZooAutoencoderArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        from bench import zoo

        self.net: Any = zoo.load(self.args.name).to(self.device)
        self.codebook_size = getattr(self.net, "codebook_size", None)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> Encoding:
        x = to_float(images, (-1.0, 1.0), self.device)
        if self.net.arch == "vqvae":
            zq, codes = self.net.quantize(self.net.encode_continuous(x))
            return Encoding(zq, codes.cpu())
        mu, logvar = self.net.encode(x)
        ll = None if seeds is None else self._elbo(images, mu, logvar, seeds)
        return Encoding(mu, None, ll)

    def _elbo(self, images: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """ELBO (nats) of each 8-bit image: E_q[log p(x|z)] over ``elbo_samples`` posterior samples from the image's
        own seed, minus the analytic KL(q(z|x) || N(0, I))."""
        from bench.seeding import latents_from_seeds

        s = self.args.elbo_samples
        n, d = mu.shape
        eps = latents_from_seeds(list(seeds), (s, d)).to(self.device)  # [n, s, d], one generator per image
        z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps
        mean = self.net.decode(z.reshape(n * s, d)).view(n, s, *images.shape[1:])
        x = images.to(self.device)[:, None].expand(-1, s, -1, -1, -1).reshape(n * s, *images.shape[1:])
        rec = discretized_gaussian_log_likelihood(x, mean.reshape(n * s, *images.shape[1:]), VAE_DECODER_SIGMA)
        kl = 0.5 * (mu.double() ** 2 + logvar.double().exp() - 1 - logvar.double()).sum(1)
        return (rec.view(n, s).mean(1) - kl).cpu()

    @torch.no_grad()
    def decode(self, encoding: Encoding) -> torch.Tensor:
        return self.net.decode(encoding.latents)  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        from bench import zoo

        return {**super().describe(), "sha256": zoo.entry(self.args.name)["sha256"]}


# ============================================================================================ your own model
class _ModelArgs(AdapterArgs):
    range: str | list[float] = Field(default="-1,1", description="value range of the model's float inputs and outputs")
    codebook_size: int | None = Field(default=None, gt=0, description=(
        "codebook entries of a discrete model (default: the model's codebook_size attribute)"))
    device: str | None = Field(default=None, description="where the model runs (default: the run's device)")


_ModelArgsT = TypeVar("_ModelArgsT", bound=_ModelArgs)


class _ModelAutoencoder(Autoencoder[_ModelArgsT]):
    """A model object with ``encode(x)`` and ``decode(latents)`` on floats in ``range``. ``encode`` returns the
    latents, or ``(latents, codes)``, or a dict with ``latents`` (and ``codes``, ``log_likelihood``); an optional
    ``elbo(x)`` returns each image's ELBO or log-likelihood in nats of the 8-bit image. Anything random in them is
    seeded per batch from the images' seeds (a model that draws per image from its own generator is batch
    invariant; others are only reproducible)."""

    model: Any

    def _setup(self) -> None:
        a = self.args
        for method in ("encode", "decode"):
            if not callable(getattr(self.model, method, None)):
                raise ConfigError(f"{self.label()}: an autoencoder model needs an {method}() method")
        size = a.codebook_size if a.codebook_size is not None else getattr(self.model, "codebook_size", None)
        self.codebook_size = None if size is None else int(size)
        self._rng = parse_range(a.range) or (-1.0, 1.0)

    def label(self) -> str:
        return "model"

    @torch.no_grad()
    def encode(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> Encoding:
        from bench.seeding import derive_seed

        x = to_float(images, self._rng, self.device)
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # seeded here, the caller's random state untouched
            if seeds is not None:
                torch.manual_seed(derive_seed(*[int(s) for s in seeds]) % 2**63)
            out = self.model.encode(x)
            given = isinstance(out, dict) and out.get("log_likelihood") is not None
            elbo = getattr(self.model, "elbo", None)
            ll = elbo(x) if not given and callable(elbo) else None
        if isinstance(out, dict):
            enc = Encoding(out["latents"], out.get("codes"), out.get("log_likelihood"))
        elif isinstance(out, tuple | list):
            if len(out) != 2:
                raise InputError(f"{self.label()}: encode() returned {len(out)} values; return latents, "
                                 "(latents, codes) or a dict")
            enc = Encoding(out[0], out[1])
        else:
            enc = Encoding(out)
        if enc.log_likelihood is None:
            enc.log_likelihood = ll
        if enc.codes is not None:
            enc.codes = torch.as_tensor(enc.codes).detach().cpu().long()
        if enc.log_likelihood is not None:
            enc.log_likelihood = torch.as_tensor(enc.log_likelihood).detach().cpu().double().reshape(-1)
        return enc

    @torch.no_grad()
    def decode(self, encoding: Encoding) -> torch.Tensor:
        return self.model.decode(encoding.latents)  # type: ignore[no-any-return]


class PythonAutoencoderArgs(_ModelArgs):
    target: str = Field(description="'module:attr' of a factory (called with kwargs) or an object with encode/decode")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class PythonAutoencoder(_ModelAutoencoder[PythonAutoencoderArgs]):
    """Your own autoencoder from Python: ``target: module:attr`` names an object (or a class / factory called with
    ``kwargs``) with ``encode(x)`` and ``decode(latents)`` on floats in ``range``; optional ``codebook_size`` and
    ``elbo(x)``."""

    Args = PythonAutoencoderArgs

    @classmethod
    def check_args(cls, args: PythonAutoencoderArgs, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        from bench.adapters.sources import check_target

        return check_target(args.target, resolve)

    def __init__(self, args: PythonAutoencoderArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        from bench.adapters.sources import load_target

        self.model = load_target(args.target, args.kwargs, ctx.resolve_path, self.device, method="encode")
        self._setup()

    def label(self) -> str:
        return self.args.target


class TorchScriptAutoencoderArgs(_ModelArgs):
    path: str = Field(description="a TorchScript file whose module exports encode() and decode() (@torch.jit.export)")


class TorchScriptAutoencoder(_ModelAutoencoder[TorchScriptAutoencoderArgs]):
    """A TorchScript autoencoder file: a module with ``@torch.jit.export``-ed ``encode(x)`` (latents, or a tuple
    ``(latents, codes)``) and ``decode(latents)``, optionally ``elbo(x)`` and a ``codebook_size`` attribute."""

    Args = TorchScriptAutoencoderArgs

    @classmethod
    def check_args(cls, args: TorchScriptAutoencoderArgs, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        p = resolve(args.path)
        return [] if p.is_file() else [(("path",), f"{p}: TorchScript file does not exist")]

    def __init__(self, args: TorchScriptAutoencoderArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        p = ctx.resolve_path(args.path)
        if not p.is_file():
            raise InputError(f"{p}: TorchScript file does not exist")
        try:
            self.model = torch.jit.load(str(p), map_location=self.device).eval()
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise InputError(f"{p}: cannot load TorchScript ({exc.__class__.__name__}: {first})") from None
        self._path = p
        self._setup()

    def label(self) -> str:
        return str(self._path)


# ============================================================================================ diffusers
class DiffusersAutoencoderArgs(AdapterArgs):
    pretrained: str = Field(description="a local save_pretrained folder (or hub id) of an AutoencoderKL or VQModel")
    subfolder: str | None = Field(default=None, description="the model's folder inside a pipeline (e.g. vae)")
    revision: str | None = Field(default=None, description="hub revision (a commit hash pins the weights)")
    torch_dtype: str = Field(default="float32", pattern="^(float32|float16|bfloat16)$")
    device: str | None = Field(default=None, description="default: the run's device")


#: the diffusers autoencoder classes this adapter runs
DIFFUSERS_CLASSES = ("AutoencoderKL", "VQModel")


def _diffusers_class(folder: Path) -> str | None:
    cfg = folder / "config.json"
    try:
        return str(json.loads(cfg.read_text(encoding="utf-8")).get("_class_name")) if cfg.is_file() else None
    except (OSError, ValueError):
        return None


class DiffusersAutoencoder(Autoencoder[DiffusersAutoencoderArgs]):
    """A diffusers ``AutoencoderKL`` (reconstructs from the posterior mode, as tokenizer evaluations do) or
    ``VQModel`` (its codebook indices are the codes) from a save_pretrained folder or a hub id
    (``genbench[diffusers]``); inputs mapped to [-1, 1], grey images repeated to the model's channels."""

    Args = DiffusersAutoencoderArgs

    @classmethod
    def check_args(cls, args: DiffusersAutoencoderArgs, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        from bench.adapters.hf import pretrained_problems

        a = args
        problems = pretrained_problems(a.pretrained, resolve, "diffusers")
        folder = Path(resolve(a.pretrained)) / (a.subfolder or "")
        name = _diffusers_class(folder)
        if not problems and folder.is_dir() and name is not None and name not in DIFFUSERS_CLASSES:
            problems.append((("pretrained",), f"{folder}: a {name}; diffusers-autoencoder runs {', '.join(DIFFUSERS_CLASSES)}"))
        return problems

    @classmethod
    def dry_run(cls, args: DiffusersAutoencoderArgs, resolve: Any) -> list[str]:
        from bench.adapters.hf import hub_entry

        a = args
        return [hub_entry(a.pretrained, a.revision, resolve, os.path.join(a.subfolder or "", "config.json"))]

    def __init__(self, args: DiffusersAutoencoderArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        try:
            import diffusers
        except ImportError:
            raise ConfigError("diffusers-autoencoder needs the diffusers package: pip install 'genbench[diffusers]'") from None
        from bench.adapters.hf import DTYPES, from_pretrained

        a = self.args
        resolve = ctx.resolve_path if ctx is not None else Path
        name = _diffusers_class(Path(resolve(a.pretrained)) / (a.subfolder or ""))
        if name is not None and name not in DIFFUSERS_CLASSES:
            raise ConfigError(f"{a.pretrained}: a {name}; diffusers-autoencoder runs {', '.join(DIFFUSERS_CLASSES)}")
        kw: dict[str, Any] = {"torch_dtype": DTYPES[a.torch_dtype]}
        if a.subfolder:
            kw["subfolder"] = a.subfolder
        if a.revision:
            kw["revision"] = a.revision
        cls = getattr(diffusers, name or "AutoencoderKL")
        self.model = from_pretrained(cls.from_pretrained, a.pretrained, resolve, f"diffusers {cls.__name__}",
                                     **kw).eval().to(self.device)
        self.dtype = DTYPES[a.torch_dtype]
        self.discrete = type(self.model).__name__ == "VQModel"
        self.codebook_size = int(self.model.config.num_vq_embeddings) if self.discrete else None
        self.channels = int(self.model.config.in_channels)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> Encoding:
        x = to_float(match_channels(images, self.channels), (-1.0, 1.0), self.device).to(self.dtype)
        if self.discrete:
            h = self.model.encode(x).latents
            quant, _, (_, _, idx) = self.model.quantize(h)
            return Encoding(quant, idx.reshape(x.shape[0], -1).cpu().long())
        return Encoding(self.model.encode(x).latent_dist.mode())

    @torch.no_grad()
    def decode(self, encoding: Encoding) -> torch.Tensor:
        if self.discrete:  # already quantized: decode without quantizing again
            return self.model.decode(encoding.latents, force_not_quantize=True).sample.float().clamp(-1, 1)  # type: ignore[no-any-return]
        return self.model.decode(encoding.latents).sample.float().clamp(-1, 1)  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "class": type(self.model).__name__}


__all__ = ["Autoencoder", "Encoding"]
