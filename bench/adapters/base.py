"""The image-generator protocol and the adapter registry.

A generator answers a :class:`GenerationRequest`: the sample indices it must produce, one seed per sample, and
optional conditions (class labels or prompts). Per-sample seeds make the output independent of batch size.
Outputs are uint8 ``[N, C, H, W]`` (or floats in a declared range, converted by :mod:`bench.images`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from bench.errors import ConfigError
from bench.registry import Registry
from bench.seeding import latents_from_seeds


@dataclass(frozen=True)
class GenerationRequest:
    indices: Sequence[int]
    seeds: Sequence[int]
    classes: Sequence[int] | None = None
    prompts: Sequence[str] | None = None
    #: the run's device: where latents() puts its tensor and where the model is expected to compute
    device: str = "cpu"

    @property
    def n(self) -> int:
        return len(self.seeds)

    def latents(self, *shape: int) -> torch.Tensor:
        """Standard-normal latents ``[n, *shape]``, one CPU generator per sample seed (the same numbers on every
        device), placed on ``device``."""
        return latents_from_seeds(list(self.seeds), tuple(shape)).to(self.device)


@runtime_checkable
class ImageGenerator(Protocol):
    """Kind ``image-generator``: samples for a GenerationRequest (uint8 NCHW, or floats in a declared range)."""

    kind: ClassVar[str]

    def generate(self, request: GenerationRequest) -> torch.Tensor: ...


@runtime_checkable
class TextToImageGenerator(Protocol):
    """Kind ``text-to-image``: the same ``generate``, with ``request.prompts`` set."""

    kind: ClassVar[str]

    def generate(self, request: GenerationRequest) -> torch.Tensor: ...


@runtime_checkable
class ImageTranslator(Protocol):
    """Kind ``translator``: translations of a TranslationRequest (bench.adapters.translators), in the directions it
    names; ``cycle`` translates there and back."""

    kind: ClassVar[str]

    def directions(self) -> tuple[str, ...]: ...

    def translate(self, request: Any) -> torch.Tensor: ...

    def cycle(self, request: Any, forward: torch.Tensor | None = None) -> torch.Tensor: ...


@runtime_checkable
class ImageCaptioner(Protocol):
    """Kind ``captioner``: one caption per uint8 image."""

    kind: ClassVar[str]

    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]: ...


@runtime_checkable
class TextImageRetriever(Protocol):
    """Kind ``retriever``: image and text embeddings in one space (one row per image / text)."""

    kind: ClassVar[str]

    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> Any: ...

    def embed_texts(self, texts: list[str]) -> Any: ...


@runtime_checkable
class ImageAutoencoder(Protocol):
    """Kind ``autoencoder`` (VAEs, VQ tokenizers; subclass bench.adapters.autoencoders.Autoencoder):
    ``encode(images, seeds)`` → an Encoding (latents, optional discrete codes, optional log-likelihood bound),
    ``decode(encoding)`` → reconstructions of the same size; ``reconstruct`` (uint8 reconstructions and the encoding)
    comes with the base class."""

    kind: ClassVar[str]

    def encode(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> Any: ...

    def decode(self, encoding: Any) -> torch.Tensor: ...

    def reconstruct(self, images: torch.Tensor, seeds: Sequence[int] | None = None) -> tuple[torch.Tensor, Any]: ...


def to_implement(fn: Any) -> Any:
    """Marks a base class's method that each concrete adapter must override (checked when an adapter is built)."""
    fn.__isabstract__ = True
    return fn


#: the protocol each adapter kind implements; ``build_adapter`` checks it when an adapter is built
KIND_PROTOCOLS: dict[str, type] = {
    "image-generator": ImageGenerator,
    "text-to-image": TextToImageGenerator,
    "translator": ImageTranslator,
    "captioner": ImageCaptioner,
    "retriever": TextImageRetriever,
    "autoencoder": ImageAutoencoder,
}


def protocol_problem(cls: type) -> str | None:
    """Why an adapter class does not implement its kind's protocol (a method missing or left abstract), or None."""
    proto = KIND_PROTOCOLS.get(getattr(cls, "kind", ""))
    if proto is None:
        return f"unknown adapter kind '{getattr(cls, 'kind', '')}' (one of {', '.join(KIND_PROTOCOLS)})"
    kind = getattr(cls, "kind", "")
    for name in (m for m in dir(proto) if not m.startswith("_") and m != "kind"):
        fn = getattr(cls, name, None)
        if not callable(fn) or getattr(fn, "__isabstract__", False):
            return f"a {kind} adapter must implement {name}()"
    return None


class AdapterArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class AdapterContext:
    """What an adapter may use from the suite: dataset lookup and path resolution."""

    resolve_path: Callable[[str], Path] = Path
    datasets: Callable[[str], Any] | None = None
    dataset_names: Sequence[str] = field(default_factory=tuple)
    #: the run's device (suite runtime.device / --device); models go there unless their own args say otherwise
    device: str = "cpu"


#: an adapter's own arguments model (``Adapter.Args``)
ArgsT = TypeVar("ArgsT", bound=AdapterArgs)


class Adapter(Generic[ArgsT]):
    """Base for registered adapters: ``Args`` validates the suite's ``args`` mapping.

    An adapter is generic in its arguments, ``class MyAdapter(Adapter[MyArgs])`` with ``Args = MyArgs``, so
    ``self.args`` and the ``args`` of the classmethods (:meth:`check_args`, :meth:`dry_run`, ...) are typed
    ``MyArgs``; a plain ``class MyAdapter(Adapter)`` works the same at run time (its ``args`` is then untyped to a
    type checker)."""

    kind: ClassVar[str] = "image-generator"
    Args: ClassVar[type[AdapterArgs]] = AdapterArgs
    #: data-only adapters replay outputs made elsewhere and never run code
    data_only: ClassVar[bool] = False

    def __init__(self, args: ArgsT, ctx: AdapterContext) -> None:
        self.args: ArgsT = args
        self.ctx = ctx
        #: the name it was built under (``adapter:`` in a suite); the class name when built directly
        self.registered_name: str = type(self).__name__

    @classmethod
    def check_args(cls, args: ArgsT, resolve: Callable[[str], Path]) -> list[tuple[tuple[Any, ...], str]]:
        """Problems ``genbench validate`` can see without building the model (a missing file, a module that does
        not import), as (argument path, message); reported at the argument's file:line."""
        return []

    @classmethod
    def unavailable(cls, args: ArgsT, resolve: Callable[[str], Path]) -> tuple[tuple[Any, ...], str] | None:
        """Why this model cannot be built on this machine now (offline, a hub model not cached), as (argument path,
        message), or None: a run refuses it before any work; ``validate`` and ``--dry-run`` still accept the suite."""
        return None

    @classmethod
    def dry_run(cls, args: ArgsT, resolve: Callable[[str], Path]) -> list[str]:
        """What building this model reads or fetches, for ``genbench run --dry-run``: one entry per file or
        download, ending in ``[present]``, ``[MISSING]`` or ``[would download]``. Default: its ``path`` argument."""
        path = getattr(args, "path", None)
        if not isinstance(path, str):
            return []
        p = resolve(path)
        return [f"{p} [{'present' if p.exists() else 'MISSING'}]"]

    @classmethod
    def accepts_classes(cls, args: ArgsT) -> bool:
        """Whether this adapter, with these arguments, honours ``GenerationRequest.classes``. Unconditional
        generators (the default) are refused by class-conditional tasks at validate time: silently ignoring the
        labels would make class accuracy and intra-class FID meaningless."""
        return False

    def item_bytes(self) -> int | None:
        """uint8 bytes of one sample when known without producing it (replayed files): the task then reads them in
        batches of bounded size (bench.images.decode_batch_size) whatever its batch size. None: unknown."""
        return None

    def content_key(self, n: int) -> str | None:
        """A content key for this model's first ``n`` samples whatever the seeds, when it can vouch for them without
        producing them (replayed files: their digest); None otherwise (the samples are hashed as they are made).
        With a key, cached features are used without generating or decoding anything."""
        return None

    def output_problem(self) -> str | None:
        """Something suspicious about this model's outputs so far (e.g. a value range that looks wrong), or None;
        the task warns and flags the model's rows (``extras.output_warning``: not ranked)."""
        return None

    def model_key(self) -> str | None:
        """A name for this model's outputs that changes whenever they could: its files' sha256, its arguments and
        the source of the code that makes them (:func:`source_digest`), when the adapter can vouch for all of them.
        A generated set is then cached by (this key, seeds, conditions, n, device) and a re-run reads its features
        without generating anything. None (the default; always for Python code genbench cannot see whole): the
        samples are made and hashed as they stream, every run."""
        return None

    @property
    def device(self) -> torch.device:
        """Where this model runs: its own ``device`` argument when given, else the run's device."""
        own = getattr(self.args, "device", None)
        return torch.device(own or (self.ctx.device if self.ctx is not None else "cpu"))

    def describe(self) -> dict[str, Any]:
        return {"adapter": type(self).__name__, "args": self.args.model_dump(mode="json")}


def source_digest(*modules: Any) -> str:
    """sha256 of the source files of ``modules`` (a package: every ``.py`` under it): part of a model key, so an
    edited sampler, quantizer or seed scheme never serves features of the old code's samples."""
    import hashlib
    import inspect

    h = hashlib.sha256()
    for m in modules:
        path = Path(inspect.getfile(m))
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for f in files:
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def keyed(*parts: Any) -> str:
    """A model key from JSON-able parts."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


ADAPTERS: Registry[type[Adapter]] = Registry("adapter", base=Adapter, group="genbench.adapters")


def validate_args(name: str, args: dict[str, Any]) -> AdapterArgs:
    cls = ADAPTERS.get(name)
    return cls.Args.model_validate(args)


def build_adapter(name: str, args: dict[str, Any], ctx: AdapterContext) -> Adapter:
    """The adapter ``name`` with validated ``args``, checked to implement its kind's protocol (KIND_PROTOCOLS)."""
    cls = ADAPTERS.get(name)
    why = protocol_problem(cls)
    if why is not None:
        raise ConfigError(f"adapter '{name}' ({cls.__module__}.{cls.__qualname__}): {why}")
    try:
        parsed = cls.Args.model_validate(args)
    except ValidationError as exc:
        raise ConfigError(f"adapter '{name}': {exc}") from None
    adapter = cls(parsed, ctx)
    adapter.registered_name = name
    return adapter
