"""The digits reference zoo: small trained generators and autoencoders shipped with genbench, loaded only after a
sha256 check.

``bench/assets/zoo/MANIFEST.json`` maps each zoo name (generators ``vae``, ``gan``, ``dcgan``, ``cgan``, ``ddpm``,
``collapsed-gan``; the autoencoder ``vqvae``, which has no prior to sample from) to its weights file, architecture and constructor arguments, sha256, and the quality its
training script (``scripts/zoo/``) printed. The weights are plain state dicts read with
``torch.load(weights_only=True)``: loading a zoo model never unpickles code.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from bench.errors import ConfigError, WeightsError, did_you_mean
from bench.weights import sha256_file
from bench.zoo.models import ARCHS, ZooModel

ZOO_DIR = Path(__file__).resolve().parent.parent / "assets" / "zoo"
MANIFEST_FILE = ZOO_DIR / "MANIFEST.json"


def manifest() -> dict[str, dict[str, Any]]:
    """The zoo manifest (empty when no model has been trained yet)."""
    return json.loads(MANIFEST_FILE.read_text()) if MANIFEST_FILE.is_file() else {}


def names() -> list[str]:
    return sorted(manifest())


def entry(name: str) -> dict[str, Any]:
    m = manifest()
    if name not in m:
        raise ConfigError(f"unknown zoo model '{name}'{did_you_mean(name, m)}")
    return m[name]


def build(name: str) -> ZooModel:
    """An untrained network with the architecture the manifest records for ``name``."""
    e = entry(name)
    return ARCHS[e["arch"]](**e["kwargs"])


def load(name: str) -> ZooModel:
    """The shipped generator ``name``, in eval mode, after verifying its sha256 against the manifest."""
    return _load(name, entry(name)["sha256"])


@lru_cache(maxsize=16)
def _load(name: str, digest: str) -> ZooModel:
    e = entry(name)
    path = ZOO_DIR / e["file"]
    if not path.is_file():
        raise WeightsError(f"{path}: zoo weights for '{name}' are missing (train them with {e.get('trained_by', 'scripts/zoo/')})")
    actual = sha256_file(path)
    if actual != digest:
        raise WeightsError(f"{path}: sha256 {actual[:16]}... does not match {MANIFEST_FILE.name} ({digest[:16]}...)")
    net = build(name)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().requires_grad_(False)


__all__ = ["ARCHS", "MANIFEST_FILE", "ZOO_DIR", "ZooModel", "build", "entry", "load", "manifest", "names"]
