"""CLIP image features through open_clip, for CLIP-FD (protocol ``clip-fd``) and anything else needing CLIP.

:func:`load_open_clip` is the one place that turns a ``name@pretrained`` spec into an open_clip model and its own
preprocessing, with weights resolved by :mod:`bench.weights` (explicit path → ``$GENBENCH_CACHE/weights`` →
verified download). Other code (CLIPScore, retrieval) should call it rather than ``open_clip.create_model*``.

Why not ``open_clip.create_model(name, pretrained="openai")`` directly: it downloads into its own cache and
cannot run offline from a file we verified. And the trap: OpenAI CLIP uses QuickGELU, but a model
built from the plain config name (``ViT-B-32``) and loaded from a *file* uses nn.GELU, silently giving different
features. So whenever the pretrained tag is OpenAI's (or open_clip's pretrained config says ``quick_gelu``), we
build ``NAME-quickgelu`` (or force QuickGELU when no such config exists) and record the activation.

Features: ``encode_image`` (the projected embedding, not L2-normalised) after open_clip's own image transform
(PIL resize of the shortest side to 224 bicubic, centre crop, ToTensor, CLIP mean/std). This is what clean-fid's
``model_name="clip_vit_b_32"`` FD uses (its CLIP_fx: same resize/crop, uint8, /255, same normalisation,
``encode_image`` unnormalised), so ``clip-fd`` numbers are comparable with clean-fid's CLIP FID.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.backbones.base import Backbone
from bench.errors import ConfigError
from bench.images import match_channels
from bench.weights import WeightsFile, is_present, missing_message, resolve

DEFAULT_SPEC = "ViT-B-32@openai"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

#: OpenAI's CDN puts the file's sha256 in the URL path (their clip.py checks it), so these are pinned exactly.
CLIP_VIT_B_32_OPENAI = WeightsFile(
    name="clip-vit-b-32-openai",
    filename="clip-openai-ViT-B-32.pt",
    url="https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    used_by="clip-fd (clean-fid clip_vit_b_32), CLIPScore (Hessel et al.)",
    backbones=("clip",),
    library_paths=("open_clip / OpenAI clip: ~/.cache/clip/ViT-B-32.pt (TorchScript archive; read by open_clip's loader)",),
)
CLIP_VIT_L_14_OPENAI = WeightsFile(
    name="clip-vit-l-14-openai",
    filename="clip-openai-ViT-L-14.pt",
    url="https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
    used_by="torchmetrics CLIPScore default (openai/clip-vit-large-patch14)",
    backbones=("clip:ViT-L-14@openai",),
    library_paths=("open_clip / OpenAI clip: ~/.cache/clip/ViT-L-14.pt",),
)
WEIGHTS_FILES: tuple[WeightsFile, ...] = (CLIP_VIT_B_32_OPENAI, CLIP_VIT_L_14_OPENAI)
_KNOWN = {("ViT-B-32", "openai"): CLIP_VIT_B_32_OPENAI, ("ViT-L-14", "openai"): CLIP_VIT_L_14_OPENAI}


@dataclass(frozen=True)
class ClipSpec:
    """A parsed ``name@pretrained``: what the user asked for and the architecture actually built."""

    model: str  # as given, without "-quickgelu"
    pretrained: str | None  # a tag ("openai", "laion2b_s34b_b79k"), or None when weights come from a file
    arch: str  # the open_clip config name built (with -quickgelu when the weights need it)
    quick_gelu: bool
    force_quick_gelu: bool  # no NAME-quickgelu config exists: QuickGELU forced on NAME
    pretrained_cfg: dict[str, Any]


def parse_spec(spec: str) -> ClipSpec:
    """``ViT-B-32@openai`` → arch ``ViT-B-32-quickgelu``; ``ViT-B-32-quickgelu`` and ``NAME@/path/file`` too."""
    import open_clip

    name, _, tag = spec.partition("@")
    if not name:
        raise ConfigError(f"CLIP spec '{spec}': expected MODEL@PRETRAINED, e.g. {DEFAULT_SPEC}")
    base = name[: -len("-quickgelu")] if name.endswith("-quickgelu") else name
    models = open_clip.list_models()
    if name not in models and base not in models:
        from bench.errors import did_you_mean

        raise ConfigError(f"CLIP spec '{spec}': unknown open_clip model '{name}'{did_you_mean(name, models)}")
    pretrained = tag or None
    if pretrained is not None and ("/" in pretrained or Path(pretrained).suffix):
        pretrained = None  # a weights file path, handled by the backbone's weights argument
    cfg = dict(open_clip.get_pretrained_cfg(base, pretrained) or {}) if pretrained else {}
    if pretrained and not cfg and pretrained != "openai":
        tags = open_clip.list_pretrained_tags_by_model(base)
        raise ConfigError(f"CLIP spec '{spec}': open_clip has no pretrained tag '{pretrained}' for {base}"
                          f"{'; choose from ' + ', '.join(tags) if tags else ''}")
    quick = name.endswith("-quickgelu") or bool(cfg.get("quick_gelu", pretrained == "openai"))
    arch = name
    force = False
    if quick and not name.endswith("-quickgelu"):
        if f"{base}-quickgelu" in models:
            arch = f"{base}-quickgelu"
        else:
            force = True
    return ClipSpec(base, pretrained, arch, quick, force, cfg)


def clip_weights_file(spec: ClipSpec) -> WeightsFile | None:
    """The weights file for a pretrained tag: pinned for OpenAI's (sha256 in their URL path), else open_clip's
    URL with "sha256 not pinned". None when there is no tag (weights must be given as a path)."""
    if spec.pretrained is None:
        return None
    known = _KNOWN.get((spec.model, spec.pretrained))
    if known is not None:
        return known
    url = spec.pretrained_cfg.get("url") or None
    sha = None
    if url and "openaipublic.azureedge.net/clip/models/" in url:
        sha = url.split("/")[-2]
    hub = spec.pretrained_cfg.get("hf_hub")
    if url is None and hub:
        url = f"https://huggingface.co/{hub.rstrip('/')}/resolve/main/open_clip_pytorch_model.bin"
    suffix = Path(url).suffix if url else ".bin"
    return WeightsFile(name=f"clip-{spec.model}-{spec.pretrained}".lower(), filename=f"clip-{spec.model}-{spec.pretrained}{suffix}",
                       url=url, sha256=sha, used_by="open_clip", backbones=(f"clip:{spec.model}@{spec.pretrained}",))


@dataclass
class LoadedClip:
    model: torch.nn.Module
    transform: Any  # open_clip's own image transform (PIL image -> normalised tensor)
    spec: ClipSpec
    path: Path
    sha256: str


def load_open_clip(spec: str = DEFAULT_SPEC, weights: str | None = None, device: str | torch.device = "cpu") -> LoadedClip:
    """Build an open_clip model offline from a resolved weights file, with its own preprocessing, in eval mode.

    ``weights`` (a file path) overrides the tag's file; OpenAI weights then still get QuickGELU because the tag
    says so. open_clip reads the file with ``weights_only=True`` (its default) and accepts OpenAI's TorchScript
    archives, open_clip ``.pt``/``.bin`` state dicts and ``.safetensors``.
    """
    import open_clip

    s = parse_spec(spec)
    explicit = weights
    if explicit is None and "@" in spec and s.pretrained is None:
        explicit = spec.partition("@")[2]  # NAME@/path/to/file
    wf = clip_weights_file(s)
    if explicit is None and wf is None:
        raise ConfigError(f"CLIP spec '{spec}': no pretrained tag and no weights file; use e.g. {DEFAULT_SPEC}")
    r = resolve(wf if wf is not None else _explicit_only(s), explicit)
    cfg = s.pretrained_cfg
    model, _, preprocess = open_clip.create_model_and_transforms(
        s.arch, pretrained=str(r.path), device=device, force_quick_gelu=s.force_quick_gelu,
        image_mean=cfg.get("mean"), image_std=cfg.get("std"), image_interpolation=cfg.get("interpolation"),
        image_resize_mode=cfg.get("resize_mode"), weights_only=True)
    return LoadedClip(model.eval(), preprocess, s, r.path, r.sha256)


def _explicit_only(s: ClipSpec) -> WeightsFile:
    return WeightsFile(name=f"clip-{s.model}", filename=f"clip-{s.model}.pt", url=None, sha256=None)


class ClipBackbone(Backbone):
    """open_clip image encoder (default ViT-B-32 OpenAI, QuickGELU): encode_image features for CLIP-FD."""

    name = "clip"
    layers = ("embedding",)
    default_layer = "embedding"
    batch_size = 64
    accepts_spec = True
    weights_files = WEIGHTS_FILES

    def __init__(self, weights: str | None = None, device: str = "cpu", spec: str | None = None,
                 inference: str = "exact") -> None:
        super().__init__(weights, device, inference)
        self.spec_str = spec or DEFAULT_SPEC
        self.spec = parse_spec(self.spec_str)
        if self.spec_str != DEFAULT_SPEC:
            self.name = f"clip:{self.spec_str}"

    def check_weights(self) -> list[str]:
        wf = clip_weights_file(self.spec)
        explicit = self.weights_arg
        if explicit is None and wf is None and "@" in self.spec_str:
            explicit = self.spec_str.partition("@")[2]
        if explicit is not None:
            return [] if Path(explicit).expanduser().is_file() else [f"{explicit}: CLIP weights file does not exist"]
        if wf is None:
            return [f"CLIP spec '{self.spec_str}': no pretrained tag and no weights file"]
        return [] if is_present(wf) else [missing_message(wf)]

    def required_weights(self) -> WeightsFile | None:
        return clip_weights_file(self.spec)

    def published_weights_sha256(self) -> str | None:
        wf = clip_weights_file(self.spec)
        return wf.sha256 if wf is not None else None

    def load(self) -> None:
        self.clip = load_open_clip(self.spec_str, self.weights_arg, self.device)
        self.weights_sha256 = self.clip.sha256

    def preprocessing(self) -> dict[str, Any]:
        import open_clip

        cfg = self.spec.pretrained_cfg
        size = (open_clip.get_model_config(self.spec.arch) or {}).get("vision_cfg", {}).get("image_size", 224)
        return {"input": "uint8 RGB (grayscale repeated) -> PIL", "transform": "open_clip image_transform (eval): resize "
                f"shortest side to {size} ({cfg.get('interpolation', 'bicubic')}, PIL), centre crop {size}, ToTensor, "
                "normalize", "mean": list(cfg.get("mean", OPENAI_MEAN)), "std": list(cfg.get("std", OPENAI_STD)),
                "model": self.spec.arch, "pretrained": self.spec.pretrained,
                "activation": "QuickGELU" if self.spec.quick_gelu else "GELU",
                "features": "encode_image (projected embedding, not L2-normalised)", "dtype": "float32",
                "reference": "open_clip 3.3.0; clean-fid 0.1.35 model_name=clip_vit_b_32"}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        if self.weights_sha256 is None:
            self.load()
        rgb = match_channels(images, 3).permute(0, 2, 3, 1).numpy()
        # per-image tensor ops are tiny: with several intra-op threads on a loaded machine they were ~100x slower
        # (35 ms vs 0.3 ms per ToTensor here), so the transform runs single-threaded; values are unchanged
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return torch.stack([self.clip.transform(Image.fromarray(np.ascontiguousarray(im))) for im in rgb])
        finally:
            torch.set_num_threads(threads)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"embedding": self.clip.model.encode_image(x).float()}  # type: ignore[operator]
