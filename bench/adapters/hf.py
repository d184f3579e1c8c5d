"""Hugging Face models: diffusers pipelines (``genbench[diffusers]``) and transformers dual encoders
(``genbench[transformers]``).

``adapter: diffusers`` runs an unconditional pipeline (DDPM, DDIM, score-SDE style: ``batch_size``) or a
class-conditional one (DiT: ``class_labels`` from the task's requested classes); ``adapter: diffusers-t2i`` a
text-to-image pipeline (Stable Diffusion, SDXL: ``prompt`` from the task's prompts). ``pretrained`` is a hub id or
a local ``save_pretrained`` folder. Each sample gets its own ``torch.Generator`` seeded with its sample seed (diffusers
takes a list), so a sample does not depend on the batch it is made in; images come back as arrays and are
quantized as diffusers' own ``numpy_to_pil`` does (``round(x * 255)``), so they equal the PNGs a user would save.

A hub id is looked up in the Hugging Face cache first; offline (``GENBENCH_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``) or
without network, a missing one is one line saying where to put the files.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch
from pydantic import Field

from bench.adapters.base import Adapter, AdapterArgs, GenerationRequest, keyed, source_digest
from bench.errors import ConfigError, InputError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class DiffusersArgs(AdapterArgs):
    pretrained: str = Field(description="hub id (e.g. google/ddpm-cifar10-32) or a local save_pretrained folder")
    num_inference_steps: int | None = Field(default=None, gt=0, description="sampling steps (default: the pipeline's)")
    guidance_scale: float | None = Field(default=None, description="classifier-free guidance scale (DiT, SD)")
    scheduler: str | None = Field(default=None, description="a diffusers scheduler class to swap in, built from the "
                                  "pipeline's scheduler config (e.g. DDIMScheduler, DPMSolverMultistepScheduler)")
    torch_dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    revision: str | None = Field(default=None, description="hub revision (a commit hash pins the weights)")
    call: dict[str, Any] = Field(default_factory=dict, description="further keyword arguments of the pipeline call "
                                 "(eta, height, width, negative_prompt, ...)")
    device: str | None = Field(default=None, description="default: the run's device")


def _looks_local(pretrained: str) -> bool:
    """A path, not a hub id (``org/name``)."""
    return pretrained.startswith((".", "/", "~")) or pretrained.count("/") != 1


def _offline() -> bool:
    return any(os.environ.get(v, "") in ("1", "true", "yes") for v in ("GENBENCH_OFFLINE", "HF_HUB_OFFLINE"))


def _hub_cache() -> str:
    return os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface")), "hub")


def fetch_hint(repo: str) -> str:
    """The command that puts ``repo`` in the Hugging Face cache where there is network: ``hf download`` (the CLI
    huggingface_hub >= 1.0 ships; the pinned version has no ``huggingface-cli``)."""
    return f"hf download {repo}"


def _in_hub_cache(repo: str) -> bool:
    return (Path(_hub_cache()) / f"models--{repo.replace('/', '--')}").is_dir()


#: the arguments of a hub model: each has ``pretrained`` (a hub id or a folder) and ``revision``
_PretrainedArgsT = TypeVar("_PretrainedArgsT",
                           bound="DiffusersArgs | TransformersRetrieverArgs | TransformersCaptionerArgs")


class _Pretrained(Adapter[_PretrainedArgsT]):
    """An adapter whose ``pretrained`` argument is a hub id or a save_pretrained folder of an optional package."""

    #: the optional package (and extra) the adapter needs
    package: ClassVar[str]
    #: the file a local folder holds when it is one (model_index.json, config.json)
    marker: ClassVar[str]

    @classmethod
    def check_args(cls, args: _PretrainedArgsT, resolve: Any) -> list[tuple[tuple[Any, ...], str]]:
        return pretrained_problems(args.pretrained, resolve, cls.package)

    @classmethod
    def dry_run(cls, args: _PretrainedArgsT, resolve: Any) -> list[str]:
        return [hub_entry(args.pretrained, args.revision, resolve, cls.marker)]

    @classmethod
    def unavailable(cls, args: _PretrainedArgsT, resolve: Any) -> tuple[tuple[Any, ...], str] | None:
        why = offline_problem(args.pretrained, f"{cls.package} model")
        return None if why is None else (("pretrained",), why)


class DiffusersGenerator(_Pretrained[DiffusersArgs]):
    """A diffusers pipeline as an image generator (unconditional, or class-conditional when its call takes
    ``class_labels``)."""

    kind: ClassVar[str] = "image-generator"
    Args = DiffusersArgs
    package, marker = "diffusers", "model_index.json"

    def __init__(self, args: DiffusersArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        a = self.args
        self.pipe = load_pipeline(a, ctx.resolve_path if ctx is not None else Path, str(self.device))
        self.params = set(inspect.signature(self.pipe.__call__).parameters)

    @property
    def steps(self) -> int | None:
        """Denoising steps per call (the perf task's ``step_ms`` divides a call's latency by them): the argument, else
        the pipeline call's default."""
        a = self.args
        if a.num_inference_steps is not None:
            return a.num_inference_steps
        p = inspect.signature(self.pipe.__call__).parameters.get("num_inference_steps")
        return p.default if p is not None and isinstance(p.default, int) else None

    @classmethod
    def accepts_classes(cls, args: DiffusersArgs) -> bool:
        """Whether the pipeline's call takes ``class_labels`` (DiT): read from a local folder's model_index.json
        without loading anything; a hub id is not known before it is loaded (then checked at generation)."""
        call = _pipeline_call(args.pretrained)
        return True if call is None else "class_labels" in call

    def _kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        """The pipeline call's arguments: the sampler's (``call``, steps, guidance), then the condition."""
        a = self.args
        kw: dict[str, Any] = dict(a.call)
        if a.num_inference_steps is not None:
            kw["num_inference_steps"] = a.num_inference_steps
        if a.guidance_scale is not None:
            if "guidance_scale" not in self.params:
                raise ConfigError(f"{type(self.pipe).__name__} takes no guidance_scale")
            kw["guidance_scale"] = a.guidance_scale
        return {**kw, **self._condition(request)}

    def _condition(self, request: GenerationRequest) -> dict[str, Any]:
        """Class labels for a class-conditional pipeline, the batch size for an unconditional one."""
        a = self.args
        kw: dict[str, Any] = {}
        if "class_labels" in self.params:
            if request.classes is None:
                raise ConfigError(f"{a.pretrained}: {type(self.pipe).__name__} is class-conditional: evaluate it in a "
                                  "task with args.classes")
            kw["class_labels"] = [int(c) for c in request.classes]
        elif request.classes is not None:
            raise ConfigError(f"{a.pretrained}: {type(self.pipe).__name__} is unconditional (its call takes no "
                              "class_labels); a class-conditional task needs a class-conditional pipeline")
        elif "batch_size" in self.params:
            kw["batch_size"] = request.n
        return kw

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        kw = self._kwargs(request)
        # one generator per sample: diffusers draws each sample's noise from its own generator (randn_tensor)
        gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in request.seeds]
        with torch.no_grad():
            out = self.pipe(generator=gens, output_type="np", return_dict=True, **kw)
        images = np.asarray(out.images if hasattr(out, "images") else out[0])
        if images.ndim != 4 or images.shape[0] != request.n:
            raise InputError(f"{self.args.pretrained}: the pipeline returned {images.shape}, "
                             f"expected {request.n} images")
        # diffusers' numpy_to_pil: round(x * 255) of values in [0, 1]
        u8 = np.clip(np.round(images.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        return torch.from_numpy(u8).permute(0, 3, 1, 2).contiguous()

    def model_key(self) -> str | None:
        """A local folder: its files' sizes and mtimes are not enough to vouch for its bytes, so only a pinned hub
        revision (a commit hash) with the arguments and this module's source names the outputs."""
        a = self.args
        if a.revision is None or len(a.revision) != 40:
            return None
        import diffusers

        return keyed("diffusers", diffusers.__version__, a.model_dump(mode="json"), source_digest(inspect.getmodule(self)))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pipeline": type(self.pipe).__name__,
                "scheduler": type(self.pipe.scheduler).__name__}


class DiffusersT2I(DiffusersGenerator):
    """A diffusers text-to-image pipeline (Stable Diffusion family, SDXL): ``prompt`` is the task's prompts, one
    image per prompt and seed (``genbench[diffusers,transformers]``)."""

    kind: ClassVar[str] = "text-to-image"

    @classmethod
    def accepts_classes(cls, args: DiffusersArgs) -> bool:
        return False

    def _condition(self, request: GenerationRequest) -> dict[str, Any]:
        a = self.args
        if request.prompts is None:
            raise ConfigError(f"{a.pretrained}: a text-to-image pipeline needs prompts (a text-to-image task)")
        if "prompt" not in self.params:
            raise ConfigError(f"{a.pretrained}: {type(self.pipe).__name__} takes no prompt; use adapter 'diffusers'")
        return {"prompt": list(request.prompts)}


def _pipeline_call(pretrained: str) -> set[str] | None:
    """The parameters of the pipeline class's ``__call__`` named in ``pretrained/model_index.json`` (None:
    not a local folder, or diffusers or the class unknown here)."""
    import json

    index = Path(pretrained).expanduser() / "model_index.json"
    try:
        name = json.loads(index.read_text(encoding="utf-8")).get("_class_name") if index.is_file() else None
        import diffusers

        cls = getattr(diffusers, str(name), None) if name else None
    except (ImportError, OSError, ValueError):
        return None
    return None if cls is None else set(inspect.signature(cls.__call__).parameters)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' loading bars and notices off while genbench loads a model (a no-op without transformers)."""
    try:
        from transformers.utils import logging as tlog
    except ImportError:
        yield
        return
    verbosity = tlog.get_verbosity()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(verbosity)
        tlog.enable_progress_bar()


def offline_problem(pretrained: str, what: str = "model") -> str | None:
    """Why a hub id cannot be loaded here (offline and not in the Hugging Face cache), or None: ``genbench run``
    says so before any work (no reference is loaded first); ``validate`` and ``--dry-run`` accept the suite."""
    if not _looks_local(pretrained) and _offline() and not _in_hub_cache(pretrained):
        return (f"{what} '{pretrained}' is not in the Hugging Face cache ({_hub_cache()}) and genbench is offline: fetch it "
                f"where there is network ({fetch_hint(pretrained)}) and copy the cache here, or give a local "
                "save_pretrained folder")
    return None


def pretrained_problems(pretrained: str, resolve: Any, package: str) -> list[tuple[tuple[Any, ...], str]]:
    """What ``validate`` can tell about a ``pretrained`` argument without loading it: a path that is no folder (a
    hub id ``org/name`` is looked up when the model is built), or ``package`` (the optional extra) not installed."""
    import importlib.util

    if _looks_local(pretrained) and not Path(resolve(pretrained)).is_dir():
        return [(("pretrained",), f"{resolve(pretrained)}: no such folder (give a save_pretrained folder or a hub id "
                                  "'org/name')")]
    if importlib.util.find_spec(package) is None:
        return [(("pretrained",), f"this adapter needs {package}: pip install 'genbench[{package}]'")]
    return []


def hub_entry(pretrained: str, revision: str | None, resolve: Any, marker: str) -> str:
    """``run --dry-run``'s line for a pretrained model: the local folder (present when it holds ``marker``), or the
    hub repository with its folder in the Hugging Face cache and where it comes from."""
    local = Path(resolve(pretrained))
    if local.is_dir() or _looks_local(pretrained):
        return f"{local} [{'present' if (local / marker).is_file() else 'MISSING'}]"
    cached = Path(_hub_cache()) / f"models--{pretrained.replace('/', '--')}"
    state = "present" if _in_hub_cache(pretrained) else ("MISSING" if _offline() else "would download")
    rev = f"@{revision}" if revision else ""
    return f"hub {pretrained}{rev} [{state}]\n      from https://huggingface.co/{pretrained}\n      to   {cached}"


def from_pretrained(load: Any, pretrained: str, resolve: Any, what: str, **kw: Any) -> Any:
    """``load(source, **kw)`` for a local ``save_pretrained`` folder, else a hub id from the Hugging Face cache, else
    (online) a download; every failure is one ConfigError naming the folder, or the cache and what to fetch."""
    local = Path(resolve(pretrained))
    source = str(local) if local.is_dir() else pretrained
    try:
        try:
            return load(source, local_files_only=True, **kw)
        except (OSError, ValueError):
            if local.is_dir() or _offline():
                raise
            return load(source, **kw)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]  # whole: a cut line misleads
        if local.is_dir():
            raise ConfigError(f"{local}: not a {what} folder ({first})") from None
        raise ConfigError(f"{what} '{pretrained}' is not in the Hugging Face cache ({_hub_cache()})"
                          + (" and genbench is offline" if _offline() else f" and could not be downloaded ({first})")
                          + f": fetch it where there is network ({fetch_hint(pretrained)}) or "
                          "give a local save_pretrained folder as 'pretrained'") from None


def load_pipeline(a: DiffusersArgs, resolve: Any, device: str) -> Any:
    """The pipeline of ``a.pretrained`` (bench.adapters.hf.from_pretrained), on the adapter's device in
    ``a.torch_dtype``, with ``a.scheduler`` swapped in."""
    try:
        import diffusers
    except ImportError:
        raise ConfigError("the diffusers adapter needs the diffusers package: pip install 'genbench[diffusers]'") from None
    from diffusers.utils import deprecation_utils
    from diffusers.utils import logging as dlog

    # newer diffusers renamed torch_dtype to dtype (and warn on the old name); older ones know only torch_dtype
    renamed = hasattr(deprecation_utils, "_TORCH_DTYPE_DEPRECATION_MESSAGE")
    kw: dict[str, Any] = {"dtype" if renamed else "torch_dtype": DTYPES[a.torch_dtype]}
    if a.revision is not None:
        kw["revision"] = a.revision
    verbosity = dlog.get_verbosity()
    dlog.set_verbosity_error()  # no "loading components" bars or accelerate advice between genbench's lines
    dlog.disable_progress_bar()
    try:
        with _quiet_transformers():  # a text encoder inside the pipeline loads through transformers
            pipe = from_pretrained(diffusers.DiffusionPipeline.from_pretrained, a.pretrained, resolve,
                                   "diffusers pipeline", **kw)
    finally:
        dlog.set_verbosity(verbosity)
        dlog.enable_progress_bar()
    if a.scheduler is not None:
        cls = getattr(diffusers, a.scheduler, None)
        if cls is None or not hasattr(cls, "from_config"):
            raise ConfigError(f"scheduler '{a.scheduler}': not a diffusers scheduler class")
        pipe.scheduler = cls.from_config(pipe.scheduler.config)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ============================================================================================ transformers
def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ConfigError("this adapter needs transformers: pip install 'genbench[transformers]'") from None
    return transformers


_TransformersArgsT = TypeVar("_TransformersArgsT", bound="TransformersRetrieverArgs | TransformersCaptionerArgs")


class _TransformersModel(_Pretrained[_TransformersArgsT]):
    """A transformers model and its own processor (``AutoProcessor``), from a hub id or a local folder."""

    package, marker = "transformers", "config.json"

    def _load(self, auto: Any, what: str) -> None:
        transformers = _transformers()
        a = self.args
        resolve = self.ctx.resolve_path if self.ctx is not None else Path
        kw = {"revision": a.revision} if a.revision else {}
        with _quiet_transformers():
            self.model = from_pretrained(auto.from_pretrained, a.pretrained, resolve, what,
                                         **kw).eval().to(self.device)
            self.processor = from_pretrained(transformers.AutoProcessor.from_pretrained, a.pretrained,
                                             resolve, "transformers processor", **kw)

    @staticmethod
    def _hwc(x: torch.Tensor) -> list[np.ndarray]:
        """uint8 NCHW (grey repeated to RGB) as the HWC arrays processors take."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return [im.permute(1, 2, 0).numpy() for im in x.cpu()]


class TransformersRetrieverArgs(AdapterArgs):
    pretrained: str = Field(description="hub id (e.g. openai/clip-vit-base-patch32, google/siglip-base-patch16-224) "
                                        "or a local save_pretrained folder with its processor")
    revision: str | None = Field(default=None, description="hub revision (a commit hash pins the weights)")
    batch_size: int = Field(default=64, gt=0, description="images or texts per forward pass")
    device: str | None = Field(default=None, description="default: the run's device")


class TransformersRetriever(_TransformersModel[TransformersRetrieverArgs]):
    """A transformers dual encoder (CLIP, SigLIP: ``get_image_features`` / ``get_text_features``) with its own
    processor (resize, crop, normalization, tokenizer), from a hub id or a local folder (``genbench[transformers]``).
    SigLIP texts are padded to the model's length, as it was trained; CLIP's to the longest text."""

    kind: ClassVar[str] = "retriever"
    Args = TransformersRetrieverArgs

    def __init__(self, args: TransformersRetrieverArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        a = self.args
        self._load(_transformers().AutoModel, "transformers model")
        if not (hasattr(self.model, "get_image_features") and hasattr(self.model, "get_text_features")):
            raise ConfigError(f"{a.pretrained}: {type(self.model).__name__} is not a dual encoder "
                              "(no get_image_features / get_text_features)")
        self._pad: Any = "max_length" if "siglip" in str(getattr(self.model.config, "model_type", "")) else True
        text_config = getattr(self.model.config, "text_config", None)
        #: texts are cut to the positions the text encoder has (a tokenizer saved without model_max_length would not)
        self._max_length: int | None = getattr(text_config, "max_position_embeddings", None)

    @staticmethod
    def _features(out: Any) -> torch.Tensor:
        # transformers 4 returns the projected embeddings, 5 a model output holding them as pooler_output
        return out if isinstance(out, torch.Tensor) else out.pooler_output

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> np.ndarray:
        bs = self.args.batch_size
        out = []
        for s in range(0, len(images), bs):
            px = self.processor(images=self._hwc(images[s: s + bs]), return_tensors="pt")["pixel_values"].to(self.device)
            out.append(self._features(self.model.get_image_features(pixel_values=px)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        bs = self.args.batch_size
        out = []
        for s in range(0, len(texts), bs):
            enc = self.processor(text=list(texts[s: s + bs]), padding=self._pad, truncation=True,
                                 max_length=self._max_length, return_tensors="pt")
            enc = {k: v.to(self.device) for k, v in enc.items()}
            out.append(self._features(self.model.get_text_features(**enc)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class TransformersCaptionerArgs(AdapterArgs):
    pretrained: str = Field(description="hub id (e.g. Salesforce/blip-image-captioning-base, microsoft/git-base-coco) "
                                        "or a local save_pretrained folder with its processor")
    revision: str | None = Field(default=None, description="hub revision (a commit hash pins the weights)")
    prompt: str | None = Field(default=None, description="text the caption starts from (BLIP's 'a picture of'); "
                               "removed from the returned caption unless keep_prompt")
    keep_prompt: bool = Field(default=False, description="keep the prompt at the start of each caption")
    num_beams: int = Field(default=1, gt=0, description="1: greedy decoding; more: beam search")
    max_new_tokens: int = Field(default=30, gt=0)
    generate: dict[str, Any] = Field(default_factory=dict, description="further generate() arguments (min_length, "
                                     "length_penalty, repetition_penalty, ...); sampling is refused: captions must "
                                     "not depend on the batch")
    batch_size: int = Field(default=16, gt=0, description="images per generate() call")
    device: str | None = Field(default=None, description="default: the run's device")


class TransformersCaptioner(_TransformersModel[TransformersCaptionerArgs]):
    """A transformers image-to-text model (BLIP, GIT: ``AutoProcessor`` + ``generate``) from a hub id or a local
    folder (``genbench[transformers]``). Decoding is deterministic (greedy, or beam search with ``num_beams``);
    the decoding options are adapter arguments, so they are recorded with the model in the run's manifest."""

    kind: ClassVar[str] = "captioner"
    Args = TransformersCaptionerArgs

    def __init__(self, args: TransformersCaptionerArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        a = self.args
        if a.generate.get("do_sample"):
            raise ConfigError("transformers-captioner: do_sample is refused (captions would depend on the batch and "
                              "the seed); use num_beams for beam search")
        transformers = _transformers()
        auto = getattr(transformers, "AutoModelForImageTextToText", None) or getattr(transformers, "AutoModelForVision2Seq")  # noqa: B009  (transformers < 4.45)
        self._load(auto, "transformers image-to-text model")

    @torch.no_grad()
    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]:
        a = self.args
        out: list[str] = []
        for s in range(0, len(images), a.batch_size):
            hwc = self._hwc(images[s: s + a.batch_size])
            kw: dict[str, Any] = {"images": hwc, "return_tensors": "pt"}
            if a.prompt is not None:
                kw["text"] = [a.prompt] * len(hwc)
            # token_type_ids: a BERT tokenizer's output that image-to-text decoders do not take
            enc = {k: v.to(self.device) for k, v in self.processor(**kw).items() if k != "token_type_ids"}
            with _quiet_transformers():
                ids_out = self.model.generate(**enc, num_beams=a.num_beams, max_new_tokens=a.max_new_tokens,
                                              do_sample=False, **a.generate)
            texts = self.processor.batch_decode(ids_out, skip_special_tokens=True)
            out.extend(self._strip(t) for t in texts)
        return out

    def _strip(self, text: str) -> str:
        a = self.args
        text = text.strip()
        if a.prompt and not a.keep_prompt and text.lower().startswith(a.prompt.strip().lower()):
            text = text[len(a.prompt.strip()):].strip()
        return text
