"""The shapes zoo's weights: committed under ``bench/assets/shapes`` with their sha256 in its MANIFEST.json.

Loading always checks the sha256 recorded by the training script, so a stale or edited file fails loudly
instead of silently changing every offline number. The files are produced by this project
(``scripts/shapes/*.py``); they are still read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.errors import WeightsError
from bench.retrain import record_in_manifest
from bench.weights import sha256_file

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "shapes"
MANIFEST = ASSETS / "MANIFEST.json"
FILES = {"dual-encoder": "dual_encoder.pt", "captioner": "captioner.pt", "attribute-net": "attribute_net.pt",
         "t2i-generator": "t2i_generator.pt", "segmenter": "segmenter.pt", "gan": "gan.pt"}


def _classes() -> dict[str, type[nn.Module]]:
    from bench.shapes.models import AttributeNet, Captioner, DualEncoder, TextToImage
    from bench.shapes.scene_nets import Segmenter, ShapesGenerator

    return {"dual-encoder": DualEncoder, "captioner": Captioner, "attribute-net": AttributeNet,
            "t2i-generator": TextToImage, "segmenter": Segmenter, "gan": ShapesGenerator}


def manifest() -> dict[str, Any]:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def weights_path(name: str) -> Path:
    return ASSETS / FILES[name]


def check(name: str, path: str | Path | None = None) -> list[str]:
    p = Path(path) if path else weights_path(name)
    return [] if p.is_file() else [f"{p}: shapes {name} weights file does not exist (train it with scripts/shapes/)"]


@lru_cache(maxsize=8)
def _load_cached(name: str, path: str, digest: str) -> nn.Module:
    net = _classes()[name]()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


def load(name: str, path: str | Path | None = None) -> tuple[nn.Module, str]:
    """(network in eval mode, sha256). The bundled file must match MANIFEST.json; an explicit file is hashed."""
    p = Path(path) if path else weights_path(name)
    if not p.is_file():
        raise WeightsError(check(name, p)[0])
    digest = sha256_file(p)
    if path is None:
        want = manifest().get(FILES[name], {}).get("sha256")
        if digest != want:
            raise WeightsError(f"{p}: sha256 {digest[:16]}... does not match {MANIFEST} ({str(want)[:16]}...)")
    return _load_cached(name, str(p.resolve()), digest), digest


def save(name: str, net: nn.Module, info: dict[str, Any], out: str | Path | None = None) -> str:
    """Write the weights; at the shipped location (``out`` None) also record sha256 + quality in MANIFEST.json
    (used by the training scripts; ``out`` elsewhere is how the tests check that a script reproduces)."""
    p = Path(out) if out else weights_path(name)
    p.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), p)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    if p.resolve() == weights_path(name).resolve():
        record_in_manifest(MANIFEST, FILES[name], {"sha256": digest, **info})
    return digest
