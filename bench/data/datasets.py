"""Reference datasets named in a suite: the embedded digits, a folder of images, or an .npz of samples."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.errors import ConfigError, InputError
from bench.images import content_hash, load_folder, load_npz


@dataclass
class Dataset:
    name: str
    id: str  # what the protocol records: kind, location/split and version
    images: torch.Tensor
    labels: torch.Tensor | None = None
    _hash: str | None = None
    #: reference captions per image (vision-language datasets: shapes, COCO, Flickr30k)
    captions: list[list[str]] | None = None
    #: the text-to-image prompt of each image (shapes: its complete canonical caption)
    prompts: list[str] | None = None

    @property
    def hash(self) -> str:
        if self._hash is None:
            self._hash = content_hash(self.images)
        return self._hash


def load_dataset(name: str, kind: str, *, split: str | None = None, path: Path | None = None,
                 key: str | None = None, classes: list[int] | None = None, a: Path | None = None,
                 b: Path | None = None, images_dir: Path | None = None, protocol: str | None = None,
                 ref: str | None = None) -> Dataset:
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
    if kind == "shapes":
        from bench.shapes import world

        split = split or "test"
        if split not in world.SPLITS:
            raise ConfigError(f"dataset '{name}': shapes split must be one of {', '.join(world.SPLITS)} (got '{split}')")
        sp = world.load(split)
        return Dataset(name, f"{world.VERSION}:{split}", sp.images, captions=sp.captions, prompts=sp.prompts)
    if kind in ("coco-captions", "karpathy"):
        from bench.data.captioned import load_captioned

        return load_captioned(name, kind, path, split=split, images_dir=images_dir)
    if kind == "stats":
        from bench.refstats import load_reference

        spec = str(path) if path is not None else ref
        if spec is None:
            raise ConfigError(f"dataset '{name}': kind 'stats' needs 'path' (an .npz/.pt file) or 'ref' (a named reference)")
        return load_reference(spec, protocol)  # type: ignore[return-value]
    if kind == "torch-fidelity":
        return _torch_fidelity_dataset(name, split)
    if kind in ("folder", "npz"):
        if path is None:
            raise ConfigError(f"dataset '{name}': kind '{kind}' needs a 'path'")
        images = load_folder(path) if kind == "folder" else load_npz(path, key)
        ds = Dataset(name, f"{kind}:{path}", images)
        ds.id = f"{kind}:{path.name}@{ds.hash[:12]}"
        return ds
    raise ConfigError(f"dataset '{name}': unknown kind '{kind}'; choose from {', '.join(DATASET_KINDS)}")


def torch_fidelity_source(split: str | None) -> tuple[str, str, Path]:
    """(url, archive file name, root folder) of a torch-fidelity registry dataset: what a run would download.

    torch-fidelity's registry builds torchvision datasets (CIFAR-10/100, STL-10); their URLs are torchvision's."""
    import torchvision.datasets as tvd

    from bench.weights import cache_root

    classes = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "stl10": tvd.STL10}
    if not split or split.rsplit("-", 1)[0] not in classes:
        raise ConfigError(f"torch-fidelity dataset '{split}': choose from {', '.join(TORCH_FIDELITY_DATASETS)}")
    cls = classes[split.rsplit("-", 1)[0]]
    return cls.url, cls.filename, cache_root() / "datasets" / "torch-fidelity"  # type: ignore[attr-defined]


TORCH_FIDELITY_DATASETS = ("cifar10-train", "cifar10-val", "cifar100-train", "cifar100-val", "stl10-train", "stl10-test",
                           "stl10-unlabeled")


def _torch_fidelity_dataset(name: str, split: str | None) -> Dataset:
    """A dataset from torch-fidelity's registry (its own loader, uint8 CHW), under $GENBENCH_CACHE/datasets."""
    import os

    from torch_fidelity.registry import DATASETS_REGISTRY

    from bench.weights import ENV_OFFLINE

    url, filename, root = torch_fidelity_source(split)
    download = os.environ.get(ENV_OFFLINE, "") not in ("1", "true", "yes")
    root.mkdir(parents=True, exist_ok=True)
    try:
        ds = DATASETS_REGISTRY[str(split)](str(root), download)
    except RuntimeError as exc:
        raise InputError(f"dataset '{name}' ({split}): {exc} — download {url} and extract it in {root} "
                         f"(or unset GENBENCH_OFFLINE)") from None
    images = torch.stack([ds[i] for i in range(len(ds))])
    out = Dataset(name, f"torch-fidelity:{split}", images)
    out.id = f"torch-fidelity:{split}@{out.hash[:12]}"
    return out


DATASET_KINDS = ("digits", "folder", "npz", "stats", "torch-fidelity", "digits-edges", "digits-strokes", "paired-folder",
                 "unpaired-folder", "shapes", "coco-captions", "karpathy")
