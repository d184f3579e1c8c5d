"""Feature networks. Each backbone owns its weights resolution and its preprocessing (resizing included)."""

from bench.backbones.base import BACKBONES, Backbone, get_backbone

BACKBONES.register("digits", "bench.backbones.digits:DigitsBackbone")

__all__ = ["BACKBONES", "Backbone", "get_backbone"]
BACKBONES.register("shapes-clip", "bench.backbones.textimage:ShapesClipBackbone")
BACKBONES.register("clip-vit-b32", "bench.backbones.textimage:OpenAIClipB32Backbone")
