"""Metrics: each declares what it needs and turns features into values. Metrics know nothing of models."""

from bench.metrics.base import METRICS, Metric, MetricValue, get_metric

METRICS.register("fid", "bench.metrics.distribution:FID")
METRICS.register("kid", "bench.metrics.distribution:KID")
METRICS.register("isc", "bench.metrics.distribution:InceptionScore")
METRICS.register("prc", "bench.metrics.distribution:PrecisionRecall")
METRICS.register("recall", "bench.metrics.vl:Recall")
METRICS.register("coco-captions", "bench.metrics.vl:CaptionMetrics")
METRICS.register("clipscore", "bench.metrics.vl:ClipScore")
METRICS.register("clipscore-torchmetrics", "bench.metrics.vl:ClipScoreTM")
METRICS.register("attribute-accuracy", "bench.metrics.t2i:AttributeAccuracy")
METRICS.register("prompt-diversity", "bench.metrics.t2i:PromptDiversity")

__all__ = ["METRICS", "Metric", "MetricValue", "get_metric"]
