"""genbench: evaluation and benchmarking for generative vision and vision-language models.

The core package; the model adapters are ``bench.adapters``.
"""

from typing import Any

__version__ = "0.1.0"

#: the Python API (bench.api), imported on first use so that ``import bench`` stays light
_API = ("score_images", "score_pairs", "score_cycle", "score_captions", "score_caption_images", "score_retrieval",
        "run_suite")
#: the in-process core (bench.evaluation): samples and a reference in, typed rows out
_EVALUATION = ("evaluate",)
#: the training-loop accumulator (bench.training), also imported on first use
_TRAINING = ("Metrics",)
__all__ = ["__version__", *_API, *_EVALUATION, *_TRAINING]


def __getattr__(name: str) -> Any:
    if name in _API:
        from bench import api

        return getattr(api, name)
    if name in _EVALUATION:
        from bench import evaluation

        return getattr(evaluation, name)
    if name in _TRAINING:
        from bench import training

        return getattr(training, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
