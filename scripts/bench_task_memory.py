"""Peak host memory and time of `genbench run` per task kind as n grows (issue: every task kind streams).

    python scripts/bench_task_memory.py --kind t2i --n 1000 8000
    python scripts/bench_task_memory.py --kind translation --n 1000 8000
    python scripts/bench_task_memory.py --kind reconstruction --n 1000 8000
    python scripts/bench_task_memory.py --kind all --n 1000 8000 --repeat 2

Each case is a one-task suite run in its own child process with an empty feature cache; the child reports its own
peak RSS (``ru_maxrss``). The data are written once into a scratch folder:

- ``t2i``: a tiny Stable Diffusion pipeline built from configs (SD's geometry: an 8x VAE, so 128x128 outputs are
  16x16 latents; random weights in the real diffusers format), 2 DDIM steps, 128x128 outputs, one sample per prompt, against a COCO-format captioned dataset
  (``captions.json`` + 256x256 PNGs of smooth colour ramps, one caption each); FID on the digits protocol (the cheap
  backbone: what is measured is what the harness holds, not the network's size).
- ``translation``: a paired folder (A/, B/) of 256x256 PNGs and a Python translator (tests.models:InvertTranslator);
  PSNR, SSIM, L1 and FID.
- ``reconstruction``: a folder of 256x256 PNGs and a Python autoencoder (tests.models:ContinuousAE); PSNR, SSIM, L1
  and rFID.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from bench_memory import child, write_pngs  # noqa: E402

WORDS = ("a", "red", "green", "blue", "circle", "square", "on", "the", "left", "right", "of", "two", "small", "large")


def coco_captions(folder: Path, n: int) -> tuple[Path, Path]:
    """``n`` 256x256 PNGs and a COCO captions file naming them (ids 100000 + i, one caption each)."""
    images = write_pngs(folder / "images", n, 256, seed=3)
    path = folder / "captions.json"
    if not path.exists():
        rng = np.random.default_rng(0)
        files = sorted(p.name for p in images.glob("*.png"))
        caps = [" ".join(rng.choice(WORDS, size=8)) for _ in files]
        path.write_text(json.dumps({
            "images": [{"id": 100000 + i, "file_name": f} for i, f in enumerate(files)],
            "annotations": [{"id": i, "image_id": 100000 + i, "caption": c} for i, c in enumerate(caps)]}))
    return path, images


def paired(folder: Path, n: int) -> Path:
    write_pngs(folder / "A", n, 256, seed=4)
    b = folder / "B"
    if len(list(b.glob("*.png"))) != n:
        b.mkdir(parents=True, exist_ok=True)
        for p in sorted((folder / "A").glob("*.png")):  # B = A inverted: a paired translation world
            Image.fromarray(255 - np.asarray(Image.open(p))).save(b / p.name, compress_level=1)
    return folder


def tiny_sd_f8(root: Path) -> Path:
    """A Stable Diffusion pipeline with SD's own geometry (a VAE that downsamples 8x: 128 px images are 16x16
    latents) and tiny random weights, built from configs and saved in the real diffusers format."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from tests.hf_tiny import clip_tokenizer_files

    if (root / "sd").exists():
        return root / "sd"
    vocab = clip_tokenizer_files(root / "tokenizer-files")
    tok = CLIPTokenizer(str(root / "tokenizer-files" / "vocab.json"), str(root / "tokenizer-files" / "merges.txt"),
                        model_max_length=77)
    torch.manual_seed(0)
    eos = vocab["<|endoftext|>"]
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=37,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                        bos_token_id=vocab["<|startoftext|>"], eos_token_id=eos, pad_token_id=eos))
    unet = UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(16, 32), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 8, 8),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        norm_num_groups=4, sample_size=128)
    StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet,
                            scheduler=DDIMScheduler(num_train_timesteps=20, steps_offset=1, clip_sample=False),
                            safety_checker=None, feature_extractor=None,
                            requires_safety_checker=False).save_pretrained(root / "sd")
    return root / "sd"


def suite(kind: str, n: int, scratch: Path) -> dict:
    if kind == "t2i":
        sd = tiny_sd_f8(scratch / "tiny-sd-f8").parent
        caps, images = coco_captions(scratch / f"coco-{n}", n)
        return {"datasets": {"coco": {"kind": "coco-captions", "path": str(caps), "images": str(images)}},
                "models": {"sd": {"adapter": "diffusers-t2i", "args": {
                    "pretrained": str(sd / "sd"), "num_inference_steps": 2,
                    "call": {"height": 128, "width": 128}}}},
                "tasks": [{"name": "t2i", "kind": "text-to-image", "reference": "coco", "backbone": "digits",
                           "batch_size": 32, "args": {"samples_per_prompt": 1}, "metrics": ["fid"]}]}
    if kind == "translation":
        data = paired(scratch / f"pair-{n}", n)
        return {"datasets": {"pair": {"kind": "paired-folder", "path": str(data)}},
                "models": {"inv": {"adapter": "python-translator",
                                   "args": {"target": "tests.models:InvertTranslator"}}},
                "tasks": [{"name": "tr", "kind": "translation", "reference": "pair", "backbone": "digits",
                           "batch_size": 32, "metrics": ["psnr", "ssim", "l1", "fid"]}]}
    folder = write_pngs(scratch / f"rec-{n}", n, 256, seed=5)
    return {"datasets": {"imgs": {"kind": "folder", "path": str(folder)}},
            "models": {"ae": {"adapter": "python-autoencoder", "args": {"target": "tests.models:ContinuousAE"}}},
            "tasks": [{"name": "rec", "kind": "reconstruction", "reference": "imgs", "backbone": "digits",
                       "batch_size": 32, "metrics": ["psnr", "ssim", "l1", "rfid"]}]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=("t2i", "translation", "reconstruction", "all"), default="all")
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 8000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--scratch", default=os.path.join(tempfile.gettempdir(), "genbench-bench-task-memory"))
    args = ap.parse_args()
    scratch = Path(args.scratch)
    kinds = ("t2i", "translation", "reconstruction") if args.kind == "all" else (args.kind,)
    for kind in kinds:
        for n in [n for n in args.n for _ in range(args.repeat)]:
            spec = {"name": f"mem-{kind}", "output": {"grid": 16}, **suite(kind, n, scratch)}
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "mem.yaml"
                path.write_text(json.dumps(spec))
                env = {**os.environ, "GENBENCH_CACHE": str(Path(tmp) / "cache"), "GENBENCH_OFFLINE": "1",
                       "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
                peak, secs, _ = child(["run", str(path), "--out", str(Path(tmp) / "r"), "--quiet"], env)
                rows = [json.loads(line) for p in (Path(tmp) / "r").rglob("rows.jsonl")
                        for line in p.read_text().splitlines()]
            vals = ", ".join(f"{r['metric']}={r['value']:.4g}" for r in rows if r["value"] is not None)
            print(f"{kind:14s} n={n:6d} peak {peak:5.2f} GiB  {secs:7.1f} s  {vals}", flush=True)


if __name__ == "__main__":
    main()
