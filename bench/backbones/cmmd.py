"""CLIP ViT-L/14@336 image embeddings for CMMD (Jayasumana et al. 2024, "Rethinking FID"), as google-research's
``cmmd`` computes them.

The reference (google-research/google-research ``cmmd/``): ``io_util._read_image`` centre-crops each image file to a
square and resizes it to 336 with PIL bicubic (which antialiases), as float32 in [0, 255]; ``/ 255``; then
``embedding.ClipEmbeddingModel.embed`` resizes with ``torch.nn.functional.interpolate(mode="bicubic")`` to the
processor's crop size (336 again: the identity), runs ``CLIPImageProcessor(do_normalize=True, do_center_crop=False,
do_resize=False, do_rescale=False)`` and ``CLIPVisionModelWithProjection(...).image_embeds`` from
``openai/clip-vit-large-patch14-336``, and L2-normalises the embeddings. genbench calls the same transformers
classes from a local ``save_pretrained`` folder or the Hugging Face cache (bench.adapters.hf.from_pretrained; no
download offline), with the same steps in the same order.

The weights' identity in protocols is the sha256 of the loaded state dict (tensor names and bytes), so a folder and
the hub snapshot of the same weights give the same protocol.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.backbones.base import Backbone
from bench.errors import ConfigError
from bench.images import match_channels

HUB_ID = "openai/clip-vit-large-patch14-336"


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over a module's state dict (sorted names, dtypes, shapes, bytes): the weights' identity whatever file
    format or folder they came from."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def center_crop_resize(image: np.ndarray, size: int) -> np.ndarray:
    """cmmd ``io_util._center_crop_and_resize``: the central square (offsets floor((side - min side) / 2)), PIL
    bicubic to ``size`` x ``size``; HWC uint8 in, HWC float32 in [0, 255] out."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(image))
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.Resampling.BICUBIC)
    return np.asarray(im).astype(np.float32)


class CMMDClip(Backbone):
    """CLIP ViT-L/14@336 (transformers) image embeddings, L2-normalised, with cmmd's preprocessing.

    ``weights``: a ``save_pretrained`` folder of a ``CLIPVisionModelWithProjection`` with its
    ``preprocessor_config.json``, or a hub id (default ``openai/clip-vit-large-patch14-336``) already in the
    Hugging Face cache."""

    name = "clip-vit-l14-336"
    layers = ("embed",)
    default_layer = "embed"
    embed_layer = "embed"
    batch_size = 32
    net: Any = None
    processor: Any = None

    @property
    def source(self) -> str:
        return self.weights_arg or HUB_ID

    def check_weights(self) -> list[str]:
        import importlib.util

        if importlib.util.find_spec("transformers") is None:
            return ["the CMMD backbone needs transformers: pip install 'genbench[transformers]'"]
        local = Path(self.source).expanduser()
        if local.is_dir():
            return [] if (local / "config.json").is_file() else [f"{local}: not a save_pretrained folder (no config.json)"]
        if self.weights_arg is not None and (local.suffix or local.is_absolute() or str(self.weights_arg).startswith(".")):
            return [f"{self.weights_arg}: no such folder (give a save_pretrained folder of {HUB_ID} or its hub id)"]
        from bench.adapters.hf import _hub_cache, fetch_hint

        cached = Path(_hub_cache()) / f"models--{self.source.replace('/', '--')}"
        return [] if cached.is_dir() else [f"CLIP '{self.source}' is not in the Hugging Face cache ({_hub_cache()}): fetch "
                                           f"it where there is network ({fetch_hint(self.source)}) or "
                                           "give a local save_pretrained folder as the backbone's weights"]

    def dry_run(self) -> str | None:
        from bench.adapters.hf import hub_entry

        return hub_entry(self.source, None, lambda p: Path(p).expanduser(), "config.json")

    def load(self) -> None:
        try:
            from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection
        except ImportError:
            raise ConfigError("the CMMD backbone needs transformers: pip install 'genbench[transformers]'") from None
        from bench.adapters.hf import from_pretrained

        def resolve(p: str) -> Path:
            return Path(p).expanduser()

        self.net = from_pretrained(CLIPVisionModelWithProjection.from_pretrained, self.source, resolve,
                                   "CLIP vision model").eval().to(self.device)
        self.processor = from_pretrained(CLIPImageProcessor.from_pretrained, self.source, resolve, "CLIP image processor")
        self.weights_sha256 = state_dict_sha256(self.net)

    @property
    def input_size(self) -> int:
        return int(self.processor.crop_size["height"]) if self.processor is not None else 336

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated)", "crop": "central square (cmmd io_util)",
                "resize": f"PIL bicubic to {self.input_size}x{self.input_size} on uint8, then /255 and torch "
                "bicubic interpolate to the processor's crop size", "normalize": "CLIPImageProcessor(do_normalize=True, "
                "no resize/crop/rescale)", "features": "CLIPVisionModelWithProjection image_embeds, L2-normalised",
                "model": "CLIP ViT-L/14@336 vision tower and projection (weights: weights_sha256 of the state dict)",
                "dtype": "float32", "reference": "google-research cmmd (embedding.py, io_util.py)"}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        self.ensure_built()
        size = self.input_size
        rgb = match_channels(images, 3).permute(0, 2, 3, 1).numpy()
        x = np.stack([center_crop_resize(im, size) for im in rgb]) / 255.0
        t = F.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2)), size=(size, size), mode="bicubic")
        x = t.permute(0, 2, 3, 1).numpy()
        inputs = self.processor(images=list(x), do_normalize=True, do_center_crop=False, do_resize=False,
                                do_rescale=False, return_tensors="pt")
        return inputs["pixel_values"]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        emb = self.net(pixel_values=x).image_embeds
        return {"embed": emb / torch.linalg.norm(emb, dim=-1, keepdim=True)}
