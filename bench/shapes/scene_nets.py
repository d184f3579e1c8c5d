"""The shapes world's GAN and its scene parser: what GAN Dissection needs offline.

GAN Dissection (Bau et al., ICLR 2019) matches a generator's units against a segmenter's concept masks on the
images it generates. Neither a real scene parser nor a real GAN can ship with the repository, so the shapes world
supplies both, trained by ``scripts/shapes/train_segmenter.py`` and ``scripts/shapes/train_gan.py``:

- :class:`ShapesGenerator`, an unconditional DCGAN-style generator of 32x32 scenes whose layers are spatial
  (``layer1`` 8x8, ``layer2`` 16x16, ``layer3`` 32x32, after a ReLU: a unit's "off" is 0, as in gandissect's
  generators), so a unit has an activation map to compare with a mask.
- :class:`Segmenter`, a small fully convolutional net giving every pixel a colour class (background or one of
  :data:`bench.shapes.world.COLOUR_NAMES`) and a shape class (background or one of ``SHAPES``), trained on the
  world's exact masks (:func:`bench.shapes.world.render_labels`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.shapes import world
from bench.shapes.models import to_input

N_COLOUR = 1 + len(world.COLOUR_NAMES)
N_SHAPE = 1 + len(world.SHAPES)


class ShapesGenerator(nn.Module):
    """z [n, 64] → image [n, 3, 32, 32] in [-1, 1]: linear to 4x4, three upsample-and-convolve stages (8, 16, 32).

    Named stages (the ``layer:`` a dissection task hooks): ``layer1`` (2·ch units at 8x8), ``layer2`` (ch units at
    16x16) and ``layer3`` (ch/2 units at 32x32), each a nearest-neighbour upsampling, a 3x3 convolution, batch
    normalisation and a ReLU (so 0 is a unit's "off", as in gandissect's generators). Nearest upsampling and a
    convolution instead of a transposed convolution: no checkerboard. Batch normalisation is what let training
    escape an all-background generator (without it, with a spectrally normalised discriminator, the same budget
    ended in a collapsed grid pattern); in eval mode (how the zoo loads it) it uses its running statistics, so a
    sample still depends only on its own latent."""

    latent_dim = 64

    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        self.ch = ch
        self.fc = nn.Linear(self.latent_dim, 4 * ch * 16)
        self.layer1 = _up(4 * ch, 2 * ch)
        self.layer2 = _up(2 * ch, ch)
        self.layer3 = _up(ch, ch // 2)
        self.out = nn.Conv2d(ch // 2, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(z)).view(-1, 4 * self.ch, 4, 4)
        return torch.tanh(self.out(self.layer3(self.layer2(self.layer1(h)))))

    @torch.no_grad()
    def generate_from_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Float images in [0, 1]."""
        return ((self(z.float()) + 1) / 2).clamp(0, 1)


class Nearest2x(nn.Module):
    """Nearest-neighbour ×2 upsampling. Without gradients (sampling, dissection) by broadcasting, 2-4x faster than
    ``F.interpolate`` on one CPU thread and equal to it bit for bit; with gradients (training) ``F.interpolate``,
    whose backward the shipped weights were trained with (another summation order would change the bytes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return F.interpolate(x, scale_factor=2, mode="nearest")
        n, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(Nearest2x(), nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class ShapesDiscriminator(nn.Module):
    """Training only: the DCGAN discriminator (strided convolutions 32 → 16 → 8 → 4, batch normalisation, leaky
    ReLU), one logit."""

    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * ch, 4 * ch, 4, stride=2, padding=1), nn.BatchNorm2d(4 * ch), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(4 * ch * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)  # type: ignore[no-any-return]


class Segmenter(nn.Module):
    """uint8 or float scenes → per-pixel logits: colour [n, 7, 32, 32] and shape [n, 4, 32, 32].

    A two-scale net: full-resolution features (colour is local) and a 16x16 branch with a dilated convolution
    (a receptive field of about 20 pixels, enough to tell a circle's edge from a square's corner), upsampled and
    joined before a 1x1 head."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        w = width
        self.c1 = nn.Conv2d(3, w, 3, padding=1)
        self.c2 = nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(2 * w, 2 * w, 3, padding=2, dilation=2)
        self.c4 = nn.Conv2d(2 * w, 2 * w, 3, padding=1)
        self.up = nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1)
        self.head = nn.Conv2d(2 * w, N_COLOUR + N_SHAPE, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` float [n, 3, 32, 32] in [0, 1] → (colour logits, shape logits)."""
        h1 = F.relu(self.c1(x))
        h = F.relu(self.c2(h1))
        h = F.relu(self.c4(F.relu(self.c3(h))))
        out = self.head(torch.cat([h1, F.relu(self.up(h))], 1))
        return out[:, :N_COLOUR], out[:, N_COLOUR:]

    @torch.no_grad()
    def segment(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images [n, C, H, W] → int64 labels [n, 2, 32, 32] (colour class, shape class), as
        :func:`bench.shapes.world.render_labels` gives them."""
        colour, shape = self(to_input(images))
        # argmax over a contiguous last dimension: the same indices as argmax(1), 5x faster on CPU
        return torch.stack([colour.permute(0, 2, 3, 1).contiguous().argmax(-1),
                            shape.permute(0, 2, 3, 1).contiguous().argmax(-1)], 1)
