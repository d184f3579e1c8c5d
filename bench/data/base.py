"""Dataset kinds: one registered class per kind, with typed arguments.

A suite's dataset is ``{kind: NAME, ...arguments}``; the arguments are validated by the kind's ``Args`` model
(unknown keys, wrong types and missing required fields are errors at their file:line), so ``datasets:`` is a
discriminated union on ``kind`` whose members come from the registry. A kind loads its data on first use
(``load``), may check its arguments further without reading data (``check``), says where its data comes from for
``genbench run --dry-run`` (``sources``) and, for statistics-only references, which protocol they were made under
(``statistics_protocol``). Third-party kinds register in the entry-point group ``genbench.datasets``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict

from bench.images import ArrayFile, ImageFiles, content_hash
from bench.registry import Registry

Resolve = Callable[[str], Path]


@dataclass
class Dataset:
    """An image set: uint8 NCHW images, optional labels, captions and prompts."""

    name: str
    id: str  # what the protocol records: kind, location/split and version
    images: torch.Tensor
    labels: torch.Tensor | None = None
    _hash: str | None = None
    #: reference captions per image (vision-language datasets: shapes, COCO, Flickr30k)
    captions: list[list[str]] | None = None
    #: the text-to-image prompt of each image (shapes: its complete canonical caption)
    prompts: list[str] | None = None
    #: each image's id in its own annotations (COCO image ids); None: the position is the id
    image_ids: list[Any] | None = None
    #: False for a prompt set (DatasetKind.has_images): its images are placeholders nothing may compare with
    has_images: bool = True

    @property
    def hash(self) -> str:
        """The content key of the images (the feature-cache key's image part)."""
        if self._hash is None:
            self._hash = content_hash(self.images)
        return self._hash

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def head(self, m: int) -> torch.Tensor:
        """The first ``m`` images (a file-backed dataset decodes only those)."""
        return self.images[:m]

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """The images at ``indices`` (a file-backed dataset decodes only those)."""
        if isinstance(indices, range) and indices.step == 1:
            return self.images[indices.start: indices.stop]
        return self.images[list(indices)]

    def batches(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        """The images ``start..stop-1`` in order, ``size`` at a time (a file-backed dataset decodes only the batch
        at hand)."""
        stop = len(self) if stop is None else min(stop, len(self))
        for i in range(start, stop, size):
            yield self.images[i: min(stop, i + size)]


class FileDataset(Dataset):
    """A dataset read from files on demand (a folder: bench.images.ImageFiles; an .npy/.npz array:
    bench.images.ArrayFile). Its content key is the files' digest (no pixel decoded), features stream from the files
    batch by batch, and the pixels are held whole only if something asks for ``images`` (a metric that requires the
    reference images)."""

    def __init__(self, name: str, id: str, files: ImageFiles | ArrayFile, labels: torch.Tensor | None = None) -> None:
        self.name, self.id, self.files, self.labels = name, id, files, labels
        self.captions: list[list[str]] | None = None
        self.prompts: list[str] | None = None
        self.image_ids: list[Any] | None = None
        self._hash = None
        self._loaded: torch.Tensor | None = None

    @property
    def images(self) -> torch.Tensor:
        if self._loaded is None:
            self._loaded = self.files.load()
        return self._loaded

    @images.setter
    def images(self, value: torch.Tensor) -> None:
        self._loaded = value

    @property
    def hash(self) -> str:
        return self.files.digest()

    def __len__(self) -> int:
        return len(self.files)

    def head(self, m: int) -> torch.Tensor:
        return self._loaded[:m] if self._loaded is not None else self.files.read(range(min(m, len(self.files))))

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        if self._loaded is not None:
            return super().read(indices)
        return self.files.read(indices)

    def batches(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        return self.files.batches(size, start, None if stop is None else min(stop, len(self.files)))

    def __repr__(self) -> str:
        return f"FileDataset({self.name!r}, {self.id!r}, {len(self.files)} files)"


class DatasetArgs(BaseModel):
    """A dataset kind's arguments (everything in the suite's entry except ``kind``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetKind:
    """Subclasses set ``name``, ``Args`` and a docstring, and implement :meth:`load`."""

    name: ClassVar[str]
    Args: ClassVar[type[DatasetArgs]] = DatasetArgs
    #: False: a prompt set (GenEval) with no reference images; ``validate`` refuses metrics that compare with the
    #: reference (FID, ...) on it, and its datasets carry ``has_images = False`` for the tasks
    has_images: ClassVar[bool] = True

    def load(self, name: str, args: Any, resolve: Resolve) -> Any:
        """The dataset (``bench.data.datasets.Dataset`` or a subclass, or ``bench.refstats.RefStats``)."""
        raise NotImplementedError

    def check(self, args: Any, resolve: Resolve) -> list[tuple[tuple[Any, ...], str]]:
        """Problems found without reading the data, as (argument path, message)."""
        return []

    def sources(self, args: Any, resolve: Resolve) -> str:
        """Where the data comes from, one line for ``--dry-run`` (default: embedded in genbench)."""
        return "(embedded, nothing to download)"

    def statistics_protocol(self, args: Any, resolve: Resolve) -> dict[str, Any] | None:
        """For a statistics-only reference: the protocol its statistics were made under (validate compares each
        task's backbone with it); None for image datasets."""
        return None


def no_images_line(metric: str, dataset: str, kind: str) -> str:
    """The one line that refuses a metric comparing with the reference (FID, ...) on a prompt set."""
    return (f"metric '{metric}' compares with the reference's images, but dataset '{dataset}' (kind {kind}) is a "
            f"prompt set with no images; give {metric} a task of its own whose reference is an image set "
            "(COCO-30k, a folder)")


DATASETS: Registry[type[DatasetKind]] = Registry("dataset kind", base=DatasetKind, group="genbench.datasets")


def dataset_kind(kind: str) -> DatasetKind:
    return DATASETS.get(kind)()
