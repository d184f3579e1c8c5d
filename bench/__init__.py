"""genbench: evaluation and benchmarking for generative vision and vision-language models.

The core package. Adapters live in the top-level ``adapters/`` folder and are imported as
``bench.adapters`` (see pyproject.toml).
"""

__version__ = "0.1.0"
