"""Concept masks of generated images: the dissection's scene parser.

gandissect segments each generated image with a scene parser (UPerNet on ADE20K/Broden) and treats every class
it predicts as a concept. Offline, genbench's parser is the shapes segmenter (bench/assets/shapes/segmenter.pt,
trained by scripts/shapes/train_segmenter.py on the shapes world's exact masks; its held-out accuracy is in the
shapes MANIFEST): every colour and every shape is a concept, so a pixel belongs to two concepts (its colour and
its shape), or to none (background).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.shapes import world


@dataclass
class ShapesSegmenter:
    """Colour and shape concepts of 32x32 shapes scenes (images of another size are resized to 32x32 first)."""

    name: str = "shapes"

    def __post_init__(self) -> None:
        from bench.shapes import zoo

        self.net, self.sha256 = zoo.load("segmenter")

    @property
    def concepts(self) -> tuple[str, ...]:
        return world.COLOUR_NAMES + world.SHAPES

    def masks(self, images: torch.Tensor) -> torch.Tensor:
        """bool [N, C, 32, 32], one mask per concept (colours, then shapes) of uint8 images [N, 3, H, W]."""
        labels = self.net.segment(images)  # type: ignore[operator]
        colour = torch.stack([labels[:, 0] == i + 1 for i in range(len(world.COLOUR_NAMES))], 1)
        shape = torch.stack([labels[:, 1] == i + 1 for i in range(len(world.SHAPES))], 1)
        return torch.cat([colour, shape], 1)


SEGMENTERS = {"shapes": ShapesSegmenter}
