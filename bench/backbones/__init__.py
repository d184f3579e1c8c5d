"""Feature networks. Each backbone owns its weights resolution and its preprocessing (resizing included)."""

from bench.backbones.base import BACKBONES, Backbone, get_backbone

BACKBONES.register("digits", "bench.backbones.digits:DigitsBackbone")

__all__ = ["BACKBONES", "Backbone", "get_backbone"]
