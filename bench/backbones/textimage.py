"""Text-image backbones (CLIP-like): image features like any backbone, plus ``embed_texts``.

One class per scorer serves CLIPScore/RefCLIPScore, text-to-image CLIP-score and (through the retriever
adapters) retrieval, so the weights resolution and preprocessing of each model live in one place.

- ``shapes-clip``: the embedded shapes dual encoder (offline default; NOT OpenAI CLIP: numbers made with it are
  comparable only with other shapes-clip numbers, and the protocol says so).
- ``clip-vit-b32``: OpenAI CLIP ViT-B/32 through open_clip, as Hessel et al. 2021 use it. The OpenAI weights file
  needs open_clip's ``ViT-B-32-quickgelu`` architecture (plain ``ViT-B-32`` uses GELU and is silently wrong);
  the file is resolved explicit path → cache → verified download, and offline the error names both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.backbones.base import Backbone
from bench.backbones.clip import CLIP_VIT_B_32_OPENAI
from bench.weights import is_present, missing_message


class TextImageBackbone(Backbone):
    """Adds :meth:`embed_texts`; the ``embed`` layer is the joint image-text space (L2-normalise before use)."""

    embed_layer = "embed"
    #: short protocol label shown next to CLIP-based numbers
    scorer: str = ""
    #: how many tokens the text encoder reads (longer texts are truncated); None: unknown
    text_context: int | None = None

    def token_counts(self, texts: list[str]) -> list[int] | None:
        """Each text's length in the encoder's own tokens (start/end included), to report truncation; None: the
        backbone cannot tell."""
        return None

    @torch.no_grad()
    def embed_texts(self, texts: list[str]) -> np.ndarray:
        if self.weights_sha256 is None:
            self.load()
        out = [self._texts(list(texts[s: s + self.batch_size])).float().cpu().numpy() for s in range(0, len(texts), self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, 1), np.float32)

    def _texts(self, texts: list[str]) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> np.ndarray:
        return self.extract(images)[self.embed_layer]


class ShapesClipBackbone(TextImageBackbone):
    """The shapes dual encoder: ``pool`` (128-d image features, for FID) and ``embed`` (64-d joint space)."""

    name = "shapes-clip"
    layers = ("pool", "embed")
    default_layer = "pool"
    batch_size = 512
    scorer = "shapes dual encoder (bench/assets/shapes/dual_encoder.pt), not OpenAI CLIP"
    text_context = 32  # bench.shapes.world.encode keeps the first 32 words

    def token_counts(self, texts: list[str]) -> list[int] | None:
        from bench.shapes import world

        return [len(world.tokenize(t)) for t in texts]

    def check_weights(self) -> list[str]:
        from bench.shapes import zoo

        return zoo.check("dual-encoder", self.weights_arg)

    def load(self) -> None:
        from bench.shapes import zoo

        self.net, self.weights_sha256 = zoo.load("dual-encoder", self.weights_arg)

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB", "resize": "32x32 torch-bilinear antialias (if not 32x32)", "scale": "x/255",
                "text": "bench.shapes.world.encode (lowercase words)", "scorer": self.scorer}

    def domain_problem(self, item_shape: tuple[int, ...]) -> str | None:
        c, h, w = item_shape
        if (h, w) == (32, 32) and c == 3:
            return None
        return (f"the shapes network was trained on 32x32 RGB scenes of the shapes world; these images are {w}x{h} "
                f"with {c} channel(s): its numbers rank nothing outside that world")

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from bench.shapes.models import to_input

        return to_input(images)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool, emb = self.net.image_features(x)  # type: ignore[operator]
        return {"pool": pool, "embed": emb}

    def _texts(self, texts: list[str]) -> torch.Tensor:
        return self.net.encode_texts(texts)  # type: ignore[no-any-return,operator]


def quickgelu_name(name: str, openai_weights: bool) -> str:
    """OpenAI's CLIP weights were trained with QuickGELU: use open_clip's ``-quickgelu`` variant for them."""
    return name if (not openai_weights or name.endswith("-quickgelu")) else f"{name}-quickgelu"


def is_torchscript(path: Path) -> bool:
    """OpenAI's release files are TorchScript archives (zip with a ``constants.pkl``/``code/`` entry)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class OpenAIClipB32Backbone(TextImageBackbone):
    """OpenAI CLIP ViT-B/32 (open_clip ViT-B-32-quickgelu): CLIPScore's reference scorer."""

    name = "clip-vit-b32"
    layers = ("embed",)
    default_layer = "embed"
    weights_files = (CLIP_VIT_B_32_OPENAI,)
    batch_size = 64
    scorer = "OpenAI CLIP ViT-B/32"
    arch = "ViT-B-32"
    text_context = 77

    def token_counts(self, texts: list[str]) -> list[int] | None:
        from open_clip.tokenizer import SimpleTokenizer

        tok = SimpleTokenizer()  # open_clip's CLIP BPE; start and end tokens added
        return [len(tok.encode(t)) + 2 for t in texts]

    def check_weights(self) -> list[str]:
        if self.weights_arg:
            return [] if Path(self.weights_arg).is_file() else [
                f"{self.weights_arg}: weights file for '{CLIP_VIT_B_32_OPENAI.name}' does not exist"]
        return [] if is_present(CLIP_VIT_B_32_OPENAI) else [missing_message(CLIP_VIT_B_32_OPENAI)]

    def required_weights(self) -> Any:
        return CLIP_VIT_B_32_OPENAI

    def load(self) -> None:
        import open_clip

        from bench.backbones.clip import load_open_clip

        clip = load_open_clip(f"{self.arch}@openai", self.weights_arg)  # the one open_clip loader, same weights file
        self.model, self.weights_sha256 = clip.model, clip.sha256
        self.tokenizer = open_clip.get_tokenizer(clip.spec.arch)

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB", "resize": "224 shorter side PIL-bicubic + centre crop 224",
                "normalise": "OpenAI CLIP mean/std", "text": "open_clip tokenizer, context 77",
                "architecture": quickgelu_name(self.arch, True), "scorer": self.scorer}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from bench.images import match_channels

        x = match_channels(images, 3).float() / 255.0
        h, w = x.shape[-2:]
        if (h, w) != (224, 224):
            s = 224 / min(h, w)
            x = F.interpolate(x, size=(max(224, round(h * s)), max(224, round(w * s))), mode="bicubic",
                              align_corners=False, antialias=True).clamp(0, 1)
            top, left = (x.shape[-2] - 224) // 2, (x.shape[-1] - 224) // 2
            x = x[..., top: top + 224, left: left + 224]
        mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
        std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
        return (x - mean) / std

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embed": self.model.encode_image(x)}  # type: ignore[operator]

    def _texts(self, texts: list[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(texts))  # type: ignore[no-any-return,operator]
