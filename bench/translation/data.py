"""Domain pairs for translation tasks: two image sets A and B, paired by file name or unpaired.

Embedded worlds (deterministic, no randomness at all):

- ``digits-edges`` (paired): A = Sobel gradient magnitude of a digit, normalised per image to peak 255; B = the
  digit. Edge maps lose the stroke interior, so A → B is a real (if small) reconstruction problem.
- ``digits-strokes`` (unpaired): A = thin strokes (grey erosion with a horizontal 1x3 footprint), B = thick
  strokes (grey dilation, same footprint). The first half of the split feeds A, the second half B, so no B
  image is the translation of any A image. A 3x3 footprint erases most 8x8 strokes: hence 1x3.

Folders: ``paired-folder`` (``A/`` and ``B/`` with matching file names; any name present on one side only is
an error that lists the names; extensions may differ) and ``unpaired-folder`` (``A/`` and ``B/``, names unrelated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator

from bench.data.base import Dataset, DatasetArgs, DatasetKind, Resolve
from bench.errors import ConfigError, InputError
from bench.images import ImageFiles, content_hash, list_image_files

PAIRED_KINDS = ("digits-edges", "paired-folder")
UNPAIRED_KINDS = ("digits-strokes", "unpaired-folder")
KINDS = PAIRED_KINDS + UNPAIRED_KINDS


@dataclass
class DomainPair(Dataset):
    """A translation dataset. ``images``/``labels`` hold domain B (the target of ``a2b``, so generic code that
    reads a dataset's images sees the target domain); ``a``/``a_labels`` hold domain A. When ``paired``,
    ``a[i]`` and ``images[i]`` are the two sides of one example and share ``names_a[i] == names_b[i]``."""

    a: torch.Tensor = field(default_factory=lambda: torch.empty(0, 1, 8, 8, dtype=torch.uint8))
    a_labels: torch.Tensor | None = None
    paired: bool = False
    names_a: list[str] = field(default_factory=list)
    names_b: list[str] = field(default_factory=list)

    def domain(self, side: str) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
        """(images, labels, names) of side ``"a"`` or ``"b"``."""
        if side == "a":
            return self.a, self.a_labels, self.names_a
        return self.images, self.labels, self.names_b

    def domain_hash(self, side: str) -> str:
        return self.hash if side == "b" else content_hash(self.a)

    def side(self, side: str) -> Dataset:
        """Side ``"a"`` or ``"b"`` as a dataset of its own, read batch by batch (``batches``, ``read``, ``head``,
        ``hash``): what tasks stream from, so a folder pair is never held whole."""
        images, labels, _ = self.domain(side)
        ds = Dataset(f"{self.name}#{side.upper()}", f"{self.id}#{side.upper()}", images, labels)
        ds._hash = self.domain_hash(side)
        return ds


class FolderPair(DomainPair):
    """A domain pair read from two folders on demand: each side is a :class:`bench.data.base.FileDataset` (content
    key: the files' digest; pixels decoded batch by batch), held whole only if something asks for ``a``/``images``."""

    def __init__(self, name: str, kind: str, a_dir: Path, b_dir: Path, files_a: ImageFiles, files_b: ImageFiles,
                 names_a: list[str], names_b: list[str], paired: bool) -> None:
        self.name, self.paired, self.names_a, self.names_b = name, paired, names_a, names_b
        self.files = {"a": files_a, "b": files_b}
        self.labels = self.a_labels = None
        self.captions = self.prompts = self.image_ids = None
        self._hash = None
        self._whole: dict[str, torch.Tensor] = {}
        self.id = f"{kind}:{a_dir.name}+{b_dir.name}@{files_a.digest()[:6]}{files_b.digest()[:6]}"

    def _load(self, side: str) -> torch.Tensor:
        if side not in self._whole:
            self._whole[side] = self.files[side].load()
        return self._whole[side]

    @property  # type: ignore[override]
    def images(self) -> torch.Tensor:
        return self._load("b")

    @property  # type: ignore[override]
    def a(self) -> torch.Tensor:
        return self._load("a")

    @property
    def hash(self) -> str:
        return self.files["b"].digest()

    def __len__(self) -> int:
        return len(self.files["b"])

    def domain_hash(self, side: str) -> str:
        return self.files[side].digest()

    def side(self, side: str) -> Dataset:
        from bench.data.base import FileDataset

        return FileDataset(f"{self.name}#{side.upper()}", f"{self.id}#{side.upper()}", self.files[side])


# ----------------------------------------------------------------------------------------- transforms


def _hwindow(x: torch.Tensor) -> torch.Tensor:
    """The three horizontal neighbours of every pixel (zero outside the image), stacked on a new dim 0."""
    p = F.pad(x, (1, 1, 0, 0))
    return torch.stack([p[..., :-2], p[..., 1:-1], p[..., 2:]])


def thin_strokes(x: torch.Tensor) -> torch.Tensor:
    """Grey erosion with a horizontal 1x3 footprint (uint8 in, uint8 out)."""
    return _hwindow(x).amin(0)


def thick_strokes(x: torch.Tensor) -> torch.Tensor:
    """Grey dilation with a horizontal 1x3 footprint (uint8 in, uint8 out)."""
    return _hwindow(x).amax(0)


def edge_map(x: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude (replicate padding), scaled so each image's maximum is 255, rounded to uint8."""
    xf = x.double()
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64).view(1, 1, 3, 3)
    c = xf.shape[1]
    padded = F.pad(xf, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, kx.expand(c, 1, 3, 3), groups=c)
    gy = F.conv2d(padded, kx.transpose(2, 3).expand(c, 1, 3, 3), groups=c)
    mag = (gx**2 + gy**2).sqrt()
    peak = mag.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return (mag / peak * 255.0).round().clamp(0, 255).to(torch.uint8)


# ----------------------------------------------------------------------------------------- loading


def _digit_names(n: int) -> list[str]:
    return [f"{i:04d}" for i in range(n)]  # names are extension-free stems, as for folders


def load_digits_pair(name: str, kind: str, split: str | None) -> DomainPair:
    from bench.data import digits

    split = split or "test"
    if split not in ("train", "test", "all"):
        raise ConfigError(f"dataset '{name}': digits split must be train, test or all (got '{split}')")
    x, y = digits.load(split)
    if kind == "digits-edges":
        names = _digit_names(len(x))
        return DomainPair(name, f"{digits.VERSION}:{split}/edges-sobel-v1", x, y, a=edge_map(x), a_labels=y,
                          paired=True, names_a=names, names_b=list(names))
    half = len(x) // 2
    return DomainPair(name, f"{digits.VERSION}:{split}/strokes-h1x3-v1", thick_strokes(x[half:]), y[half:],
                      a=thin_strokes(x[:half]), a_labels=y[:half], paired=False,
                      names_a=_digit_names(half), names_b=[f"{i:04d}" for i in range(half, len(x))])


def _stems(folder: Path, files: list[Path]) -> list[str]:
    """Relative paths without extension: ``A/x/0001.png`` pairs with ``B/x/0001.jpg``."""
    return [f.relative_to(folder).with_suffix("").as_posix() for f in files]


def match_by_name(a_dir: Path, b_dir: Path, what: str) -> tuple[list[Path], list[Path], list[str]]:
    """Files of two folders paired by relative name (extension ignored), in sorted order, or an InputError that
    lists the names found on one side only (first ten of each)."""
    fa, fb = list_image_files(a_dir), list_image_files(b_dir)
    sa, sb = _stems(a_dir, fa), _stems(b_dir, fb)
    for folder, stems, files in ((a_dir, sa, fa), (b_dir, sb, fb)):
        if len(set(stems)) != len(stems):
            dup = sorted({s for s in stems if stems.count(s) > 1})[0]
            raise InputError(f"{folder}: two files named '{dup}' (with different extensions): "
                             f"{', '.join(f.name for f, s in zip(files, stems, strict=True) if s == dup)}")
    only_a, only_b = sorted(set(sa) - set(sb)), sorted(set(sb) - set(sa))
    if only_a or only_b:
        parts = []
        for folder, only in ((a_dir, only_a), (b_dir, only_b)):
            if only:
                parts.append(f"only in {folder}: {', '.join(only[:10])}" + (f" (+{len(only) - 10} more)" if len(only) > 10 else ""))
        raise InputError(f"{what}: files do not match by name; " + "; ".join(parts))
    by_b = dict(zip(sb, fb, strict=True))
    return fa, [by_b[s] for s in sa], sa


def load_folder_pair(name: str, kind: str, a_dir: Path, b_dir: Path) -> DomainPair:
    """Read ``A`` and ``B`` folders; for a paired kind, match files by relative name (extension ignored)."""
    if kind == "paired-folder":
        fa, fb, na = match_by_name(a_dir, b_dir, f"dataset '{name}' (paired folders)")
        nb = list(na)
    else:
        fa, fb = list_image_files(a_dir), list_image_files(b_dir)
        na, nb = _stems(a_dir, fa), _stems(b_dir, fb)
    files_a, files_b = ImageFiles(fa, str(a_dir)), ImageFiles(fb, str(b_dir))
    sa, sb = files_a.scan(), files_b.scan()  # headers only: a file of another size fails here, named
    if kind == "paired-folder" and sa[1:] != sb[1:]:
        raise InputError(f"dataset '{name}': {a_dir} images are {sa[2]}x{sa[1]} ({fa[0].name}) but {b_dir} "
                         f"images are {sb[2]}x{sb[1]} ({fb[0].name}); paired images must have one size")
    return FolderPair(name, kind, a_dir, b_dir, files_a, files_b, na, nb, paired=kind == "paired-folder")


class DigitsPairArgs(DatasetArgs):
    split: Literal["train", "test", "all"] = Field(default="test", description="the digits split the pair is made from")


class DigitsEdgesKind(DatasetKind):
    """Paired translation world: A = Sobel edge maps of digits, B = the digits (embedded)."""

    name = "digits-edges"
    Args = DigitsPairArgs

    def load(self, name: str, args: DigitsPairArgs, resolve: Resolve) -> DomainPair:
        return load_digits_pair(name, self.name, args.split)


class DigitsStrokesKind(DigitsEdgesKind):
    """Unpaired translation world: A = thin strokes, B = thick strokes, from disjoint halves of the split."""

    name = "digits-strokes"


class FolderPairArgs(DatasetArgs):
    path: str | None = Field(default=None, description="a folder holding A/ and B/")
    a: str | None = Field(default=None, description="domain A folder (default: path/A)")
    b: str | None = Field(default=None, description="domain B folder (default: path/B)")

    @model_validator(mode="after")
    def _where(self) -> FolderPairArgs:
        if self.path is None and (self.a is None or self.b is None):
            raise ValueError("needs 'path' (holding A/ and B/) or both 'a' and 'b'")
        return self


class PairedFolderKind(DatasetKind):
    """Two folders A/ and B/ whose files pair up by name (extensions may differ)."""

    name = "paired-folder"
    Args = FolderPairArgs

    def _folders(self, args: FolderPairArgs, resolve: Resolve) -> tuple[Path, Path]:
        root = resolve(args.path) if args.path else None
        a = resolve(args.a) if args.a else root / "A"  # type: ignore[operator]
        b = resolve(args.b) if args.b else root / "B"  # type: ignore[operator]
        return a, b

    def sources(self, args: FolderPairArgs, resolve: Resolve) -> str:
        a, b = self._folders(args, resolve)
        return " + ".join(f"{p} [{'present' if p.exists() else 'MISSING'}]" for p in (a, b))

    def load(self, name: str, args: FolderPairArgs, resolve: Resolve) -> DomainPair:
        return load_folder_pair(name, self.name, *self._folders(args, resolve))


class UnpairedFolderKind(PairedFolderKind):
    """Two folders A/ and B/ of unrelated images (CycleGAN-style data)."""

    name = "unpaired-folder"

