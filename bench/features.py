"""Features, computed once per (image set, backbone) and cached on disk by content.

The cache key is the sha256 of: the images' content key, the backbone name, the backbone's weights sha256, its
preprocessing record and the feature-format version. Changing any of them (a different weights file above all)
gives a different key, so a stale entry can never be returned. Entries are written atomically.

A content key never needs the whole set in memory: a tensor's is :func:`bench.images.content_hash`, a streamed
set's the same digest fed batch by batch (:class:`bench.images.StreamHash`), a set of files the ordered digest of
the files' own sha256 (:meth:`bench.images.ImageFiles.digest`), known before any pixel is decoded, so a cached
folder is never decoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench.backbones.base import Backbone
from bench.images import content_hash
from bench.streams import prefetch
from bench.weights import cache_root

FORMAT_VERSION = 2  # 2: content keys of streamed sets (bench.images.StreamHash, ImageFiles.digest)
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

    def _path(self, key: str) -> Path | None:
        return self.directory / key[:2] / f"{key}.npz" if self.directory is not None else None

    def lookup(self, key: str, backbone: Backbone, n: int | None = None) -> Features | None:
        """The cached features under ``key`` (memory, then disk), or None; a damaged or mismatched entry is None."""
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self._path(key)
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    feats = {k: z[k] for k in z.files}
                lengths = {len(v) for v in feats.values()}
                if set(feats) == set(backbone.layers) and len(lengths) == 1 and (n is None or lengths == {n}):
                    self.hits += 1
                    self._memory[key] = feats
                    return feats
            except Exception:  # a damaged entry is recomputed, never trusted
                pass
        return None

    def put(self, key: str, feats: Features) -> None:
        self._memory[key] = feats
        path = self._path(key)
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

    def get(self, images: torch.Tensor, backbone: Backbone, label: str = "", images_hash: str | None = None) -> Features:
        """Features of a whole uint8 tensor."""
        return self.get_stream(images_hash or content_hash(images), lambda: iter([images]), backbone, label,
                               total=int(images.shape[0]))

    def get_stream(self, content_key: str, batches: Callable[[], Iterator[torch.Tensor]], backbone: Backbone,
                   label: str = "", total: int | None = None) -> Features:
        """Features of a set known by its content key and readable as a stream of batches: from the cache when
        present (``batches`` is then never called: nothing is decoded or generated), else computed batch by batch
        and cached."""
        key = feature_key(content_key, backbone)
        cached = self.lookup(key, backbone, total)
        if cached is not None:
            return cached
        self.misses += 1
        with tqdm(total=total, desc=f"features {backbone.name} {label}".rstrip(), unit="img",
                  disable=None if self.progress else True, leave=False) as bar:
            feats = backbone.extract_batches(prefetch(batches()), progress=bar)  # decode overlaps the network
        self.put(key, feats)
        return feats
