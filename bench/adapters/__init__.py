"""Adapters: each wraps one kind of model behind one small protocol, and knows nothing of metrics.

Imported as ``bench.adapters`` (the top-level import name ``adapters`` belongs to a PyPI package). The names in
``__all__`` are the stable public API for plugin authors (docs/adding-an-adapter.md).
"""

from bench.adapters.base import (
    ADAPTERS,
    KIND_PROTOCOLS,
    Adapter,
    AdapterArgs,
    AdapterContext,
    GenerationRequest,
    ImageAutoencoder,
    ImageCaptioner,
    ImageGenerator,
    ImageTranslator,
    TextImageRetriever,
    TextToImageGenerator,
    build_adapter,
)

ADAPTERS.register("folder", "bench.adapters.sources:FolderGenerator")
ADAPTERS.register("npz", "bench.adapters.sources:NpzGenerator")
ADAPTERS.register("python", "bench.adapters.sources:PythonGenerator")
ADAPTERS.register("torchscript", "bench.adapters.sources:TorchScriptGenerator")
ADAPTERS.register("export", "bench.adapters.sources:ExportGenerator")
ADAPTERS.register("onnx", "bench.adapters.sources:OnnxGenerator")
ADAPTERS.register("dataset", "bench.adapters.baselines:DatasetSampler")
ADAPTERS.register("noise", "bench.adapters.baselines:UniformNoise")
ADAPTERS.register("digits-gmm", "bench.adapters.baselines:DigitsGMM")
ADAPTERS.register("disturbed", "bench.adapters.disturbances:DisturbedDataset")
ADAPTERS.register("blur", "bench.adapters.baselines:BlurredReal")
ADAPTERS.register("copier", "bench.adapters.baselines:TrainingCopier")
ADAPTERS.register("zoo", "bench.adapters.zoo:ZooGenerator")
ADAPTERS.register("shapes-gan", "bench.adapters.shapes_gan:ShapesGAN")

__all__ = ["ADAPTERS", "KIND_PROTOCOLS", "Adapter", "AdapterArgs", "AdapterContext", "GenerationRequest", "ImageAutoencoder", "ImageCaptioner",
           "ImageGenerator", "ImageTranslator", "TextImageRetriever", "TextToImageGenerator", "build_adapter"]

# translators (bench.adapters.translators): kind "translator"
ADAPTERS.register("python-translator", "bench.adapters.translators:PythonTranslator")
ADAPTERS.register("torchscript-translator", "bench.adapters.translators:TorchScriptTranslator")
ADAPTERS.register("onnx-translator", "bench.adapters.translators:OnnxTranslator")
ADAPTERS.register("folder-translator", "bench.adapters.translators:FolderTranslator")
ADAPTERS.register("zoo-translator", "bench.adapters.translators:ZooTranslator")
ADAPTERS.register("identity", "bench.adapters.translators:IdentityTranslator")
ADAPTERS.register("random-target", "bench.adapters.translators:RandomTargetTranslator")
ADAPTERS.register("blurred-oracle", "bench.adapters.translators:BlurredOracle")

# autoencoders and tokenizers (bench.adapters.autoencoders): kind "autoencoder"
ADAPTERS.register("python-autoencoder", "bench.adapters.autoencoders:PythonAutoencoder")
ADAPTERS.register("torchscript-autoencoder", "bench.adapters.autoencoders:TorchScriptAutoencoder")
ADAPTERS.register("zoo-autoencoder", "bench.adapters.autoencoders:ZooAutoencoder")
ADAPTERS.register("diffusers-autoencoder", "bench.adapters.autoencoders:DiffusersAutoencoder")
ADAPTERS.register("identity-autoencoder", "bench.adapters.autoencoders:IdentityAutoencoder")
ADAPTERS.register("blur-autoencoder", "bench.adapters.autoencoders:BlurAutoencoder")

# vision-language (bench.adapters.vl): retrievers, captioners, text-to-image
ADAPTERS.register("shapes-clip", "bench.adapters.vl:ShapesClipRetriever")
ADAPTERS.register("open-clip", "bench.adapters.vl:OpenClipRetriever")
ADAPTERS.register("python-retriever", "bench.adapters.vl:PythonRetriever")
ADAPTERS.register("npy-embeddings", "bench.adapters.vl:NpyEmbeddings")
ADAPTERS.register("random-retriever", "bench.adapters.vl:RandomRetriever")
ADAPTERS.register("shapes-captioner", "bench.adapters.vl:ShapesCaptioner")
ADAPTERS.register("blind-captioner", "bench.adapters.vl:BlindCaptioner")
ADAPTERS.register("python-captioner", "bench.adapters.vl:PythonCaptioner")
ADAPTERS.register("torchscript-captioner", "bench.adapters.vl:TorchScriptCaptioner")
ADAPTERS.register("coco-results", "bench.adapters.vl:CocoResultsCaptioner")
ADAPTERS.register("shapes-t2i", "bench.adapters.vl:ShapesT2I")
ADAPTERS.register("shapes-oracle", "bench.adapters.vl:ShapesRenderOracle")
ADAPTERS.register("random-scene", "bench.adapters.vl:RandomSceneT2I")
ADAPTERS.register("python-t2i", "bench.adapters.vl:PythonT2I")

# Hugging Face (bench.adapters.hf; optional extras genbench[diffusers], genbench[transformers])
ADAPTERS.register("diffusers", "bench.adapters.hf:DiffusersGenerator")
ADAPTERS.register("diffusers-t2i", "bench.adapters.hf:DiffusersT2I")
ADAPTERS.register("transformers-retriever", "bench.adapters.hf:TransformersRetriever")
ADAPTERS.register("transformers-captioner", "bench.adapters.hf:TransformersCaptioner")

# Adapter names are <source>-<kind> (python-retriever, python-captioner, python-translator); the old spellings of
# the translators keep working, with a warning.
for _old, _new in (("translator-python", "python-translator"), ("translator-torchscript", "torchscript-translator"),
                   ("translator-folder", "folder-translator"), ("translation-zoo", "zoo-translator")):
    ADAPTERS.alias(_old, _new)
