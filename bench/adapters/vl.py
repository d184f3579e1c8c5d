"""Vision-language adapters: retrievers (``embed_images``/``embed_texts``) and captioners (``caption(images)``).

Sources: the shapes zoo, open_clip ``name@pretrained`` (a tag or a local weights file), Python ``module:attr``
factories, and data only (``.npy`` embeddings made elsewhere, a COCO results JSON): evaluating a submission of data
never runs its code. Data-only adapters receive the dataset's item ids instead of pixels.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from bench.adapters.base import Adapter, AdapterArgs, ArgsT, to_implement
from bench.errors import ConfigError, InputError
from bench.registry import import_object


# ============================================================================================ retrievers
class Retriever(Adapter[ArgsT]):
    kind = "retriever"

    @to_implement
    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> np.ndarray:
        raise NotImplementedError

    @to_implement
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class BackboneArgs(AdapterArgs):
    weights: str | None = Field(default=None, description="explicit weights file (default: the bundled/published one)")


class ShapesClipRetriever(Retriever[BackboneArgs]):
    """The shapes dual encoder (zoo): the offline "CLIP"."""

    Args = BackboneArgs
    backbone_name = "shapes-clip"

    def __init__(self, args: BackboneArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        from bench.backbones import BACKBONES

        w = self.args.weights
        self.backbone = BACKBONES.get(self.backbone_name)(weights=str(ctx.resolve_path(w)) if w else None)

    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> np.ndarray:
        return self.backbone.embed_images(images)  # type: ignore[attr-defined,no-any-return]

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.backbone.embed_texts(texts)  # type: ignore[attr-defined,no-any-return]


class OpenClipArgs(AdapterArgs):
    model: str = Field(description="'name@pretrained': an open_clip model name and a pretrained tag or weights file")
    device: str | None = Field(default=None, description="where the model runs (default: the run's device)")


class OpenClipRetriever(Retriever[OpenClipArgs]):
    """open_clip ``name@pretrained``; OpenAI weights (tag ``openai`` or an OpenAI .pt file) get the QuickGELU model."""

    Args = OpenClipArgs

    def __init__(self, args: OpenClipArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        import open_clip

        from bench.backbones.clip import load_open_clip
        from bench.backbones.textimage import OpenAIClipB32Backbone, is_torchscript, quickgelu_name

        spec = self.args.model
        if "@" not in spec:
            raise ConfigError(f"open-clip model '{spec}': use 'name@pretrained' (e.g. ViT-B-32@openai or ViT-B-32@/path/ViT-B-32.pt)")
        name, pretrained = spec.split("@", 1)
        p = ctx.resolve_path(pretrained)
        looks_like_file = "/" in pretrained or pretrained.endswith((".pt", ".bin", ".pth", ".safetensors"))
        if looks_like_file and not p.is_file():
            raise InputError(f"open-clip '{spec}': weights file {p} does not exist")
        # one loader for every open_clip model (bench.backbones.clip): a pretrained tag resolves through the weights
        # manifest (cache, verified download, offline message naming URL and path); OpenAI TorchScript files get
        # the QuickGELU architecture they were trained with
        clip = load_open_clip(quickgelu_name(name, is_torchscript(p)) if looks_like_file else spec,
                              str(p) if looks_like_file else None, self.device)
        self.model: Any = clip.model  # open_clip's CLIP: encode_image / encode_text
        self.tokenizer = open_clip.get_tokenizer(clip.spec.arch)
        self._pre = OpenAIClipB32Backbone()

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> np.ndarray:
        out = [self.model.encode_image(self._pre.preprocess(images[s: s + 64]).to(self.device)).float().cpu().numpy()
               for s in range(0, len(images), 64)]
        return np.concatenate(out)

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        out = [self.model.encode_text(self.tokenizer(texts[s: s + 256]).to(self.device)).float().cpu().numpy()
               for s in range(0, len(texts), 256)]
        return np.concatenate(out)


class PythonRetrieverArgs(AdapterArgs):
    target: str = Field(description="'module:attr' of a factory or object with embed_images/embed_texts")
    kwargs: dict[str, Any] = Field(default_factory=dict)


def _instantiate(target: str, kwargs: dict[str, Any]) -> Any:
    obj = import_object(target)
    model = obj(**kwargs) if isinstance(obj, type) or (callable(obj) and kwargs) else obj
    if isinstance(model, torch.nn.Module):
        model = model.eval()
    return model


class PythonRetriever(Retriever[PythonRetrieverArgs]):
    """A Python object answering ``embed_images(uint8 NCHW)`` and ``embed_texts(list[str])``."""

    Args = PythonRetrieverArgs

    def __init__(self, args: PythonRetrieverArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        self.model = _instantiate(self.args.target, self.args.kwargs)
        for m in ("embed_images", "embed_texts"):
            if not hasattr(self.model, m):
                raise ConfigError(f"{self.args.target}: has no {m}()")

    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(torch.as_tensor(self.model.embed_images(images)).float().cpu())

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(torch.as_tensor(self.model.embed_texts(texts)).float().cpu())


class NpyArgs(AdapterArgs):
    images: str = Field(description=".npy of image embeddings [N_images, D], in the dataset's image order")
    texts: str = Field(description=".npy of text embeddings [N_texts, D], in the dataset's caption order")


def load_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{path}: {what} file does not exist")
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise InputError(f"{path}: {what} must be a 2-d array [N, D], got shape {getattr(a, 'shape', '?')}")
    return a


class NpyEmbeddings(Retriever[NpyArgs]):
    """Embeddings computed elsewhere (data only): image rows in dataset order, text rows in caption order."""

    Args = NpyArgs
    data_only = True

    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> np.ndarray:
        p = self.ctx.resolve_path(self.args.images)
        a = load_npy(p, "image embeddings")
        if a.shape[0] != images.shape[0]:
            raise InputError(f"{p}: holds {a.shape[0]} image embeddings, the dataset has {images.shape[0]} images")
        return a

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        p = self.ctx.resolve_path(self.args.texts)
        a = load_npy(p, "text embeddings")
        if a.shape[0] != len(texts):
            raise InputError(f"{p}: holds {a.shape[0]} text embeddings, the dataset has {len(texts)} captions")
        return a


class RandomArgs(AdapterArgs):
    dim: int = Field(default=64, gt=0)
    seed: int = 0


def _hash_seed(seed: int, blob: bytes) -> int:
    return int.from_bytes(hashlib.sha256(str(seed).encode() + blob).digest()[:8], "little")


class RandomRetriever(Retriever[RandomArgs]):
    """Chance baseline: a Gaussian vector per item, seeded by the item's content (same item, same vector)."""

    Args = RandomArgs

    def _vec(self, blob: bytes) -> np.ndarray:
        a = self.args
        return np.random.default_rng(_hash_seed(a.seed, blob)).standard_normal(a.dim).astype(np.float32)

    def embed_images(self, images: torch.Tensor, ids: list[Any] | None = None) -> np.ndarray:
        return np.stack([self._vec(im.numpy().tobytes()) for im in images])

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t.encode()) for t in texts])


# ============================================================================================ captioners
class Captioner(Adapter[ArgsT]):
    kind = "captioner"

    @to_implement
    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]:
        raise NotImplementedError


class ShapesCaptionerArgs(AdapterArgs):
    weights: str | None = None


class ShapesCaptioner(Captioner[ShapesCaptionerArgs]):
    """The shapes zoo captioner (conv encoder + GRU decoder, greedy)."""

    Args = ShapesCaptionerArgs

    def __init__(self, args: ShapesCaptionerArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        from bench.shapes import zoo

        w = self.args.weights
        self.net, self.sha256 = zoo.load("captioner", ctx.resolve_path(w) if w else None)

    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]:
        return self.net.caption(images)  # type: ignore[no-any-return,operator]


class BlindArgs(AdapterArgs):
    dataset: str = Field(description="suite dataset whose most frequent reference caption is always answered")


class BlindCaptioner(Captioner[BlindArgs]):
    """Blind baseline: the most frequent reference caption of a (training) dataset, whatever the image.
    Ties go to the caption seen first, so the answer is fixed."""

    Args = BlindArgs

    def __init__(self, args: BlindArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        if ctx.datasets is None:
            raise ConfigError("the blind captioner needs the suite's datasets")
        ds = ctx.datasets(self.args.dataset)
        if not ds.captions:
            raise ConfigError(f"dataset '{self.args.dataset}' has no captions")
        self.answer = Counter(c for cs in ds.captions for c in cs).most_common(1)[0][0]

    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]:
        return [self.answer] * images.shape[0]


class PythonCaptionerArgs(AdapterArgs):
    target: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class PythonCaptioner(Captioner[PythonCaptionerArgs]):
    """A Python object answering ``caption(uint8 NCHW images) -> list[str]``."""

    Args = PythonCaptionerArgs

    def __init__(self, args: PythonCaptionerArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        self.model = _instantiate(self.args.target, self.args.kwargs)
        if not hasattr(self.model, "caption"):
            raise ConfigError(f"{self.args.target}: has no caption()")

    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]:
        with torch.no_grad():
            return [str(c) for c in self.model.caption(images)]


class TorchScriptCaptionerArgs(AdapterArgs):
    path: str = Field(description="TorchScript file (torch.jit.save) whose forward(images) returns the captions")
    vocab: str | None = Field(default=None, description="JSON list of words for token-id output (default: the "
                                                        "module's own `vocab` attribute)")
    input: Literal["uint8", "float"] = Field(default="uint8", description="uint8 [0, 255] or float32 [0, 1] NCHW RGB")


class TorchScriptCaptioner(Captioner[TorchScriptCaptionerArgs]):
    """A TorchScript captioner. Contract: ``forward(images)`` takes one batch, ``[N, 3, H, W]`` RGB (uint8, or
    float32 in [0, 1] with ``input: float``) and returns either ``List[str]`` (N captions) or an integer tensor
    ``[N, T]`` of token ids, decoded with a vocabulary (the ``vocab`` JSON file, else the module's ``vocab:
    List[str]`` attribute): words joined by spaces, stopping at ``<eos>``, skipping ``<pad>``/``<bos>``/``<unk>``."""

    Args = TorchScriptCaptionerArgs
    SPECIAL = ("<pad>", "<bos>", "<eos>", "<unk>")

    def __init__(self, args: TorchScriptCaptionerArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        a = self.args
        self.path = p = ctx.resolve_path(a.path)
        if not p.is_file():
            raise InputError(f"{p}: TorchScript captioner file does not exist")
        try:
            self.model = torch.jit.load(str(p), map_location="cpu").eval()
        except Exception as exc:
            raise InputError(f"{p}: cannot load TorchScript ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None
        self.vocab: list[str] | None = None
        if a.vocab is not None:
            import json

            vp = ctx.resolve_path(a.vocab)
            try:
                self.vocab = json.loads(vp.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"{vp}: cannot read the vocabulary ({exc.__class__.__name__}: {exc})") from None
        elif hasattr(self.model, "vocab"):
            self.vocab = list(self.model.vocab)
        if self.vocab is not None and not (isinstance(self.vocab, list) and all(isinstance(w, str) for w in self.vocab)):
            raise InputError(f"{a.vocab or p}: the vocabulary must be a list of strings")

    def _decode(self, ids: torch.Tensor) -> list[str]:
        if self.vocab is None:
            raise InputError(f"{self.path}: forward() returned token ids but there is no vocabulary "
                             "(give args.vocab or a `vocab: List[str]` attribute on the module)")
        vocab, out = self.vocab, []
        for row in ids.tolist():
            words = []
            for i in row:
                if not 0 <= i < len(vocab):
                    raise InputError(f"{self.path}: token id {i} is outside the vocabulary ({len(vocab)} words)")
                if vocab[i] == "<eos>":
                    break
                if vocab[i] not in self.SPECIAL:
                    words.append(vocab[i])
            out.append(" ".join(words))
        return out

    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]:
        x = images if self.args.input == "uint8" else images.float() / 255.0
        try:
            with torch.no_grad():
                got = self.model(x)
        except Exception as exc:
            raise InputError(f"{self.path}: forward() failed on a batch {tuple(x.shape)} {x.dtype} "
                             f"({exc.__class__.__name__}: {str(exc).strip().splitlines()[-1][:200]})") from None
        if isinstance(got, torch.Tensor) and not got.is_floating_point() and got.ndim == 2:
            caps = self._decode(got)
        elif isinstance(got, list | tuple) and all(isinstance(c, str) for c in got):
            caps = list(got)
        else:
            what = f"a {got.dtype} tensor {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            raise InputError(f"{self.path}: forward() returned {what}; expected a list of {len(x)} strings or an "
                             f"integer tensor [{len(x)}, T] of token ids")
        if len(caps) != len(x):
            raise InputError(f"{self.path}: forward() returned {len(caps)} captions for a batch of {len(x)} images")
        return caps


class CocoResultsArgs(AdapterArgs):
    path: str = Field(description='COCO results JSON: [{"image_id", "caption"}], image ids as in the dataset')


class CocoResultsCaptioner(Captioner[CocoResultsArgs]):
    """Captions made elsewhere (data only), as a COCO results file. Image ids are the dataset's own (COCO
    ``image_id``; Karpathy ``cocoid``, else ``imgid``); the shapes world's are 0-based indices."""

    Args = CocoResultsArgs
    data_only = True

    def caption(self, images: torch.Tensor, ids: list[Any] | None = None) -> list[str]:
        from bench.text.coco_files import load_results

        assert ids is not None
        p = self.ctx.resolve_path(self.args.path)
        got = load_results(p, {i: [] for i in ids})
        missing = [i for i in ids if i not in got]
        if missing:
            raise InputError(f"{p}: no caption for image_id {missing[0]!r} ({len(missing)} images missing)")
        return [got[i] for i in ids]


# ============================================================================================ text-to-image
class ShapesT2IArgs(AdapterArgs):
    weights: str | None = Field(default=None, description="explicit weights file (default: the bundled, sha256-checked one)")


class ShapesT2I(Adapter[ShapesT2IArgs]):
    """The shapes zoo text-to-image generator (``bench.shapes.models.TextToImage``, a conditional VAE trained by
    ``scripts/shapes/train_t2i.py``). Sample ``i`` decodes its prompt with the latent drawn from its own seed, one
    sample at a time, so the images do not depend on batch size or on which prompts share a batch."""

    kind = "text-to-image"
    Args = ShapesT2IArgs

    def __init__(self, args: ShapesT2IArgs, ctx: Any) -> None:
        super().__init__(args, ctx)
        from bench.shapes import zoo

        w = self.args.weights
        self.net, self.sha256 = zoo.load("t2i-generator", ctx.resolve_path(w) if w else None)
        self.latent_dim: int = self.net.latent_dim  # type: ignore[assignment]

    def generate(self, request: Any) -> torch.Tensor:
        if request.prompts is None:
            raise ConfigError("shapes-t2i is a text-to-image model: it needs prompts")
        z = request.latents(self.latent_dim)
        return torch.cat([self.net.generate([p], z[i: i + 1])  # type: ignore[operator]
                          for i, p in enumerate(request.prompts)])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "sha256": self.sha256}


class ShapesRenderOracle(Adapter):
    """Ceiling: parses each (canonical) prompt and renders that scene with the world's own renderer, with a
    fresh sub-cell jitter per seed: real pixels, exact content, the world's own per-prompt variation."""

    kind = "text-to-image"

    def generate(self, request: Any) -> torch.Tensor:
        from bench.shapes import world

        if request.prompts is None:
            raise ConfigError("shapes-oracle is a text-to-image model: it needs prompts")
        out = []
        for p, s in zip(request.prompts, request.seeds, strict=True):
            img = world.render_prompt(p, s)
            if img is None:
                raise InputError(f"shapes-oracle: prompt {p!r} is not a shapes canonical caption")
            out.append(img)
        return torch.from_numpy(np.stack(out))


class RandomSceneT2I(Adapter):
    """Weak baseline: a random shapes scene per seed, ignoring the prompt (right distribution, no alignment)."""

    kind = "text-to-image"

    def generate(self, request: Any) -> torch.Tensor:
        import random

        from bench.shapes import world

        return torch.from_numpy(np.stack([world.render(world.sample_scene(random.Random(s))) for s in request.seeds]))


def _python_t2i() -> type:
    from bench.adapters.sources import PythonGenerator

    class PythonT2I(PythonGenerator):
        """A Python object answering ``generate(request)`` with ``request.prompts`` (one prompt per sample)."""

        kind = "text-to-image"

    return PythonT2I


PythonT2I = _python_t2i()
