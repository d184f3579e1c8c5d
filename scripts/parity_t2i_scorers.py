"""genbench's text-to-image scorers against their references on the tests' tiny models: the largest differences.

PickScore, aesthetic and VQAScore are compared with the reference steps the tests restate; HPSv2.1 with the hpsv2
package's own ``img_score.score``, which needs it importable: ``pip install --no-deps --target DIR hpsv2 clint``,
copy open_clip's ``bpe_simple_vocab_16e6.txt.gz`` into ``DIR/hpsv2/src/open_clip/`` (its 1.2.0 wheel lacks it), then

    PYTHONPATH=.:DIR python scripts/parity_t2i_scorers.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def report(name: str, ours: np.ndarray, ref: list[float]) -> None:
    a, b = np.asarray(ours, float), np.asarray(ref, float)
    d = np.abs(a - b)
    print(f"{name}: max |diff| {d.max():.3g} with |ref| in [{np.abs(b).min():.3g}, {np.abs(b).max():.3g}]; "
          f"max relative {float((d / np.abs(b)).max()):.3g}")


def main() -> None:
    import open_clip

    import tests.test_preference as tp
    from bench.metrics import preference as pref
    from bench.metrics import vqascore as vq
    from tests.hf_tiny import tiny_clip, tiny_llava
    from tests.test_vqascore import t2v_metrics_reference

    root = Path(tempfile.mkdtemp())
    tp.register_tiny(root, open_clip)
    torch.manual_seed(0)
    model = open_clip.create_model(tp.TINY_ARCH, pretrained=None)
    with torch.no_grad():
        model.logit_scale.fill_(2.3)
    torch.save({"state_dict": model.state_dict()}, root / "hps.pt")
    torch.save(model.state_dict(), root / "clip.pt")
    torch.manual_seed(1)
    mlp = pref.AestheticMLP(16)
    for p in mlp.parameters():
        torch.nn.init.normal_(p, std=0.3)
    torch.save(mlp.state_dict(), root / "mlp.pth")
    ims = tp.images(8, 40, 56, seed=3)
    pil = pref.to_pil(ims)
    prompts = tp.PROMPTS * 2

    pick = tiny_clip(root / "pick", seed=3)
    report("pickscore", pref.PickScoreScorer(str(pick), str(pick), device="cpu")(ims, prompts),
           [tp.pickscore_reference(pick, [im], p)[0] for im, p in zip(pil, prompts, strict=True)])

    try:
        import hpsv2.img_score as img_score
        from hpsv2.src import open_clip as hps_open_clip
    except ImportError as exc:
        print(f"hpsv2.1: skipped (hpsv2 not importable: {exc})")
    else:
        tp.register_tiny(root, hps_open_clip)
        m, _, pv = hps_open_clip.create_model_and_transforms(
            tp.TINY_ARCH, None, precision="fp32", device="cpu", jit=False, force_quick_gelu=False,
            force_custom_text=False, force_patch_dropout=False, force_image_size=None, pretrained_image=False,
            image_mean=None, image_std=None, light_augmentation=True, aug_cfg={}, output_dict=True,
            with_score_predictor=False, with_region_predictor=False)
        img_score.model_dict.update(model=m, preprocess_val=pv)
        img_score.device = "cpu"
        ref = [float(img_score.score([im], p, cp=str(root / "hps.pt"), hps_version="v2.1")[0])
               for im, p in zip(pil, prompts, strict=True)]
        report("hpsv2.1 (hpsv2 package)", pref.HPSScorer("v2.1", str(root / "hps.pt"), arch=tp.TINY_ARCH,
                                                          device="cpu")(ims, prompts), ref)

    s = pref.AestheticScorer(f"{tp.TINY_ARCH}@{root / 'clip.pt'}", weights=str(root / "mlp.pth"), device="cpu")
    report("aesthetic", s(ims, [""] * 8), tp.aesthetic_restated(root / "clip.pt", root / "mlp.pth", pil))

    llava = tiny_llava(root / "llava")
    texts = ["a red cube", "a blue car"] * 4
    report("vqascore", vq.VQAScorer(str(llava))(ims, texts), t2v_metrics_reference(llava, pil, texts))


if __name__ == "__main__":
    main()
