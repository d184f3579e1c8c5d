"""The built-in image-set kinds: the embedded digits and shapes worlds, folders, .npz/.npy files and
torch-fidelity's registry datasets (CIFAR-10/100, STL-10). Translation, captioned and statistics kinds live with
their loaders (bench.translation.data, bench.data.captioned, bench.refstats); all register in bench.data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from bench.data.base import Dataset, DatasetArgs, DatasetKind, FileDataset, Resolve
from bench.errors import InputError
from bench.images import ArrayFile, ImageFiles, list_image_files
from bench.weights import ENV_OFFLINE, cache_root

__all__ = ["Dataset", "DigitsKind", "FileDataset", "FolderKind", "NpzKind", "ShapesKind", "TorchFidelityKind"]


class DigitsArgs(DatasetArgs):
    split: Literal["train", "test", "all"] = "train"
    classes: list[int] | None = Field(default=None, description="keep only these digit classes")


class DigitsKind(DatasetKind):
    """scikit-learn's 8x8 digits, embedded (split train/test/all; optional class subset)."""

    name = "digits"
    Args = DigitsArgs

    def load(self, name: str, args: DigitsArgs, resolve: Resolve) -> Dataset:
        from bench.data import digits

        images, labels = digits.load(args.split)
        if args.classes is not None:
            keep = torch.isin(labels, torch.tensor(args.classes))
            images, labels = images[keep], labels[keep]
        suffix = f"/classes={','.join(map(str, args.classes))}" if args.classes is not None else ""
        return Dataset(name, f"{digits.VERSION}:{args.split}{suffix}", images, labels)


def _shapes_splits() -> tuple[str, ...]:
    from bench.shapes import world

    return tuple(world.SPLITS)


class ShapesArgs(DatasetArgs):
    split: str = Field(default="test", description="a split of the procedural shapes world")


class ShapesKind(DatasetKind):
    """The procedural shapes world (32x32 scenes with canonical captions), embedded."""

    name = "shapes"
    Args = ShapesArgs

    def check(self, args: ShapesArgs, resolve: Resolve) -> list[tuple[tuple[Any, ...], str]]:
        if args.split not in _shapes_splits():
            return [(("split",), f"shapes split must be one of {', '.join(_shapes_splits())} (got '{args.split}')")]
        return []

    def load(self, name: str, args: ShapesArgs, resolve: Resolve) -> Dataset:
        from bench.shapes import world

        sp = world.load(args.split)
        return Dataset(name, f"{world.VERSION}:{args.split}", sp.images, captions=sp.captions, prompts=sp.prompts)


class FolderArgs(DatasetArgs):
    path: str = Field(description="a folder of images (searched recursively), relative to the suite")


class _FileKind(DatasetKind):
    def sources(self, args: Any, resolve: Resolve) -> str:
        p = resolve(args.path)
        return f"{p} [{'present' if p.exists() else 'MISSING: provide it; genbench downloads no datasets of this kind'}]"


class FolderKind(_FileKind):
    """A folder of image files (PNG, JPEG, ...), decoded to uint8."""

    name = "folder"
    Args = FolderArgs

    def load(self, name: str, args: FolderArgs, resolve: Resolve) -> Dataset:
        path = resolve(args.path)
        files = ImageFiles(list_image_files(path), str(path))
        files.scan()  # a file of another size fails here, naming it, before any compute
        return FileDataset(name, f"folder:{path.name}@{files.digest()[:12]}", files)


class NpzArgs(DatasetArgs):
    path: str = Field(description="an .npz or .npy file of uint8 images (NHWC or NCHW)")
    key: str | None = Field(default=None, description="the array in an .npz holding the images (default: the only one)")
    range: str | list[float] | None = Field(default=None, description="value range of float arrays, e.g. '-1,1'")


class NpzKind(_FileKind):
    """Images in an .npz/.npy file (ADM-style batches: ``arr_0``, uint8 NHWC)."""

    name = "npz"
    Args = NpzArgs

    def load(self, name: str, args: NpzArgs, resolve: Resolve) -> Dataset:
        path = resolve(args.path)
        from bench.images import parse_range

        array = ArrayFile(path, args.key, parse_range(args.range))
        return FileDataset(name, f"npz:{path.name}@{array.digest()[:12]}", array)


TORCH_FIDELITY_DATASETS = ("cifar10-train", "cifar10-val", "cifar100-train", "cifar100-val", "stl10-train", "stl10-test",
                           "stl10-unlabeled")


def torch_fidelity_source(split: str) -> tuple[str, str, Path]:
    """(url, archive file name, root folder) of a torch-fidelity registry dataset: what a run would download.

    torch-fidelity's registry builds torchvision datasets (CIFAR-10/100, STL-10); their URLs are torchvision's."""
    import torchvision.datasets as tvd

    classes = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "stl10": tvd.STL10}
    cls = classes[split.rsplit("-", 1)[0]]
    return cls.url, cls.filename, cache_root() / "datasets" / "torch-fidelity"  # type: ignore[attr-defined]


class TorchFidelityArgs(DatasetArgs):
    split: Literal[TORCH_FIDELITY_DATASETS] = Field(description="a name in torch-fidelity's dataset registry")  # type: ignore[valid-type]


class TorchFidelityKind(DatasetKind):
    """A dataset from torch-fidelity's registry (its own loader, uint8 CHW), under $GENBENCH_CACHE/datasets."""

    name = "torch-fidelity"
    Args = TorchFidelityArgs

    def sources(self, args: TorchFidelityArgs, resolve: Resolve) -> str:
        url, filename, root = torch_fidelity_source(args.split)
        return f"registry '{args.split}'\n      from {url}\n      to   {root / filename}"

    def load(self, name: str, args: TorchFidelityArgs, resolve: Resolve) -> Dataset:
        from torch_fidelity.registry import DATASETS_REGISTRY

        url, filename, root = torch_fidelity_source(args.split)
        download = os.environ.get(ENV_OFFLINE, "") not in ("1", "true", "yes")
        root.mkdir(parents=True, exist_ok=True)
        try:
            ds = DATASETS_REGISTRY[args.split](str(root), download)
        except RuntimeError as exc:
            raise InputError(f"dataset '{name}' ({args.split}): {exc} — download {url} and extract it in {root} "
                             f"(or unset GENBENCH_OFFLINE)") from None
        images = torch.stack([ds[i] for i in range(len(ds))])
        out = Dataset(name, "", images)
        out.id = f"torch-fidelity:{args.split}@{out.hash[:12]}"
        return out
