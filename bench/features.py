"""Features, computed once per (image set, backbone) and cached on disk by content.

The cache key is the sha256 of: the images' content hash, the backbone name, the backbone's weights sha256, its
preprocessing record and the feature-format version. Changing any of them (a different weights file above all)
gives a different key, so a stale entry can never be returned. Entries are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.backbones.base import Backbone
from bench.images import content_hash
from bench.weights import cache_root

FORMAT_VERSION = 1
Features = dict[str, np.ndarray]


def feature_key(images_hash: str, backbone: Backbone) -> str:
    backbone.resolve_weights()
    blob = json.dumps({"images": images_hash, "v": FORMAT_VERSION, **backbone.describe()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class FeatureStore:
    """In-memory and on-disk feature cache. ``directory=None`` disables the disk layer."""

    def __init__(self, directory: str | os.PathLike[str] | None = "default", progress: bool = True) -> None:
        if directory == "default":
            directory = cache_root() / "features"
        self.directory = Path(directory) if directory is not None else None
        self.progress = progress
        self._memory: dict[str, Features] = {}
        self.hits = 0
        self.misses = 0

    def get(self, images: torch.Tensor, backbone: Backbone, label: str = "", images_hash: str | None = None) -> Features:
        key = feature_key(images_hash or content_hash(images), backbone)
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self.directory / key[:2] / f"{key}.npz" if self.directory is not None else None
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    feats = {k: z[k] for k in z.files}
                if set(feats) == set(backbone.layers) and all(len(v) == images.shape[0] for v in feats.values()):
                    self.hits += 1
                    self._memory[key] = feats
                    return feats
            except Exception:  # a damaged entry is recomputed, never trusted
                pass
        self.misses += 1
        with tqdm(total=images.shape[0], desc=f"features {backbone.name} {label}".rstrip(), unit="img",
                  disable=None if self.progress else True, leave=False) as bar:
            feats = backbone.extract(images, progress=bar)
        self._memory[key] = feats
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.part")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, **feats)  # type: ignore[arg-type]
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return feats
