"""The backbone interface: uint8 NCHW images in, a dict of named float32 feature layers out."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from bench.guard import is_out_of_memory, release_memory
from bench.registry import Registry
from bench.runtime import trim_heap, tune_cpu_allocator

#: the largest float32 input batch a backbone builds before its own resize (see Backbone.forward_rows)
FLOAT_BATCH_BYTES = 16 * 2**20
#: batches of a stream between two returns of freed heap memory to the OS (bench.runtime.trim_heap)
TRIM_EVERY = 8


class Backbone:
    """A feature network with its weights and preprocessing.

    Subclasses set ``name``, ``layers`` (what :meth:`forward` returns), and implement :meth:`load`,
    :meth:`preprocess` and :meth:`forward`. ``describe()`` is the protocol record: everything that changes the
    numbers is in it, and it is part of the feature-cache key.
    """

    name: str = ""
    layers: tuple[str, ...] = ()
    batch_size: int = 256
    #: images per forward call on the CPU where fewer than ``batch_size`` are faster (None: ``batch_size``).
    #: Activations of a few images stay under the allocator's mmap threshold (bench.runtime.tune_cpu_allocator)
    #: and in the CPU caches; a network whose features do not depend on the batch size gives the same rows.
    cpu_batch_size: int | None = None
    #: layers that hold class logits (for IS, class coverage)
    logits_layer: str | None = None
    #: layer used for distribution metrics (FID, KID, PR)
    default_layer: str = ""
    #: other tools' names of layers in ``layers`` (a metric may ask for ``pool_3``), alias → layer
    layer_aliases: dict[str, str] = {}
    #: whether ``NAME:SPEC`` selects a variant (``clip:ViT-L-14@openai``); SPEC is passed as ``spec=``
    accepts_spec: bool = False
    #: third-party weights files this backbone may resolve (bench.weights.WeightsFile); the weights manifest
    #: (``genbench weights list``) is gathered from these declarations
    weights_files: tuple[Any, ...] = ()
    #: whether ``inference="fast"`` (same network, faster kernels, features equal to float32 round-off) exists
    supports_fast_inference: bool = False
    #: the largest relative difference (max |a - b| / max |b| per layer) between this backbone's features of the same
    #: images computed at batch sizes 1, 7, 32 and 64; 0.0: bit-equal (tests/test_invariance.py holds it).
    #: ``batch_rtol_why`` says where a nonzero bound comes from.
    batch_rtol: float = 1e-5
    batch_rtol_why: str = ("fully-connected layers and attention are BLAS matrix products: one image goes through the "
                           "matrix-vector kernel, several through the blocked matrix-matrix one, so the last bits may "
                           "differ (1e-7 to 1.5e-6 relative for a batch of 1 on x86-64: ADM's spatial layer and VGG16's "
                           "fc2 measured 1.4e-6 and 1.2e-6; batches of 7, 32 and 64 bit-equal there)")
    #: ``genbench selftest``: the relative difference to the recorded features still called "reproduced"
    #: (float32 round-off of another CPU, BLAS or torch release; bench.selftest)
    selftest_rtol: float = 1e-4

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "load" in cls.__dict__:  # every backbone's loader reports a bad weights file in one line
            cls.load = _checked_load(cls.__dict__["load"])  # type: ignore[method-assign]

    def __init__(self, weights: str | None = None, device: str = "cpu", inference: str = "exact") -> None:
        from bench.errors import ConfigError

        if inference not in INFERENCE_MODES:
            raise ConfigError(f"inference '{inference}': expected one of {', '.join(INFERENCE_MODES)}")
        if inference == "fast" and not self.supports_fast_inference:
            raise ConfigError(f"backbone '{self.name}' has no fast inference mode (inference: fast is available for "
                              f"{', '.join(n for n in BACKBONES.names() if BACKBONES.get(n).supports_fast_inference)})")
        self.inference = inference
        self.weights_arg = weights
        self.device = torch.device(device)
        self.weights_sha256: str | None = None
        self.passes = 0  # image sets pushed through forward (tests assert one pass per set)
        #: images per forward call after running out of device memory (None: the batch as given; bench.guard)
        self.oom_rows: int | None = None

    # -- to implement ------------------------------------------------------------------------------
    def check_weights(self) -> list[str]:
        """Problems that would stop :meth:`load` (missing files), without loading anything."""
        return []

    def load(self) -> None:
        raise NotImplementedError

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def preprocessing(self) -> dict[str, Any]:
        """Resize, quantization and normalisation as data (recorded in every result's protocol)."""
        raise NotImplementedError

    def required_weights(self) -> Any:
        """The third-party :class:`bench.weights.WeightsFile` :meth:`load` resolves when no explicit path is given
        (None: bundled with genbench). ``genbench run --dry-run`` lists it with its URL and cache path."""
        return None

    def published_weights_sha256(self) -> str | None:
        """sha256 of the published default weights file, where pinned (what a tool's statistics were made with)."""
        return None

    def dry_run(self) -> str | None:
        """``run --dry-run``'s line for weights that are not one :class:`bench.weights.WeightsFile` (a Hugging Face
        folder or hub id), or None to describe :meth:`required_weights`."""
        return None

    def resolve_weights(self) -> None:
        """Resolve and hash the weights: all that cache keys and protocols need, and where missing files fail
        early. By default this builds the network too; backbones whose network is costly to build override it
        together with :meth:`ensure_built`, so a fully cached re-score never builds one."""
        if self.weights_sha256 is None:
            self.load()

    def ensure_built(self) -> None:
        """Build the network before the first forward pass."""
        if self.weights_sha256 is None:
            self.load()

    def domain_problem(self, item_shape: tuple[int, ...]) -> str | None:
        """Why images of this shape (C, H, W) are not what the network was trained on (then its numbers are not
        comparable to anything published), or None. The offline digits and shapes networks say so."""
        return None

    # -- shared ------------------------------------------------------------------------------------
    def layer_name(self, want: str) -> str | None:
        """The layer a metric's ``layer`` names: ``default`` (the distribution layer), ``logits``, ``embed`` (a
        text-image backbone's joint space), a name in ``layers`` or one of ``layer_aliases`` (the names other tools
        use, e.g. ``pool_3``); None when this backbone has no such layer."""
        if want == "default":
            return self.default_layer or None
        if want == "logits":
            return self.logits_layer
        if want == "embed":
            return getattr(self, "embed_layer", None)
        want = self.layer_aliases.get(want, want)
        return want if want in self.layers else None

    def describe(self) -> dict[str, Any]:
        d = {
            "backbone": self.name,
            "weights_sha256": self.weights_sha256,
            "preprocessing": self.preprocessing(),
        }
        if self.inference != "exact":  # part of the feature-cache key, not of the protocol (same numbers to ~1e-6)
            d["inference"] = self.inference
        return d

    @torch.no_grad()
    def extract(self, images: torch.Tensor, progress: Any = None) -> dict[str, np.ndarray]:
        """All layers for a whole uint8 image set, in batches of ``batch_size``."""
        return self.extract_batches([images], progress)

    def forward_rows(self, batch: torch.Tensor) -> int:
        """How many images of this size go through :meth:`forward` at once: ``batch_size``, fewer for large images
        so one preprocessed float batch stays within ``FLOAT_BATCH_BYTES`` (1,024 digits-sized images are 256 KB;
        1,024 images of 1024x1024 RGB would be 12 GB)."""
        per_image = 4 * max(1, int(batch[0].numel()))
        size = self.cpu_batch_size if self.cpu_batch_size and self.device.type == "cpu" else self.batch_size
        return max(1, min(size, FLOAT_BATCH_BYTES // per_image))

    @torch.no_grad()
    def extract_batches(self, batches: Iterable[torch.Tensor], progress: Any = None) -> dict[str, np.ndarray]:
        """All layers for a uint8 image set given as an iterable of batches (a stream: only one batch is held)."""
        return extract_many([self], batches, progress)[0]

    @torch.no_grad()
    def add_rows(self, images: torch.Tensor, outs: dict[str, list[np.ndarray]]) -> None:
        """Append the features of one uint8 batch to ``outs`` (layer → list of row blocks), in forward-sized pieces."""
        rows = self.forward_rows(images) if images.shape[0] else 1
        for start in range(0, images.shape[0], rows):
            feats = self.forward(self.preprocess(images[start: start + rows]).to(self.device))
            for k in self.layers:
                outs[k].append(feats[k].detach().float().cpu().numpy())


@torch.no_grad()
def extract_many(backbones: list[Backbone], batches: Iterable[torch.Tensor], progress: Any = None,
                 on_batch: Any = None, initial: list[dict[str, list[np.ndarray]]] | None = None) -> list[dict[str, np.ndarray]]:
    """Every layer of every backbone for one stream of uint8 batches, read once: each batch goes through all the
    backbones before the next is made, so a model's samples are generated (or files decoded) once for all of them.
    ``on_batch(rows_done, row_blocks)`` is called after each batch (incremental writes of a long stream);
    ``initial``: row blocks of a finished part (a resumed stream), kept in front."""
    for b in backbones:
        b.ensure_built()
        b.passes += 1
    outs: list[dict[str, list[np.ndarray]]] = initial or [{k: [] for k in b.layers} for b in backbones]
    done = 0
    if any(b.device.type == "cpu" for b in backbones):
        tune_cpu_allocator()
    trim_heap()  # start from what earlier work left free, not on top of it
    with contextlib.ExitStack() as stack:
        stack.callback(trim_heap)  # and leave the stream's free buffers to the next pass, not to the process
        for dev in {b.device for b in backbones}:
            stack.enter_context(full_float32(dev))
        for i, images in enumerate(batches):
            if i % TRIM_EVERY == TRIM_EVERY - 1:
                trim_heap()
            for b, out in zip(backbones, outs, strict=True):
                _add_rows_fitting(b, images, out)
            done += int(images.shape[0])
            if progress is not None:
                progress.update(int(images.shape[0]))
            if on_batch is not None:
                on_batch(done, outs)
    return [{k: _join_rows(v) for k, v in out.items()} for out in outs]


def _join_rows(blocks: list[np.ndarray]) -> np.ndarray:
    """A layer's row blocks as one array, each block dropped from ``blocks`` once copied: the peak is the features
    plus one block, not twice the features (50,000 Inception pool + logits rows are 600 MB)."""
    if not blocks:
        return np.zeros((0,), np.float32)
    out = np.empty((sum(len(b) for b in blocks), *blocks[0].shape[1:]), dtype=np.result_type(*blocks))
    blocks.reverse()
    start = 0
    while blocks:
        block = blocks.pop()
        out[start: start + len(block)] = block
        start += len(block)
    return out


def _add_rows_fitting(b: Backbone, images: torch.Tensor, out: dict[str, list[np.ndarray]]) -> None:
    """``b.add_rows``, in pieces of at most ``b.oom_rows`` images: a piece that runs out of device memory is
    halved and retried (its partial rows taken back first), and the size that fits is kept for the next batches.
    Features are per image, so the rows are the same whatever the piece size."""
    step = min(int(images.shape[0]), getattr(b, "oom_rows", None) or int(images.shape[0])) or 1
    for start in range(0, max(int(images.shape[0]), 1), step):
        piece = images[start: start + step]
        marks = {k: len(v) for k, v in out.items()}
        try:
            b.add_rows(piece, out)
        except Exception as exc:
            if not is_out_of_memory(exc) or piece.shape[0] <= 1:
                raise
            del exc
            for k, v in out.items():
                del v[marks[k]:]
            release_memory()
            b.oom_rows = max(1, int(piece.shape[0]) // 2)
            warnings.warn(f"backbone '{b.name}': out of memory on {piece.shape[0]} images; retrying with "
                          f"{b.oom_rows}", stacklevel=2)
            _add_rows_fitting(b, piece, out)


def _checked_load(load: Any) -> Any:
    """``load`` with any failure to read the weights (a truncated or corrupt file, another network's state dict)
    turned into one WeightsError naming the file, what went wrong and, where a published sha256 is pinned, whether
    the file is the published one."""
    import functools

    @functools.wraps(load)
    def checked(self: Backbone) -> None:
        from bench.errors import GenbenchError, WeightsError
        from bench.progress import announce

        try:
            with announce(f"building backbone {self.name} on {self.device}"):
                load(self)
        except GenbenchError:
            raise
        except Exception as exc:
            what = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            where = self.weights_arg or f"the weights file of '{self.name}'"
            hint = ""
            published = self.published_weights_sha256()
            if self.weights_arg is not None and published:
                from bench.weights import sha256_file

                actual = sha256_file(self.weights_arg)
                hint = ("; its sha256 matches the published file" if actual == published else
                        f"; its sha256 {actual[:16]}... is not the published file's {published[:16]}...")
            raise WeightsError(f"{where}: cannot load weights for backbone '{self.name}' "
                               f"({exc.__class__.__name__}{': ' + what if what else ''}){hint}") from None

    return checked


@contextlib.contextmanager
def full_float32(device: torch.device) -> Iterator[None]:
    """Backbones compute in full float32 on every device: on a GPU, TF32 (on by default for cuDNN convolutions)
    would move Inception features by ~1e-3 relative, far beyond the round-off the protocol allows between a CPU
    and a GPU. Restores the caller's settings afterwards."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


BACKBONES: Registry[type[Backbone]] = Registry("backbone", base=Backbone, group="genbench.backbones")
#: ``exact``: the reference library's network as it ships; ``fast``: same weights and preprocessing with kernels
#: that change float32 round-off only (see bench.backbones.inception.fold_batchnorm_channels_last)
INFERENCE_MODES = ("exact", "fast")


def backbone_class(name: str) -> type[Backbone]:
    """The registered class for ``NAME`` or ``NAME:SPEC`` (did-you-mean on unknown names)."""
    return BACKBONES.get(name.split(":", 1)[0])


def is_backbone(name: str) -> bool:
    return name.split(":", 1)[0] in BACKBONES


def get_backbone(name: str, **kwargs: Any) -> Backbone:
    """Instantiate ``NAME`` or ``NAME:SPEC`` (a variant of a backbone family, e.g. ``clip:ViT-L-14@openai``)."""
    from bench.errors import ConfigError

    base, sep, spec = name.partition(":")
    cls = BACKBONES.get(base)
    if sep:
        if not cls.accepts_spec:
            raise ConfigError(f"backbone '{base}' has no variants (got '{name}')")
        return cls(spec=spec, **kwargs)  # type: ignore[call-arg]
    return cls(**kwargs)
