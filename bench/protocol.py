"""The protocol record attached to every image-metric number.

Two numbers may be compared only when their protocols are equal: same feature network and weights, same layer,
same preprocessing and quantization, same reference and same sample counts (FID is biased in N).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from bench.backbones.base import Backbone

QUANTIZATION = "round-half-even to uint8 after clipping (bench.images.to_uint8); uint8 passes through"


def make_protocol(backbone: Backbone, layer: str, reference_id: str, n: int, n_ref: int | None) -> dict[str, Any]:
    d = backbone.describe()
    return {
        "backbone": d["backbone"],
        "weights_sha256": d["weights_sha256"],
        "layer": layer,
        "preprocessing": d["preprocessing"],
        "quantization": QUANTIZATION,
        "reference": reference_id,
        "n": n,
        "n_ref": n_ref,
    }


def protocol_id(protocol: dict[str, Any]) -> str:
    """Short id of everything that makes numbers comparable. The layer is left out: it is fixed per metric
    (FID always reads the pool layer, IS the logits), so it never varies within one metric's column."""
    core = {k: v for k, v in protocol.items() if k != "layer"}
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:12]
