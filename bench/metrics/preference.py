"""Human-preference scorers for text-to-image: PickScore, HPSv2 / HPSv2.1 and the LAION aesthetic predictor v2.

Each scorer is a per-item function ``(uint8 images [N, 3, H, W], prompts) -> float64 [N]`` that does what its
reference implementation does, step for step (docs/text-to-image.md has each one's reference and limits):

- **PickScore** (Kirstain et al. 2023; the PickScore repository's README): a CLIP-H/14 fine-tune loaded with
  transformers (``yuvalkirstain/PickScore_v1``) and the processor of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``;
  score = ``logit_scale.exp() * cos(image, prompt)``; text padded and truncated at the text encoder's context.
- **HPSv2 / HPSv2.1** (Wu et al. 2023; the ``hpsv2`` package's ``img_score.score``): open_clip ViT-H/14 with the
  ``state_dict`` of ``HPS_v2_compressed.pt`` / ``HPS_v2.1_compressed.pt``; image: ToTensor, bicubic resize of the
  longer side to 224 and zero padding to a square (its ``ResizeMaxSize``), CLIP mean/std; score =
  ``cos(image, prompt)`` (no logit scale).
- **Aesthetic** (LAION improved-aesthetic-predictor v2, ``simple_inference.py``): OpenAI CLIP ViT-L/14 image
  embedding, L2-normalised, into its linear MLP (``sac+logos+ava1-l14-linearMSE.pth``).

Long prompts: CLIP text encoders read 77 tokens. The scorers count the prompts longer than their encoder's context
and say what was done in the row's extras (``prompts_over_context``, ``long_prompts``); ``long_prompts: error``
refuses them instead. A longer-context model (a folder in the same format) can be named with ``model:``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet
from bench.metrics.longprompts import check_long_prompts
from bench.weights import WeightsFile

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)

HPS_FILES = {
    "v2.0": WeightsFile(name="hpsv2", filename="HPS_v2_compressed.pt",
                        url="https://huggingface.co/xswu/HPSv2/resolve/main/HPS_v2_compressed.pt", sha256=None,
                        used_by="hpsv2 (HPSv2, open_clip ViT-H/14 fine-tune)",
                        library_paths=("hpsv2: the Hugging Face cache of xswu/HPSv2",)),
    "v2.1": WeightsFile(name="hpsv2.1", filename="HPS_v2.1_compressed.pt",
                        url="https://huggingface.co/xswu/HPSv2/resolve/main/HPS_v2.1_compressed.pt", sha256=None,
                        used_by="hpsv21 (HPSv2.1, open_clip ViT-H/14 fine-tune)",
                        library_paths=("hpsv2: the Hugging Face cache of xswu/HPSv2",)),
}
#: the MLP file is committed in the LAION repository itself: its sha256 is pinned from that file
AESTHETIC_MLP = WeightsFile(
    name="laion-aesthetic-v2", filename="sac+logos+ava1-l14-linearMSE.pth",
    url="https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac+logos+ava1-l14-linearMSE.pth",
    sha256="21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0", size=3714759,
    used_by="aesthetic (LAION improved-aesthetic-predictor v2 MLP on CLIP ViT-L/14)")


def to_pil(images: torch.Tensor) -> list[Any]:
    """uint8 [N, C, H, W] → RGB PIL images (what every reference scorer is fed)."""
    from PIL import Image

    from bench.images import match_channels

    if images.dtype != torch.uint8 or images.ndim != 4:
        raise InputError(f"scorers take uint8 images [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    arr = match_channels(images, 3).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(a)) for a in arr]


def _device(name: str) -> torch.device:
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))


# ================================================================================================ scorers
class Scorer:
    """A loaded preference model: ``__call__(images, prompts)`` gives one float64 score per (image, prompt) pair."""

    name: ClassVar[str] = ""
    context: int = 77
    batch_size: int = 16

    def token_counts(self, prompts: list[str]) -> list[int]:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What makes its numbers comparable: model, weights sha256, preprocessing, reference (the protocol)."""
        raise NotImplementedError

    def score_batch(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        if len(prompts) != images.shape[0]:
            raise InputError(f"{self.name}: {images.shape[0]} images for {len(prompts)} prompts")
        out = [self.score_batch(images[s: s + self.batch_size], list(prompts[s: s + self.batch_size]))
               for s in range(0, len(prompts), self.batch_size)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def _pooled(out: Any) -> torch.Tensor:
    """transformers < 5 returns the projected features; 5.x a model output whose ``pooler_output`` holds them."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class PickScoreScorer(Scorer):
    """PickScore: ``logit_scale.exp() * cos`` of a transformers CLIP model, with the reference's processor."""

    name = "pickscore"

    def __init__(self, model: str = "yuvalkirstain/PickScore_v1",
                 processor: str = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", device: str = "auto",
                 batch_size: int = 16) -> None:
        from transformers import AutoModel, AutoProcessor

        from bench.metrics.hfweights import folder_sha256, hf_folder

        mdir, pdir = hf_folder(model, "PickScore model"), hf_folder(processor, "PickScore processor")
        self.device, self.batch_size = _device(device), batch_size
        self.processor = AutoProcessor.from_pretrained(pdir)
        self.model = AutoModel.from_pretrained(mdir).eval().to(self.device)
        self.context = int(self.model.config.text_config.max_position_embeddings)
        self._info = {"scorer": "PickScore", "model": model, "processor": processor,
                      "weights_sha256": folder_sha256(mdir), "text_context": self.context,
                      "score": "logit_scale.exp() * cos(image, text), float32",
                      "preprocessing": "the processor's own (PIL, resize shortest side, centre crop, CLIP mean/std)",
                      "reference": "yuvalkirstain/PickScore README calc_probs (scores before softmax)"}

    def info(self) -> dict[str, Any]:
        return self._info

    def token_counts(self, prompts: list[str]) -> list[int]:
        return [len(ids) for ids in self.processor.tokenizer(list(prompts), truncation=False, verbose=False)["input_ids"]]

    def score_batch(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        im = self.processor(images=to_pil(images), return_tensors="pt").to(self.device)
        tx = self.processor(text=prompts, padding=True, truncation=True, max_length=self.context,
                            return_tensors="pt").to(self.device)
        ie = _pooled(self.model.get_image_features(**im))
        te = _pooled(self.model.get_text_features(**tx))
        ie = ie / torch.norm(ie, dim=-1, keepdim=True)
        te = te / torch.norm(te, dim=-1, keepdim=True)
        return (self.model.logit_scale.exp() * (te * ie).sum(-1)).float().cpu().numpy()  # type: ignore[no-any-return]


def resize_max_side(x: torch.Tensor, size: int) -> torch.Tensor:
    """hpsv2's ``ResizeMaxSize`` on a float [3, H, W] tensor: bicubic resize (torchvision, tensor path) so the
    longer side is ``size`` (sides rounded), then zero padding centred (left/top get the smaller half). Where the
    longer side already is ``size`` hpsv2 leaves the image as it is; a non-square one is padded here instead of
    failing in the network."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    h, w = x.shape[-2:]
    scale = size / float(max(h, w))
    if scale != 1.0:
        x = TF.resize(x, [round(h * scale), round(w * scale)], InterpolationMode.BICUBIC)
    ph, pw = size - x.shape[-2], size - x.shape[-1]
    if ph or pw:
        x = TF.pad(x, [pw // 2, ph // 2, pw - pw // 2, ph - ph // 2], fill=0)
    return x


class HPSScorer(Scorer):
    """HPSv2 / HPSv2.1: cosine of open_clip ViT-H/14 (HPS checkpoint) image and text embeddings."""

    name = "hps"

    def __init__(self, version: str = "v2.1", weights: str | None = None, arch: str = "ViT-H-14",
                 device: str = "auto", batch_size: int = 16) -> None:
        import open_clip

        from bench.metrics.hfweights import hf_file

        spec = HPS_FILES[version]
        r = hf_file(spec, "xswu/HPSv2", spec.filename, weights)
        self.device, self.batch_size, self.version = _device(device), batch_size, version
        if arch not in open_clip.list_models():
            raise ConfigError(f"hps: unknown open_clip architecture '{arch}'")
        model = open_clip.create_model(arch, pretrained=None)
        ckpt = torch.load(r.path, map_location="cpu", weights_only=True)
        state = ckpt["state_dict"] if isinstance(ckpt, dict) and "state_dict" in ckpt else ckpt
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise InputError(f"{r.path}: not an HPS {arch} checkpoint ({first})") from None
        self.model = model.eval().to(self.device)
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.context = int(getattr(self.tokenizer, "context_length", 77))
        self.size = int(self.model.visual.image_size[0] if isinstance(self.model.visual.image_size, tuple)
                        else self.model.visual.image_size)
        self._info = {"scorer": f"HPS{version}", "model": f"open_clip {arch}", "weights": spec.filename,
                      "weights_sha256": r.sha256, "text_context": self.context, "score": "cos(image, text), float32",
                      "preprocessing": f"ToTensor, bicubic resize of the longer side to {self.size} (torchvision "
                                       "tensor path), zero padding to a square, CLIP mean/std",
                      "reference": "hpsv2 1.2.0 img_score.score (its CUDA autocast fp16 is not used)"}

    def info(self) -> dict[str, Any]:
        return self._info

    def token_counts(self, prompts: list[str]) -> list[int]:
        enc = getattr(self.tokenizer, "encode", None)
        if enc is None:  # open_clip's SimpleTokenizer: encode() without start/end tokens
            raise ConfigError("hps: the tokenizer cannot count tokens")
        return [len(enc(p)) + 2 for p in prompts]

    def score_batch(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        from torchvision.transforms.functional import normalize, to_tensor

        x = torch.stack([normalize(resize_max_side(to_tensor(im), self.size), OPENAI_MEAN, OPENAI_STD)
                         for im in to_pil(images)]).to(self.device)
        ie = self.model.encode_image(x, normalize=True)
        te = self.model.encode_text(self.tokenizer(prompts).to(self.device), normalize=True)
        return (ie * te).sum(-1).float().cpu().numpy()  # type: ignore[no-any-return]


class AestheticMLP(torch.nn.Module):
    """LAION's improved-aesthetic-predictor head: five linear layers (dropouts between, no activations)."""

    def __init__(self, dim: int = 768) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(dim, 1024), torch.nn.Dropout(0.2), torch.nn.Linear(1024, 128), torch.nn.Dropout(0.2),
            torch.nn.Linear(128, 64), torch.nn.Dropout(0.1), torch.nn.Linear(64, 16), torch.nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # type: ignore[no-any-return]


class AestheticScorer(Scorer):
    """LAION aesthetic v2: the MLP on the L2-normalised OpenAI CLIP ViT-L/14 image embedding (prompts unused)."""

    name = "aesthetic"

    def __init__(self, clip: str = "ViT-L-14@openai", clip_weights: str | None = None, weights: str | None = None,
                 device: str = "auto", batch_size: int = 32) -> None:
        from bench.backbones.clip import load_open_clip
        from bench.metrics.hfweights import hf_file

        self.device, self.batch_size = _device(device), batch_size
        self.clip = load_open_clip(clip, clip_weights, self.device)
        r = hf_file(AESTHETIC_MLP, None, AESTHETIC_MLP.filename, weights)
        state = torch.load(r.path, map_location="cpu", weights_only=True)
        dim = int(state["layers.0.weight"].shape[1])
        self.mlp = AestheticMLP(dim)
        self.mlp.load_state_dict(state)
        self.mlp.eval().to(self.device)
        self._info = {"scorer": "LAION aesthetic predictor v2", "clip": clip, "clip_weights_sha256": self.clip.sha256,
                      "weights": AESTHETIC_MLP.filename, "weights_sha256": r.sha256,
                      "preprocessing": "open_clip's OpenAI transform (PIL bicubic shortest side, centre crop)",
                      "score": "MLP(encode_image / ||encode_image||), float32",
                      "reference": "improved-aesthetic-predictor simple_inference.py"}

    def info(self) -> dict[str, Any]:
        return self._info

    def token_counts(self, prompts: list[str]) -> list[int]:
        return [0 for _ in prompts]

    def score_batch(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        x = torch.stack([self.clip.transform(im) for im in to_pil(images)]).to(self.device)
        e = self.clip.model.encode_image(x).float()  # type: ignore[operator]
        n = torch.linalg.vector_norm(e, dim=-1, keepdim=True)
        e = e / torch.where(n == 0, torch.ones_like(n), n)
        return self.mlp(e)[:, 0].float().cpu().numpy()  # type: ignore[no-any-return]


IMAGEREWARD = WeightsFile(
    name="imagereward-v1.0", filename="ImageReward.pt",
    url="https://huggingface.co/THUDM/ImageReward/resolve/main/ImageReward.pt", sha256=None,
    used_by="imagereward (BLIP ViT-L + BERT cross-attention + MLP, THUDM)",
    library_paths=("image-reward: ~/.cache/ImageReward/ImageReward.pt",))
IMAGEREWARD_MED_CONFIG = WeightsFile(
    name="imagereward-med-config", filename="med_config.json",
    url="https://huggingface.co/THUDM/ImageReward/resolve/main/med_config.json", sha256=None,
    used_by="imagereward (the BERT text encoder's configuration)")
#: ImageReward's reward normalisation (its ImageReward.__init__): reward = (MLP(features) - mean) / std
IMAGEREWARD_MEAN, IMAGEREWARD_STD = 0.16717362830052426, 1.0333394966054072


def imagereward_vision_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """BLIP's ``visual_encoder`` keys (timm-style ViT) → transformers' ``BlipVisionModel`` keys (same tensors)."""
    out = {}
    for k, v in state.items():
        if not k.startswith("blip.visual_encoder."):
            continue
        k = k[len("blip.visual_encoder."):]
        k = {"cls_token": "embeddings.class_embedding", "pos_embed": "embeddings.position_embedding"}.get(k, k)
        k = (k.replace("patch_embed.proj.", "embeddings.patch_embedding.").replace("blocks.", "encoder.layers.")
             .replace(".norm1.", ".layer_norm1.").replace(".norm2.", ".layer_norm2.").replace(".attn.qkv.", ".self_attn.qkv.")
             .replace(".attn.proj.", ".self_attn.projection."))
        out["post_layernorm." + k[len("norm."):] if k.startswith("norm.") else k] = v
    return out


class ImageRewardScorer(Scorer):
    """ImageReward v1.0 as the image-reward package scores: BLIP ViT-L/16 image tokens, the BERT text encoder
    cross-attending to them over the prompt (padded/truncated to 35 tokens), the [CLS] feature into the MLP, then
    ``(r - mean) / std``. Built on transformers' BLIP vision and text models (a port of the same BLIP code)."""

    name = "imagereward"

    def __init__(self, weights: str | None = None, med_config: str | None = None,
                 tokenizer: str = "google-bert/bert-base-uncased", vision_heads: int = 16, image_size: int = 224,
                 device: str = "auto", batch_size: int = 16) -> None:
        import json

        from transformers import (
            BertTokenizer,
            BlipTextConfig,
            BlipTextModel,
            BlipVisionConfig,
            BlipVisionModel,
        )

        from bench.metrics.hfweights import hf_file, hf_folder

        self.device, self.batch_size, self.size = _device(device), batch_size, image_size
        r = hf_file(IMAGEREWARD, "THUDM/ImageReward", IMAGEREWARD.filename, weights)
        cfg_path = hf_file(IMAGEREWARD_MED_CONFIG, "THUDM/ImageReward", "med_config.json", med_config).path
        med = json.loads(cfg_path.read_text())
        state = torch.load(r.path, map_location="cpu", weights_only=True)
        vis = imagereward_vision_state(state)
        dim = int(vis["embeddings.class_embedding"].shape[-1])
        patch = int(vis["embeddings.patch_embedding.weight"].shape[-1])
        depth = 1 + max(int(k.split(".")[2]) for k in vis if k.startswith("encoder.layers."))
        self.vision = BlipVisionModel(BlipVisionConfig(
            hidden_size=dim, intermediate_size=int(vis["encoder.layers.0.mlp.fc1.weight"].shape[0]),
            num_hidden_layers=depth, num_attention_heads=vision_heads, image_size=image_size, patch_size=patch,
            layer_norm_eps=1e-6, hidden_act="gelu"))  # BLIP's ViT: LayerNorm eps 1e-6, exact GELU
        self.vision.load_state_dict(vis)
        self.text = BlipTextModel(BlipTextConfig(
            vocab_size=med["vocab_size"], hidden_size=med["hidden_size"], intermediate_size=med["intermediate_size"],
            num_hidden_layers=med["num_hidden_layers"], num_attention_heads=med["num_attention_heads"],
            max_position_embeddings=med["max_position_embeddings"], layer_norm_eps=med.get("layer_norm_eps", 1e-12),
            hidden_act=med.get("hidden_act", "gelu"), encoder_hidden_size=dim,
            is_decoder=True), add_pooling_layer=False)  # is_decoder builds the cross-attention; forward runs bidirectional
        txt = {k[len("blip.text_encoder."):]: v for k, v in state.items() if k.startswith("blip.text_encoder.")}
        missing, unexpected = self.text.load_state_dict({k: v for k, v in txt.items() if "position_ids" not in k},
                                                        strict=False)
        if [m for m in missing if "position_ids" not in m] or unexpected:
            raise InputError(f"{r.path}: not an ImageReward checkpoint (text encoder keys differ: "
                             f"{(missing + unexpected)[:3]})")
        self.mlp = AestheticMLP(med["hidden_size"])  # the same five-layer head (ImageReward's MLP)
        self.mlp.load_state_dict({k[len("mlp."):]: v for k, v in state.items() if k.startswith("mlp.")})
        for m in (self.vision, self.text, self.mlp):
            m.eval().to(self.device)
        tdir = hf_folder(tokenizer, "ImageReward tokenizer (BERT base uncased)")
        self.tokenizer = BertTokenizer.from_pretrained(tdir)
        self.tokenizer.add_special_tokens({"bos_token": "[DEC]"})  # as BLIP's init_tokenizer: vocabulary 30524
        self.tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        self.context = 35
        self._info = {"scorer": "ImageReward v1.0", "weights": IMAGEREWARD.filename, "weights_sha256": r.sha256,
                      "tokenizer": tokenizer, "text_context": self.context, "image_size": image_size,
                      "normalisation": {"mean": IMAGEREWARD_MEAN, "std": IMAGEREWARD_STD},
                      "preprocessing": f"PIL bicubic resize of the shortest side to {image_size}, centre crop, "
                                       "CLIP mean/std",
                      "reference": "image-reward 1.5 ImageReward.score / inference_rank"}

    def info(self) -> dict[str, Any]:
        return self._info

    def token_counts(self, prompts: list[str]) -> list[int]:
        return [len(ids) for ids in self.tokenizer(list(prompts), truncation=False, verbose=False)["input_ids"]]

    def score_batch(self, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
        from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

        tf = Compose([Resize(self.size, interpolation=InterpolationMode.BICUBIC), CenterCrop(self.size), ToTensor(),
                      Normalize(OPENAI_MEAN, OPENAI_STD)])
        x = torch.stack([tf(im) for im in to_pil(images)]).to(self.device)
        tok = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.context,
                             return_tensors="pt").to(self.device)
        emb = self.vision(pixel_values=x).last_hidden_state
        out = self.text(input_ids=tok.input_ids, attention_mask=tok.attention_mask, encoder_hidden_states=emb,
                        encoder_attention_mask=torch.ones(emb.shape[:-1], dtype=torch.long, device=self.device),
                        is_decoder=False, return_dict=True)
        r = self.mlp(out.last_hidden_state[:, 0, :].float())[:, 0]
        return ((r - IMAGEREWARD_MEAN) / IMAGEREWARD_STD).float().cpu().numpy()  # type: ignore[no-any-return]


_LOADED: dict[tuple[Any, ...], Scorer] = {}


def load_scorer(cls: type[Scorer], **kwargs: Any) -> Scorer:
    """One loaded scorer per (class, options) in a process: every model of a suite is scored by the same one."""
    key = (cls, *sorted(kwargs.items()))
    if key not in _LOADED:
        _LOADED[key] = cls(**kwargs)
    return _LOADED[key]


# ================================================================================================ metrics
class ScorerOpts(Options):
    long_prompts: Literal["truncate", "error"] = Field(
        default="truncate", description="prompts longer than the text encoder's context: truncate (counted in the "
                                        "row's extras) or refuse")
    device: str = Field(default="auto", description="auto: CUDA when present")
    batch_size: int = Field(default=16, ge=1)


class PickScoreOpts(ScorerOpts):
    model: str = Field(default="yuvalkirstain/PickScore_v1", description="folder or Hugging Face repo id (cache)")
    processor: str = Field(default="laion/CLIP-ViT-H-14-laion2B-s32B-b79K", description="folder or repo id")


class HPSOpts(ScorerOpts):
    weights: str | None = Field(default=None, description="explicit path of the HPS checkpoint")
    arch: str = Field(default="ViT-H-14", description="open_clip architecture the checkpoint is for")


class AestheticOpts(ScorerOpts):
    clip: str = Field(default="ViT-L-14@openai", description="open_clip spec of the CLIP image encoder")
    clip_weights: str | None = Field(default=None, description="explicit path of the CLIP weights")
    weights: str | None = Field(default=None, description="explicit path of the aesthetic MLP")


ScorerOptsT = TypeVar("ScorerOptsT", bound=ScorerOpts)


class ScorerMetric(Metric[ScorerOptsT]):
    """A per-item scorer as a text-to-image metric: mean over images, bootstrap interval, per-sample scores. The
    text-to-image task scores each batch as it streams (:meth:`item_measures`): no image is held for it. Generic in
    its options (each scorer's own ``ScorerOpts``)."""

    requires = frozenset({"texts"})
    value: ClassVar[str]
    scorer: ClassVar[type[Scorer]]
    uses_prompts: ClassVar[bool] = True

    def scorer_kwargs(self) -> dict[str, Any]:
        o = self.opts.model_dump()
        o.pop("long_prompts")
        return o

    def load(self) -> Scorer:
        return load_scorer(self.scorer, **self.scorer_kwargs())

    def item_measures(self) -> dict[str, Any]:
        scorer = self.load()
        return {self.value: lambda images, prompts: scorer(images, list(prompts))}

    def protocol_fields(self) -> dict[str, Any]:
        """The scorer's own protocol (model, weights sha256, preprocessing): the task's backbone plays no part."""
        return {"metric_protocol": self.load().info()}

    def dry_run(self) -> list[str]:
        """What the scorer would read, for ``genbench run --dry-run`` (nothing is loaded)."""
        return []

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        from bench.metrics.vl import bootstrap_ci

        if (samples.images is None and self.value not in samples.item_values) or samples.texts is None:
            raise InputError(f"{self.name} needs the generated images and their prompts")
        scorer = self.load()
        prompts = list(samples.texts)
        extras: dict[str, Any] = {"scorer": scorer.info()["scorer"], "weights_sha256": scorer.info()["weights_sha256"]}
        if self.uses_prompts:
            lp = check_long_prompts(scorer.token_counts(prompts), scorer.context,
                                    self.opts.long_prompts, self.name)
            extras.update(lp.extras())
        per = np.asarray(samples.item_values[self.value]) if self.value in samples.item_values \
            else scorer(samples.images, prompts)  # type: ignore[arg-type]
        lo, hi = bootstrap_ci(per, seed)
        if sink is not None:
            sink.per_sample(self.value, per)
        return [MetricValue(self.value, float(per.mean()), lo, hi, extras=extras)]


class PickScore(ScorerMetric[PickScoreOpts]):
    name = "pickscore"
    value = "pickscore"
    scorer = PickScoreScorer
    Opts = PickScoreOpts
    description = "PickScore (Kirstain et al. 2023): logit_scale * cos of the PickScore_v1 CLIP-H/14"
    outputs = {"pickscore": OutputInfo(True, "", "PickScore: 100 * cos(image, prompt), PickScore_v1")}

    def dry_run(self) -> list[str]:
        from bench.metrics.hfweights import folder_state

        o = self.opts
        return [folder_state(o.model, "PickScore model"), folder_state(o.processor, "PickScore processor")]


class HPSv2(ScorerMetric[HPSOpts]):
    name = "hpsv2"
    value = "hpsv2"
    scorer = HPSScorer
    Opts = HPSOpts
    version: ClassVar[str] = "v2.0"
    description = "HPSv2 (Wu et al. 2023): cos of the HPS_v2 open_clip ViT-H/14, as the hpsv2 package scores"
    outputs = {"hpsv2": OutputInfo(True, "", "HPSv2: cos(image, prompt)")}
    weights_files = (HPS_FILES["v2.0"],)

    def scorer_kwargs(self) -> dict[str, Any]:
        return {**super().scorer_kwargs(), "version": self.version}

    def dry_run(self) -> list[str]:
        from bench.metrics.hfweights import file_state

        return [file_state(HPS_FILES[self.version], "xswu/HPSv2", self.opts.weights)]


class HPSv21(HPSv2):
    name = "hpsv21"
    value = "hpsv21"
    version = "v2.1"
    description = "HPSv2.1: cos of the HPS_v2.1 open_clip ViT-H/14, as the hpsv2 package scores"
    outputs = {"hpsv21": OutputInfo(True, "", "HPSv2.1: cos(image, prompt)")}
    weights_files = (HPS_FILES["v2.1"],)


class Aesthetic(ScorerMetric[AestheticOpts]):
    name = "aesthetic"
    value = "aesthetic"
    scorer = AestheticScorer
    Opts = AestheticOpts
    uses_prompts = False
    requires = frozenset({"texts"})  # a text-to-image metric; the prompts are not read
    description = "LAION aesthetic predictor v2 (MLP on CLIP ViT-L/14 embeddings), 1-10 scale"
    outputs = {"aesthetic": OutputInfo(True, "", "LAION aesthetic v2 score")}
    weights_files = (AESTHETIC_MLP,)

    def dry_run(self) -> list[str]:
        from bench.metrics.hfweights import file_state

        o = self.opts
        return [f"CLIP {o.clip}" + (f" from {o.clip_weights}" if o.clip_weights else " (genbench weights fetch)"),
                file_state(AESTHETIC_MLP, None, o.weights)]

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        if samples.texts is None and (samples.images is not None or self.value in samples.item_values):
            from dataclasses import replace

            samples = replace(samples, texts=[""] * samples.n)
        return super().compute(samples, ref, seed=seed, state=state, sink=sink)


class ImageRewardOpts(ScorerOpts):
    weights: str | None = Field(default=None, description="explicit path of ImageReward.pt")
    med_config: str | None = Field(default=None, description="explicit path of its med_config.json")
    tokenizer: str = Field(default="google-bert/bert-base-uncased", description="BERT tokenizer folder or repo id")
    vision_heads: int = Field(default=16, ge=1, description="BLIP ViT-L/16 heads (the checkpoint does not say)")
    image_size: int = Field(default=224, ge=8)


class ImageReward(ScorerMetric[ImageRewardOpts]):
    name = "imagereward"
    value = "imagereward"
    scorer = ImageRewardScorer
    Opts = ImageRewardOpts
    description = "ImageReward v1.0 (Xu et al. 2023): BLIP + MLP reward, normalised by its mean/std"
    outputs = {"imagereward": OutputInfo(True, "", "ImageReward v1.0 reward ((r - mean) / std)")}
    weights_files = (IMAGEREWARD, IMAGEREWARD_MED_CONFIG)

    def dry_run(self) -> list[str]:
        from bench.metrics.hfweights import file_state, folder_state

        o = self.opts
        return [file_state(IMAGEREWARD, "THUDM/ImageReward", o.weights),
                file_state(IMAGEREWARD_MED_CONFIG, "THUDM/ImageReward", o.med_config),
                folder_state(o.tokenizer, "ImageReward tokenizer")]
