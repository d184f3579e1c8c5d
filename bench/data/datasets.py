"""Reference datasets named in a suite: the embedded digits, a folder of images, or an .npz of samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import ConfigError
from bench.images import content_hash, load_folder, load_npz


@dataclass
class Dataset:
    name: str
    id: str  # what the protocol records: kind, location/split and version
    images: torch.Tensor
    labels: torch.Tensor | None = None
    _hash: str | None = None

    @property
    def hash(self) -> str:
        if self._hash is None:
            self._hash = content_hash(self.images)
        return self._hash


def load_dataset(name: str, kind: str, *, split: str | None = None, path: Path | None = None,
                 key: str | None = None, classes: list[int] | None = None, a: Path | None = None,
                 b: Path | None = None, protocol: str | None = None, ref: str | None = None) -> Dataset:
    """A suite dataset; translation kinds return a :class:`bench.translation.data.DomainPair`, kind ``stats`` a
    :class:`bench.refstats.RefStats` (a Gaussian fit only: usable by FID, not by metrics needing features)."""
    from bench.translation import data as translation_data

    if kind in translation_data.KINDS:
        return translation_data.load_domain_pair(name, kind, split=split, path=path, a=a, b=b)
    if kind == "digits":
        from bench.data import digits

        split = split or "train"
        if split not in ("train", "test", "all"):
            raise ConfigError(f"dataset '{name}': digits split must be train, test or all (got '{split}')")
        images, labels = digits.load(split)
        if classes is not None:
            keep = torch.isin(labels, torch.tensor(classes))
            images, labels = images[keep], labels[keep]
        suffix = f"/classes={','.join(map(str, classes))}" if classes is not None else ""
        return Dataset(name, f"{digits.VERSION}:{split}{suffix}", images, labels)
    if kind == "stats":
        from bench.refstats import load_reference

        spec = str(path) if path is not None else ref
        if spec is None:
            raise ConfigError(f"dataset '{name}': kind 'stats' needs 'path' (an .npz/.pt file) or 'ref' (a named reference)")
        return load_reference(spec, protocol)  # type: ignore[return-value]
    if kind in ("folder", "npz"):
        if path is None:
            raise ConfigError(f"dataset '{name}': kind '{kind}' needs a 'path'")
        images = load_folder(path) if kind == "folder" else load_npz(path, key)
        ds = Dataset(name, f"{kind}:{path}", images)
        ds.id = f"{kind}:{path.name}@{ds.hash[:12]}"
        return ds
    raise ConfigError(f"dataset '{name}': unknown kind '{kind}'; choose from {', '.join(DATASET_KINDS)}")


DATASET_KINDS = ("digits", "folder", "npz", "stats", "digits-edges", "digits-strokes", "paired-folder", "unpaired-folder")
