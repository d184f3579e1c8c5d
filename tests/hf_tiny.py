"""Tiny random-weight Hugging Face models built from configs, with a tokenizer written locally (no hub access), as
transformers' and diffusers' own fast tests build them."""

from __future__ import annotations

import json
from pathlib import Path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable character map (the alphabet of a byte-level BPE vocabulary)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def clip_tokenizer_files(root: Path) -> dict[str, int]:
    """A CLIP BPE vocabulary of single characters (every byte, plain and word-final) and no merges: every word is
    spelled out character by character. Writes vocab.json and merges.txt; returns the vocabulary."""
    chars = list(_bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.json").write_text(json.dumps(vocab))
    (root / "merges.txt").write_text("#version: 0.2\n")
    return vocab


def tiny_clip(root: Path, seed: int = 0) -> Path:
    """A CLIP dual encoder (32x32 images, 16-d projections) and its processor, saved with save_pretrained."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab = clip_tokenizer_files(root)
    tok = CLIPTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), model_max_length=77)
    torch.manual_seed(seed)
    eos = vocab["<|endoftext|>"]
    cfg = CLIPConfig(text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37,
                                  "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77,
                                  "bos_token_id": vocab["<|startoftext|>"], "eos_token_id": eos, "pad_token_id": eos},
                     vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                    "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
                     projection_dim=16)
    CLIPModel(cfg).eval().save_pretrained(root)
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  tokenizer=tok).save_pretrained(root)
    return root


def tiny_stable_diffusion(root: Path, seed: int = 0) -> Path:
    """A Stable Diffusion pipeline (8x8 latents → 16x16 images, a 2-layer CLIP text encoder with the character
    tokenizer), saved with save_pretrained; no safety checker."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok_dir = root / "tokenizer-files"
    vocab = clip_tokenizer_files(tok_dir)
    tok = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    torch.manual_seed(seed)
    eos = vocab["<|endoftext|>"]
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                        bos_token_id=vocab["<|startoftext|>"], eos_token_id=eos, pad_token_id=eos))
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=4, sample_size=16)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                                   scheduler=DDIMScheduler(num_train_timesteps=20), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(root / "sd")
    return root / "sd"


#: a WordPiece vocabulary (BERT's special tokens and a few caption words), as BLIP's and GIT's tokenizers read it
CAPTION_WORDS = ("a", "an", "the", "picture", "of", "red", "green", "blue", "circle", "square", "triangle", "small",
                 "large", "two", "one", "and", "on", "left", "right")


def bert_vocab(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "vocab.txt"
    path.write_text("\n".join(("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *CAPTION_WORDS)) + "\n")
    return path


def tiny_blip(root: Path, seed: int = 0) -> Path:
    """BLIP image captioning (BlipForConditionalGeneration, 32x32 images) with a BertTokenizer, saved with
    save_pretrained: the layout of Salesforce/blip-image-captioning-base at toy width."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    tok = BertTokenizer(str(bert_vocab(root)), bos_token="[DEC]")
    v = tok.get_vocab()
    torch.manual_seed(seed)
    cfg = BlipConfig(text_config={"vocab_size": len(v), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                  "num_attention_heads": 4, "max_position_embeddings": 64, "encoder_hidden_size": 32,
                                  "bos_token_id": v["[DEC]"], "pad_token_id": v["[PAD]"], "sep_token_id": v["[SEP]"],
                                  "eos_token_id": v["[SEP]"]},
                     vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                    "num_attention_heads": 4, "image_size": 32, "patch_size": 8})
    BlipForConditionalGeneration(cfg).eval().save_pretrained(root)
    BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok).save_pretrained(root)
    return root


def tiny_git(root: Path, seed: int = 0) -> Path:
    """GIT (GitForCausalLM, 32x32 images) with a BertTokenizer and CLIP image processing, saved with
    save_pretrained: the layout of microsoft/git-base-coco at toy width."""
    import torch
    from transformers import BertTokenizer, CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

    tok = BertTokenizer(str(bert_vocab(root)))
    v = tok.get_vocab()
    torch.manual_seed(seed)
    cfg = GitConfig(vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                                   "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
                    vocab_size=len(v), hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                    max_position_embeddings=64, bos_token_id=v["[CLS]"], eos_token_id=v["[SEP]"], pad_token_id=v["[PAD]"])
    GitForCausalLM(cfg).eval().save_pretrained(root)
    GitProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                 tokenizer=tok).save_pretrained(root)
    return root


def tiny_ddpm_and_dit(root: Path, seed: int = 0) -> dict[str, Path]:
    """A DDPM pipeline (UNet2DModel, 8x8 images) and a DiT pipeline (DiTTransformer2DModel on 4x4 latents of an
    AutoencoderKL, 1000 classes), saved with save_pretrained as the hub's google/ddpm-* and facebook/DiT-* are."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMPipeline,
        DDPMScheduler,
        DiTPipeline,
        DiTTransformer2DModel,
        UNet2DModel,
    )

    torch.manual_seed(seed)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=20)).save_pretrained(root / "ddpm")
    transformer = DiTTransformer2DModel(sample_size=4, num_layers=1, patch_size=2, attention_head_dim=8,
                                        num_attention_heads=2, in_channels=4, out_channels=8, num_embeds_ada_norm=1000)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=4, sample_size=8)
    DiTPipeline(transformer=transformer, vae=vae, scheduler=DDIMScheduler(num_train_timesteps=20),
                id2label={i: f"class {i}" for i in range(1000)}).save_pretrained(root / "dit")
    return {"ddpm": root / "ddpm", "dit": root / "dit"}


#: the words of VQAScore's question and answers, one token each in tiny_llava's word-level vocabulary
VQA_WORDS = ("<unk>", "<s>", "</s>", "<pad>", "<image>", "USER:", "ASSISTANT:", "Yes", "No", "Does", "this", "figure",
             "show", "Please", "answer", "yes", "or", "no.", '"a', "a", "red", "blue", 'cube"?', 'car"?', "cube", "car")


def tiny_llava(root: Path, seed: int = 0) -> Path:
    """LLaVA (LlavaForConditionalGeneration: a CLIP vision tower on 32x32 images, a 2-layer Llama) with a word-level
    fast tokenizer and a chat template (``USER: <image> question ASSISTANT:``), saved with save_pretrained: the
    layout of llava-hf/llava-1.5-7b-hf at toy width, for VQAScore."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    vocab = {w: i for i, w in enumerate(VQA_WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                  pad_token="<pad>", extra_special_tokens={"image_token": "<image>"})
    template = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image> "
                "{% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
                "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32},
                                                             crop_size={"height": 32, "width": 32}),
                          tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=template)
    cfg = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                                     num_attention_heads=4, image_size=32, patch_size=8),
                      text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                                              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                              max_position_embeddings=128, pad_token_id=3, bos_token_id=1,
                                              eos_token_id=2),
                      image_token_index=vocab["<image>"], vision_feature_layer=-1,
                      vision_feature_select_strategy="default")
    torch.manual_seed(seed)
    LlavaForConditionalGeneration(cfg).eval().save_pretrained(root)
    proc.save_pretrained(root)
    return root


def tiny_mask2former(root: Path, seed: int = 0) -> Path:
    """Mask2Former (Mask2FormerForUniversalSegmentation on a 4-stage Swin at toy width, 80 COCO-sized labels, 10
    queries) and its image processor at 64 px, saved with save_pretrained: the layout of
    facebook/mask2former-swin-small-coco-instance, for GenEval's detector."""
    import torch
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                          window_size=4, out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=backbone, num_labels=80, hidden_dim=32, num_queries=10, encoder_layers=1,
                            decoder_layers=2, encoder_feedforward_dim=64, dim_feedforward=64, mask_feature_size=32,
                            feature_size=32, num_attention_heads=4, common_stride=4,
                            id2label={i: f"class{i}" for i in range(80)}, label2id={f"class{i}": i for i in range(80)})
    torch.manual_seed(seed)
    Mask2FormerForUniversalSegmentation(cfg).eval().save_pretrained(root)
    Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 64}, size_divisor=32).save_pretrained(root)
    return root
