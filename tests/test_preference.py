"""Human-preference scorers equal their reference implementations on tiny random models in the references' formats.

- PickScore: a transformers CLIP folder (as yuvalkirstain/PickScore_v1 is) and its processor; the reference is the
  PickScore README's ``calc_probs`` steps (the repository ships no package).
- HPSv2: an open_clip checkpoint ``{"state_dict": ...}`` (as HPS_v2*_compressed.pt are). Where the ``hpsv2`` package
  imports, its own ``img_score.score`` runs on the same files; everywhere, a step-by-step restatement of it does.
- Aesthetic: an open_clip CLIP file and the LAION MLP's state dict; the reference is simple_inference.py's steps
  with OpenAI clip's own transform (torchvision Compose on PIL).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import InputError
from bench.metrics import preference as pref

TINY_CLIP_CFG = {"embed_dim": 16,
                 "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 8, "patch_size": 8},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2}}
TINY_ARCH = "genbench-tiny-clip"
PROMPTS = ["a photo of a red cube", "two dogs on a beach at sunset", "a blue car", "a bowl of ramen"]
LONG = "a very long prompt " + " ".join(f"with object number {i} in a different colour" for i in range(20))


def register_tiny(root: Path, module: object) -> None:
    path = root / f"{TINY_ARCH}.json"
    path.write_text(json.dumps(TINY_CLIP_CFG))
    module.add_model_config(path)  # type: ignore[attr-defined]


def images(n: int = 4, h: int = 40, w: int = 56, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), generator=g, dtype=torch.uint8)


@pytest.fixture(scope="module")
def tiny_open_clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import open_clip

    root = tmp_path_factory.mktemp("tinyclip")
    register_tiny(root, open_clip)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_ARCH, pretrained=None)
    with torch.no_grad():  # random non-trivial logit scale and projections
        model.logit_scale.fill_(2.3)
    torch.save({"state_dict": model.state_dict()}, root / "hps.pt")
    torch.save(model.state_dict(), root / "clip.pt")
    torch.manual_seed(1)
    mlp = pref.AestheticMLP(16)
    for p in mlp.parameters():
        torch.nn.init.normal_(p, std=0.3)
    torch.save(mlp.state_dict(), root / "mlp.pth")
    return {"root": root, "hps": root / "hps.pt", "clip": root / "clip.pt", "mlp": root / "mlp.pth"}


def rel_close(a: np.ndarray, b: np.ndarray, tol: float = 1e-5) -> None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    assert np.all(np.abs(a - b) <= tol * np.maximum(np.abs(b), 1e-3)), (a, b)


# ================================================================================================ PickScore
def pickscore_reference(model_dir: Path, pil: list, prompt: str) -> list[float]:
    """The PickScore README's calc_probs up to the softmax (transformers 5 returns model outputs: .pooler_output)."""
    from transformers import AutoModel, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    image_inputs = processor(images=pil, padding=True, truncation=True, max_length=77, return_tensors="pt")
    text_inputs = processor(text=prompt, padding=True, truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        image_embs = model.get_image_features(**image_inputs)
        image_embs = getattr(image_embs, "pooler_output", image_embs)
        image_embs = image_embs / torch.norm(image_embs, dim=-1, keepdim=True)
        text_embs = model.get_text_features(**text_inputs)
        text_embs = getattr(text_embs, "pooler_output", text_embs)
        text_embs = text_embs / torch.norm(text_embs, dim=-1, keepdim=True)
        scores = model.logit_scale.exp() * (text_embs @ image_embs.T)[0]
    return scores.tolist()


@pytest.fixture(scope="module")
def tiny_pick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.hf_tiny import tiny_clip

    return tiny_clip(tmp_path_factory.mktemp("pick"), seed=3)


def test_pickscore_equals_reference(tiny_pick: Path) -> None:
    ims = images()
    s = pref.PickScoreScorer(str(tiny_pick), str(tiny_pick), device="cpu", batch_size=3)
    ours = s(ims, PROMPTS)
    pil = pref.to_pil(ims)
    ref = [pickscore_reference(tiny_pick, [im], p)[0] for im, p in zip(pil, PROMPTS, strict=True)]
    rel_close(ours, np.array(ref))
    # one prompt against all images: the README's own use
    rel_close(s(ims, [PROMPTS[1]] * 4), np.array(pickscore_reference(tiny_pick, pil, PROMPTS[1])))


def test_pickscore_long_prompt_reported_truncated(tiny_pick: Path) -> None:
    from bench.metrics.base import ArtifactSink, Reference, SampleSet

    m = pref.PickScore({"model": str(tiny_pick), "processor": str(tiny_pick), "device": "cpu"})
    prompts = [PROMPTS[0], LONG]
    assert len(LONG.split()) >= 100  # the character tokenizer makes it far longer than 120 tokens
    sink = ArtifactSink()
    (v,) = m.compute(SampleSet(images=images(2), texts=prompts), Reference(), seed=0, sink=sink)
    assert v.extras["prompts_over_context"] == 1 and v.extras["context_length"] == 77
    assert v.extras["long_prompts"].startswith("truncated")
    assert len(sink.per_sample_values["pickscore"]) == 2  # per-item scores, no images held
    with pytest.raises(InputError, match="prompt 1 has"):
        pref.PickScore({"model": str(tiny_pick), "processor": str(tiny_pick), "device": "cpu",
                        "long_prompts": "error"}).compute(SampleSet(images=images(2), texts=prompts), Reference(), seed=0)


def test_pickscore_offline_names_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench.errors import WeightsError

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="hf download yuvalkirstain/PickScore_v1"):
        pref.PickScoreScorer(device="cpu")


# ================================================================================================ HPSv2
def hps_restated(ckpt: Path, pil: list, prompt: str) -> list[float]:
    """hpsv2 img_score.score, step by step, with open_clip: preprocess_val = ToTensor + ResizeMaxSize + Normalize,
    model(image, text) with output_dict (normalised features), diagonal of image @ text.T."""
    import open_clip
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    model = open_clip.create_model(TINY_ARCH, pretrained=None, output_dict=True)
    model.load_state_dict(torch.load(ckpt, map_location="cpu")["state_dict"])
    model.eval()
    tok = open_clip.get_tokenizer(TINY_ARCH)
    out = []
    for im in pil:
        x = TF.to_tensor(im.convert("RGB"))
        h, w = x.shape[1:]
        scale = 32 / float(max(h, w))
        nh, nw = round(h * scale), round(w * scale)
        x = TF.resize(x, (nh, nw), InterpolationMode.BICUBIC)
        x = TF.pad(x, padding=[(32 - nw) // 2, (32 - nh) // 2, 32 - nw - (32 - nw) // 2, 32 - nh - (32 - nh) // 2],
                   fill=0)
        x = TF.normalize(x, pref.OPENAI_MEAN, pref.OPENAI_STD)
        with torch.no_grad():
            o = model(x[None], tok([prompt]))
            out.append(float(torch.diagonal(o["image_features"] @ o["text_features"].T)[0]))
    return out


def test_hps_equals_restatement(tiny_open_clip: dict[str, Path]) -> None:
    ims = images(h=40, w=56)
    s = pref.HPSScorer("v2.1", str(tiny_open_clip["hps"]), arch=TINY_ARCH, device="cpu", batch_size=3)
    ours = s(ims, PROMPTS)
    pil = pref.to_pil(ims)
    ref = [hps_restated(tiny_open_clip["hps"], [im], p)[0] for im, p in zip(pil, PROMPTS, strict=True)]
    rel_close(ours, np.array(ref))
    assert s.info()["weights_sha256"] and s.token_counts([LONG])[0] > 77


def test_hps_equals_hpsv2_package(tiny_open_clip: dict[str, Path]) -> None:
    """The hpsv2 package's own score() on the same checkpoint and images (its model slot filled with the tiny
    architecture through its own factory; it hard-codes ViT-H-14 only in initialize_model)."""
    pytest.importorskip("clint", reason="hpsv2 needs clint")
    img_score = pytest.importorskip("hpsv2.img_score", reason="hpsv2 not installed (pip install --no-deps hpsv2)")
    from hpsv2.src import open_clip as hps_open_clip

    register_tiny(tiny_open_clip["root"], hps_open_clip)
    model, _, preprocess_val = hps_open_clip.create_model_and_transforms(
        TINY_ARCH, None, precision="fp32", device="cpu", jit=False, force_quick_gelu=False, force_custom_text=False,
        force_patch_dropout=False, force_image_size=None, pretrained_image=False, image_mean=None, image_std=None,
        light_augmentation=True, aug_cfg={}, output_dict=True, with_score_predictor=False,
        with_region_predictor=False)
    img_score.model_dict.clear()
    img_score.model_dict.update(model=model, preprocess_val=preprocess_val)
    img_score.device = "cpu"
    ims = images(h=40, w=56)
    pil = pref.to_pil(ims)
    ref = [float(img_score.score([im], p, cp=str(tiny_open_clip["hps"]), hps_version="v2.1")[0])
           for im, p in zip(pil, PROMPTS, strict=True)]
    ours = pref.HPSScorer("v2.1", str(tiny_open_clip["hps"]), arch=TINY_ARCH, device="cpu")(ims, PROMPTS)
    rel_close(ours, np.array(ref))


def test_resize_max_side_matches_hpsv2_rule() -> None:
    x = torch.rand(3, 30, 60)
    y = pref.resize_max_side(x, 32)
    assert y.shape == (3, 32, 32)
    assert torch.all(y[:, :8] == 0) and torch.all(y[:, -8:] == 0)  # 60x30 -> 32x16, padded 8 above and below


# ================================================================================================ aesthetic
def aesthetic_restated(clip_file: Path, mlp_file: Path, pil: list) -> list[float]:
    """simple_inference.py: clip.load's preprocess (Resize(n_px, BICUBIC), CenterCrop, RGB, ToTensor, Normalize),
    encode_image, numpy L2 normalisation (zero norm -> 1), MLP."""
    import open_clip
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    model = open_clip.create_model(TINY_ARCH, pretrained=None)
    model.load_state_dict(torch.load(clip_file, map_location="cpu"))
    model.eval()
    preprocess = Compose([Resize(32, interpolation=InterpolationMode.BICUBIC), CenterCrop(32), lambda im: im.convert("RGB"), ToTensor(),
                          Normalize(pref.OPENAI_MEAN, pref.OPENAI_STD)])
    mlp = pref.AestheticMLP(16)
    mlp.load_state_dict(torch.load(mlp_file, map_location="cpu"))
    mlp.eval()
    out = []
    for im in pil:
        with torch.no_grad():
            f = model.encode_image(preprocess(im)[None]).numpy()
        l2 = np.atleast_1d(np.linalg.norm(f, 2, -1))
        l2[l2 == 0] = 1
        f = f / np.expand_dims(l2, -1)
        with torch.no_grad():
            out.append(float(mlp(torch.from_numpy(f).float())[0, 0]))
    return out


def test_aesthetic_equals_restatement(tiny_open_clip: dict[str, Path]) -> None:
    ims = images(h=48, w=40)
    s = pref.AestheticScorer(f"{TINY_ARCH}@{tiny_open_clip['clip']}", weights=str(tiny_open_clip["mlp"]), device="cpu")
    rel_close(s(ims, [""] * 4), np.array(aesthetic_restated(tiny_open_clip["clip"], tiny_open_clip["mlp"],
                                                            pref.to_pil(ims))))


def test_aesthetic_pinned_sha() -> None:
    assert pref.AESTHETIC_MLP.sha256 is not None and len(pref.AESTHETIC_MLP.sha256) == 64


def test_scorer_refuses_mismatched_lengths(tiny_open_clip: dict[str, Path]) -> None:
    s = pref.HPSScorer("v2.0", str(tiny_open_clip["hps"]), arch=TINY_ARCH, device="cpu")
    with pytest.raises(InputError, match="4 images for 3 prompts"):
        s(images(), PROMPTS[:3])
    with pytest.raises(InputError, match="uint8"):
        s(images().float(), PROMPTS)


# ================================================================================================ ImageReward
MED = {"architectures": ["BertModel"], "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu",
       "hidden_dropout_prob": 0.1, "hidden_size": 32, "initializer_range": 0.02, "intermediate_size": 37,
       "layer_norm_eps": 1e-12, "max_position_embeddings": 64, "model_type": "bert", "num_attention_heads": 4,
       "num_hidden_layers": 2, "pad_token_id": 0, "type_vocab_size": 2, "vocab_size": 30524, "encoder_width": 48,
       "add_cross_attention": True}
WORDS = ("a", "photo", "of", "red", "cube", "two", "dogs", "on", "beach", "at", "sunset", "blue", "car", "bowl",
         "ramen", "very", "long", "prompt", "with", "object", "number", "in", "different", "colour")


def tiny_bert_tokenizer(root: Path) -> Path:
    """A bert-base-uncased-shaped vocabulary file: 30522 entries (specials at BERT's ids, the test's words, fillers)."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(WORDS) + [str(i) for i in range(20)]
    vocab += [f"##filler{i}" for i in range(30522 - len(vocab))]
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    from transformers import BertTokenizer

    BertTokenizer(str(root / "vocab.txt")).save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def tiny_imagereward(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An ImageReward.pt-format state dict (blip.visual_encoder.* timm-style ViT, blip.text_encoder.* BERT with
    cross-attention, mlp.layers.*) of random tiny weights, its med_config.json and a BERT tokenizer folder."""
    from transformers import BlipTextConfig, BlipTextModel

    root = tmp_path_factory.mktemp("imagereward")
    torch.manual_seed(5)
    d, depth = 48, 2
    st: dict[str, torch.Tensor] = {"blip.visual_encoder.cls_token": torch.randn(1, 1, d) * 0.1,
                                   "blip.visual_encoder.pos_embed": torch.randn(1, 17, d) * 0.1,
                                   "blip.visual_encoder.patch_embed.proj.weight": torch.randn(d, 3, 8, 8) * 0.05,
                                   "blip.visual_encoder.patch_embed.proj.bias": torch.randn(d) * 0.05,
                                   "blip.visual_encoder.norm.weight": 1 + 0.1 * torch.randn(d),
                                   "blip.visual_encoder.norm.bias": 0.1 * torch.randn(d)}
    for i in range(depth):
        p = f"blip.visual_encoder.blocks.{i}."
        for n, shape in (("norm1", (d,)), ("norm2", (d,))):
            st[p + n + ".weight"] = 1 + 0.1 * torch.randn(*shape)
            st[p + n + ".bias"] = 0.1 * torch.randn(*shape)
        for n, (o, inp) in (("attn.qkv", (3 * d, d)), ("attn.proj", (d, d)), ("mlp.fc1", (4 * d, d)),
                            ("mlp.fc2", (d, 4 * d))):
            st[p + n + ".weight"] = torch.randn(o, inp) * inp ** -0.5
            st[p + n + ".bias"] = 0.05 * torch.randn(o)
    text = BlipTextModel(BlipTextConfig(vocab_size=30524, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                        num_attention_heads=4, max_position_embeddings=64, encoder_hidden_size=d,
                                        is_decoder=True), add_pooling_layer=False)
    for k, v in text.state_dict().items():
        st["blip.text_encoder." + k] = v + 0.02 * torch.randn_like(v) if v.is_floating_point() else v
    mlp = pref.AestheticMLP(32)
    for p_ in mlp.parameters():
        torch.nn.init.normal_(p_, std=0.3)
    st.update({"mlp." + k: v for k, v in mlp.state_dict().items()})
    torch.save(st, root / "ImageReward.pt")
    (root / "med_config.json").write_text(json.dumps(MED))
    return {"weights": root / "ImageReward.pt", "med": root / "med_config.json",
            "tok": tiny_bert_tokenizer(root / "tok")}


def imagereward_scorer(f: dict[str, Path]) -> pref.ImageRewardScorer:
    return pref.ImageRewardScorer(str(f["weights"]), str(f["med"]), str(f["tok"]), vision_heads=4, image_size=32,
                                  device="cpu", batch_size=3)


def test_imagereward_equals_image_reward_package(tiny_imagereward: dict[str, Path]) -> None:
    """image-reward 1.5's own ImageReward.score / inference_rank on the same checkpoint (its BLIP built at the tiny
    size; its package __init__ and its transformers-5 import breaks shimmed by tests/ref_shims.py)."""
    from tests import ref_shims

    if not ref_shims.image_reward_available():
        pytest.skip("image-reward not installed (pip install --no-deps --target DIR image-reward fairscale==0.4.13)")
    ir_mod = ref_shims.import_image_reward()
    from ImageReward.models.BLIP.med import BertConfig, BertModel
    from ImageReward.models.BLIP.vit import VisionTransformer

    ref = ir_mod.ImageReward.__new__(ir_mod.ImageReward)
    torch.nn.Module.__init__(ref)
    ref.device = "cpu"
    ref.blip = torch.nn.Module()
    ref.blip.visual_encoder = VisionTransformer(img_size=32, patch_size=8, embed_dim=48, depth=2, num_heads=4)
    cfg = BertConfig.from_json_file(str(tiny_imagereward["med"]))
    cfg.encoder_width = 48
    ref.blip.text_encoder = BertModel(config=cfg, add_pooling_layer=False)
    from transformers import BertTokenizer

    tok = BertTokenizer.from_pretrained(tiny_imagereward["tok"])
    tok.add_special_tokens({"bos_token": "[DEC]"})
    tok.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    ref.blip.tokenizer = tok
    ref.preprocess = ir_mod._transform(32)
    ref.mlp = ir_mod.MLP(32)
    ref.mean, ref.std = pref.IMAGEREWARD_MEAN, pref.IMAGEREWARD_STD
    ref.load_state_dict(torch.load(tiny_imagereward["weights"], map_location="cpu"), strict=False)
    ref.eval()
    ims = images(h=40, w=36)
    pil = pref.to_pil(ims)
    prompts = [*PROMPTS[:3], LONG]
    with torch.no_grad():
        expected = [ref.score(p, im) for im, p in zip(pil, prompts, strict=True)]
        ranked = ref.inference_rank(PROMPTS[1], pil)[1]
    s = imagereward_scorer(tiny_imagereward)
    rel_close(s(ims, prompts), np.array(expected))
    rel_close(s(ims, [PROMPTS[1]] * 4), np.array(ranked))
    assert s.token_counts([LONG])[0] > 35


def test_imagereward_runs_and_reports_truncation(tiny_imagereward: dict[str, Path]) -> None:
    from bench.metrics.base import Reference, SampleSet

    m = pref.ImageReward({"weights": str(tiny_imagereward["weights"]), "med_config": str(tiny_imagereward["med"]),
                          "tokenizer": str(tiny_imagereward["tok"]), "vision_heads": 4, "image_size": 32,
                          "device": "cpu"})
    (v,) = m.compute(SampleSet(images=images(2), texts=[PROMPTS[0], LONG]), Reference(), seed=0)
    assert v.extras["context_length"] == 35 and v.extras["prompts_over_context"] == 1
    assert np.isfinite(v.value)
