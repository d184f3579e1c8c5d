"""Feature networks. Each backbone owns its weights resolution and its preprocessing (resizing included)."""

from bench.backbones.base import BACKBONES, Backbone, backbone_class, get_backbone, is_backbone

BACKBONES.register("digits", "bench.backbones.digits:DigitsBackbone")
BACKBONES.register("inception-v3-compat", "bench.backbones.inception:InceptionCompat")
BACKBONES.register("inception-v3-tm-antialias", "bench.backbones.inception:InceptionTMAntialias")
BACKBONES.register("inception-v3-clean", "bench.backbones.inception:InceptionCleanFID")
BACKBONES.register("inception-v3-legacy-tf", "bench.backbones.inception:InceptionLegacyTF")
BACKBONES.register("inception-v3-legacy-pytorch", "bench.backbones.inception:InceptionLegacyPytorch")
BACKBONES.register("inception-v3-adm", "bench.backbones.inception:InceptionADM")
BACKBONES.register("clip", "bench.backbones.clip:ClipBackbone")
BACKBONES.register("dinov2", "bench.backbones.dinov2:DINOv2Backbone")
BACKBONES.register("clip-vit-l14-336", "bench.backbones.cmmd:CMMDClip")
BACKBONES.register("vgg16-fidelity", "bench.backbones.vgg16:VGG16Fidelity")

__all__ = ["BACKBONES", "Backbone", "backbone_class", "get_backbone", "is_backbone"]
BACKBONES.register("shapes-clip", "bench.backbones.textimage:ShapesClipBackbone")
BACKBONES.register("clip-vit-b32", "bench.backbones.textimage:OpenAIClipB32Backbone")
