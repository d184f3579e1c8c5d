"""ONNX files run by onnxruntime (optional extra ``genbench[onnx]``), as torch-in, torch-out callables.

The session uses the CUDA execution provider when the model's device is a GPU and onnxruntime has it, else the
CPU. Inputs are fed in the order the graph declares them (``z`` then class labels for a generator; ``x`` then
noise for a translator): floats as float32, integer tensors as int64.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import ConfigError


def require_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("ONNX models need onnxruntime: pip install 'genbench[onnx]'") from None
    return onnxruntime


class OnnxModel:
    """An ``.onnx`` file as a callable on torch tensors (the output comes back as a CPU tensor)."""

    def __init__(self, path: str | Path, device: torch.device) -> None:
        ort = require_onnxruntime()
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(path), providers=providers)
        self.inputs = self.session.get_inputs()
        self.providers = self.session.get_providers()
        shape = self.inputs[0].shape
        #: the latent size when the first input is [n, d] with a fixed d (a generator's ``z``)
        self.latent_dim = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None

    def __call__(self, *tensors: torch.Tensor) -> torch.Tensor:
        if len(tensors) != len(self.inputs):
            raise ConfigError(f"the ONNX graph takes {len(self.inputs)} input(s) "
                              f"({', '.join(i.name for i in self.inputs)}), genbench gives {len(tensors)}")
        feeds = {}
        for spec, t in zip(self.inputs, tensors, strict=True):
            a = t.detach().cpu().numpy()
            feeds[spec.name] = a.astype(np.int64) if "int" in spec.type else a.astype(np.float32)
        return torch.from_numpy(np.asarray(self.session.run(None, feeds)[0]))
