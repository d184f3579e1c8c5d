"""Metrics: each declares the inputs it ``requires`` and turns them into values. Metrics know nothing of runs.

The names in ``__all__`` are the stable public API for plugin authors (docs/adding-a-metric.md).
"""

from bench.metrics.base import (
    INPUTS,
    METRICS,
    ArtifactSink,
    Codes,
    Metric,
    MetricValue,
    NoSuite,
    Options,
    OutputInfo,
    Reference,
    Resources,
    SampleSet,
    Translator,
    get_metric,
    on_features,
)

METRICS.register("fid", "bench.metrics.distribution:FID")
METRICS.register("sfid", "bench.metrics.distribution:SFID")
METRICS.register("cmmd", "bench.metrics.cmmd:CMMD")
METRICS.register("vendi", "bench.metrics.vendi:Vendi")
METRICS.register("kid", "bench.metrics.distribution:KID")
METRICS.register("isc", "bench.metrics.distribution:InceptionScore")
METRICS.register("prc", "bench.metrics.distribution:PrecisionRecall")
METRICS.register("prc_vgg16", "bench.metrics.distribution:PrecisionRecallVGG16")
# translation (bench.metrics.translation): paired metrics read images and truth; cycle/identity/diversity re-translate
METRICS.register("l1", "bench.metrics.translation:L1")
METRICS.register("psnr", "bench.metrics.translation:PSNR")
METRICS.register("ssim", "bench.metrics.translation:SSIM")
METRICS.register("ms_ssim", "bench.metrics.translation:MSSSIM")
METRICS.register("lpips", "bench.metrics.translation:PerceptualPaired")
METRICS.register("cycle", "bench.metrics.translation:Cycle")
METRICS.register("identity", "bench.metrics.translation:Identity")
METRICS.register("diversity", "bench.metrics.translation:Diversity")
METRICS.register("label_preservation", "bench.metrics.translation:LabelPreservation")
# autoencoders and tokenizers (bench.metrics.reconstruction); psnr/ssim/lpips above serve them too
METRICS.register("rfid", "bench.metrics.reconstruction:RFID")
METRICS.register("codebook", "bench.metrics.reconstruction:Codebook")
METRICS.register("bits_per_dim", "bench.metrics.reconstruction:BitsPerDim")
METRICS.register("fid_curve", "bench.metrics.distribution:FIDCurve")
METRICS.register("density_coverage", "bench.metrics.manifold:DensityCoverage")
METRICS.register("class_coverage", "bench.metrics.classes:ClassCoverage")
METRICS.register("lpips_diversity", "bench.metrics.diversity:LPIPSDiversity")
METRICS.register("memorization", "bench.metrics.memorization:Memorization")
METRICS.register("cond_acc", "bench.metrics.conditional:ClassAccuracy")
METRICS.register("intra_fid", "bench.metrics.conditional:IntraClassFID")
METRICS.register("ppl", "bench.metrics.ppl:PPL")
METRICS.register("retrieval_recall", "bench.metrics.vl:Recall")
METRICS.register("coco_captions", "bench.metrics.vl:CaptionMetrics")
METRICS.register("clipscore", "bench.metrics.vl:ClipScore")
METRICS.register("clipscore_torchmetrics", "bench.metrics.vl:ClipScoreTM")
METRICS.register("attribute_accuracy", "bench.metrics.t2i:AttributeAccuracy")
METRICS.register("prompt_diversity", "bench.metrics.t2i:PromptDiversity")

# Metric names are snake_case (they sit beside value names in tables); the old spellings keep working, with a warning.
for _old, _new in (("recall", "retrieval_recall"), ("coco-captions", "coco_captions"),
                   ("clipscore-torchmetrics", "clipscore_torchmetrics"), ("attribute-accuracy", "attribute_accuracy"),
                   ("prompt-diversity", "prompt_diversity")):
    METRICS.alias(_old, _new)

__all__ = ["INPUTS", "METRICS", "ArtifactSink", "Codes", "Metric", "MetricValue", "NoSuite", "Options", "OutputInfo", "Reference",
           "Resources", "SampleSet", "Translator", "get_metric", "on_features"]
