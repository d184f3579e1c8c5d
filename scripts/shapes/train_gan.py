"""Train the shapes GAN (the dissection benchmark's generator): bench/assets/shapes/gan.pt.

    .venv/bin/python scripts/shapes/train_gan.py [--out PATH] [--steps N]

An unconditional DCGAN-style generator of 32x32 shapes scenes (bench.shapes.scene_nets: upsample-and-convolve
generator and strided-convolution discriminator, both batch-normalised; non-saturating loss, Adam lr 2e-4, β1 = 0.5,
batch 32) on the shapes train split. Fixed seed, one CPU
thread, deterministic kernels. Prints its quality as a ``quality {...}`` JSON line, measured on 500 samples from
fixed seeds: FID against the 500 test scenes on the shapes dual encoder's features (``fid_shapes_clip``; 500
real train scenes score ``fid_shapes_clip_real``, the floor), and what the shapes segmenter reads in the samples against
the test scenes (fraction of object pixels, and the share of each colour and shape among object pixels, as a
total-variation distance). Written to the shipped location, it records sha256 and quality in
bench/assets/shapes/MANIFEST.json. Needs the segmenter (scripts/shapes/train_segmenter.py) first.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from bench.seeding import derive_seed, latents_from_seeds, sample_seeds
from bench.shapes import world, zoo
from bench.shapes.models import to_input
from bench.shapes.scene_nets import N_COLOUR, N_SHAPE, ShapesDiscriminator, ShapesGenerator

SEED = 0
QUALITY_N = 500


def _shares(labels: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(object-pixel fraction, colour shares, shape shares among object pixels) of int labels [n, 2, H, W]."""
    obj = labels[:, 0] > 0
    colour = torch.bincount(labels[:, 0][obj], minlength=N_COLOUR)[1:].double()
    shape = torch.bincount(labels[:, 1][labels[:, 1] > 0], minlength=N_SHAPE)[1:].double()
    return float(obj.double().mean()), colour / colour.sum().clamp(min=1), shape / shape.sum().clamp(min=1)


@torch.no_grad()
def quality(net: ShapesGenerator) -> dict[str, float]:
    from bench.backbones.textimage import ShapesClipBackbone
    from bench.metrics.frechet import frechet_distance, gaussian_stats

    net.eval()
    z = latents_from_seeds(sample_seeds(derive_seed("shapes-gan-quality"), 0, QUALITY_N), (net.latent_dim,))
    imgs = torch.round(net.generate_from_latents(z) * 255).to(torch.uint8)
    test = world.load("test").images
    bb = ShapesClipBackbone()
    bb.load()
    sg, sr = gaussian_stats(bb.extract(imgs)["pool"]), gaussian_stats(bb.extract(test)["pool"])
    s_real = gaussian_stats(bb.extract(world.load("train", QUALITY_N).images)["pool"])
    seg, _ = zoo.load("segmenter")
    fg, cg, hg = _shares(seg.segment(imgs))  # type: ignore[operator]
    fr, cr, hr = _shares(world.load_labels("test"))
    return {"fid_shapes_clip": round(frechet_distance(sg.mu, sg.sigma, sr.mu, sr.sigma).value, 3),
            "fid_shapes_clip_real": round(frechet_distance(s_real.mu, s_real.sigma, sr.mu, sr.sigma).value, 3),
            "object_fraction": round(fg, 4), "object_fraction_test": round(fr, 4),
            "colour_tv": round(0.5 * float((cg - cr).abs().sum()), 4),
            "shape_tv": round(0.5 * float((hg - hr).abs().sum()), 4), "n": QUALITY_N}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=None, help="write the weights here instead (the MANIFEST is left alone)")
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(SEED)
    x = to_input(world.load("train").images) * 2 - 1
    G, D = ShapesGenerator().train(), ShapesDiscriminator().train()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    seg, _ = zoo.load("segmenter")
    z_log = torch.randn(200, G.latent_dim, generator=torch.Generator().manual_seed(SEED + 1))
    bs = 32
    t0 = time.time()
    perm, at = torch.randperm(x.shape[0], generator=g), 0
    for step in range(1, args.steps + 1):
        if at + bs > x.shape[0]:
            perm, at = torch.randperm(x.shape[0], generator=g), 0
        real = x[perm[at: at + bs]]
        at += bs
        fake = G(torch.randn(bs, G.latent_dim, generator=g))
        loss_d = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-D(fake)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % 250 == 0:
            G.eval()  # eval-mode samples leave the batch-norm statistics alone: the log does not change training
            with torch.no_grad():
                obj = float((seg.segment(torch.round((G(z_log) + 1) * 127.5).to(torch.uint8))[:, 0] > 0)  # type: ignore[operator]
                            .float().mean())
            G.train()
            print(f"step {step}: loss_d {loss_d.item():.4f} loss_g {loss_g.item():.4f} object pixels {obj:.4f} "
                  f"({time.time() - t0:.0f}s)", flush=True)
    q = quality(G)
    digest = zoo.save("gan", G, {"trained_by": "scripts/shapes/train_gan.py", "seed": SEED, "steps": args.steps,
                                 "quality": q}, out=args.out)
    print(f"quality {json.dumps(q, sort_keys=True)}")
    print(f"trained in {time.time() - t0:.1f} s; sha256 {digest}")


if __name__ == "__main__":
    main()
