"""Metrics: each declares what it needs and turns features into values. Metrics know nothing of models."""

from bench.metrics.base import METRICS, Metric, MetricValue, get_metric

METRICS.register("fid", "bench.metrics.distribution:FID")
METRICS.register("kid", "bench.metrics.distribution:KID")
METRICS.register("isc", "bench.metrics.distribution:InceptionScore")
METRICS.register("prc", "bench.metrics.distribution:PrecisionRecall")
METRICS.register("cond_acc", "bench.metrics.conditional:ClassAccuracy")
METRICS.register("intra_fid", "bench.metrics.conditional:IntraClassFID")
METRICS.register("ppl", "bench.metrics.ppl:PPL")

__all__ = ["METRICS", "Metric", "MetricValue", "get_metric"]
