"""Real captioned image sets supplied by the user: COCO captions files and Karpathy-split JSON (Flickr30k, COCO).

They cannot ship with genbench, so suites name the files and this module reports a missing or malformed one in
one line at run time (``genbench validate`` accepts the suite offline without them).

Images are decoded to RGB and brought to one tensor by a recorded rule: shorter side resized to 224 with PIL
bicubic, then centre-cropped to 224x224 (CLIP's own preprocessing, so CLIP backbones see the same pixels).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import Field

from bench.data.base import Dataset, DatasetArgs, DatasetKind, FileDataset, Resolve
from bench.errors import ConfigError, InputError
from bench.images import ImageFiles

SIDE = 224


def _image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{path}: image file does not exist")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = SIDE / min(w, h)
            im = im.resize((max(SIDE, round(w * s)), max(SIDE, round(h * s))), Image.Resampling.BICUBIC)
            w, h = im.size
            left, top = (w - SIDE) // 2, (h - SIDE) // 2
            return np.asarray(im.crop((left, top, left + SIDE, top + SIDE))).transpose(2, 0, 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot decode image ({exc})") from None


class CaptionedFiles(ImageFiles):
    """The image files of a captioned set, read batch by batch by the recorded rule (shorter side to 224 with PIL
    bicubic, centre crop 224x224), so a COCO-30k reference is never held whole. Its content key is the files' own
    digest plus the rule: no pixel is decoded to know it."""

    RULE = f"resize{SIDE}-bicubic-centrecrop"

    def scan(self) -> tuple[int, int, int]:
        if self._shape is None:
            if not self.files:
                raise InputError(f"{self.what}: no image files")
            missing = next((f for f in self.files if not Path(f).is_file()), None)
            if missing is not None:
                raise InputError(f"{missing}: image file does not exist")
            self._shape = (3, SIDE, SIDE)
        return self._shape

    def digest(self) -> str:
        if self._digest is None:
            import hashlib

            from bench.images import file_digest

            h = hashlib.sha256(f"genbench-captioned/1|{self.RULE}".encode())
            for p in self.files:
                h.update(file_digest(p).encode())
            self._digest = h.hexdigest()
        return self._digest

    def read(self, indices: Sequence[int], workers: int | None = None) -> torch.Tensor:
        self.scan()
        files = [Path(self.files[i]) for i in indices]
        if not files:
            return torch.zeros((0, 3, SIDE, SIDE), dtype=torch.uint8)
        with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
            return torch.from_numpy(np.stack(list(pool.map(_image, files))))


def load_captioned(name: str, kind: str, path: Path | None, *, split: str | None, images_dir: Path | None,
                   keep: Collection[Any] | None = None) -> Dataset:
    """A :class:`bench.data.base.FileDataset` with ``captions`` (and ``prompts`` = each image's first caption) and
    ``image_ids`` (the captions file's own ids: COCO's image ids, Karpathy's ``cocoid``/``imgid`` or file names), read
    from its files batch by batch. ``keep`` (coco-captions): only these image ids, in the file's order (the images a
    results file captions, as ``genbench score captions`` scores them)."""
    if path is None or images_dir is None:
        raise ConfigError(f"dataset '{name}': kind '{kind}' needs 'path' and 'images'")
    if not path.is_file():
        raise InputError(f"dataset '{name}': {path}: captions file does not exist (download it and point 'path' at it)")
    if not images_dir.is_dir():
        raise InputError(f"dataset '{name}': {images_dir}: image folder does not exist")
    files: list[Path] = []
    caps: list[list[str]] = []
    ids: list[Any] = []
    if kind == "coco-captions":
        from bench.text.coco_files import load_annotations

        refs = load_annotations(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        names = {im["id"]: im.get("file_name") for im in data.get("images", [])}
        for iid, rs in refs.items():
            if keep is not None and iid not in keep:
                continue
            if not names.get(iid):
                raise InputError(f"{path}: image id {iid!r} has no 'file_name' in 'images'")
            files.append(images_dir / names[iid])
            caps.append(rs)
            ids.append(iid)
    else:  # karpathy: {"images": [{"filename", "split", "sentences": [{"raw"}]}]}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            items = [im for im in data["images"] if split is None or im["split"] == split]
            for im in items:
                files.append(images_dir / im.get("filepath", "") / im["filename"])
                caps.append([s["raw"] for s in im["sentences"]])
                ids.append(im.get("cocoid", im.get("imgid", im["filename"])))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a Karpathy-split JSON ({exc.__class__.__name__}: {exc})") from None
        if not files:
            raise InputError(f"{path}: no images in split '{split}'")
    reader = CaptionedFiles(files, str(images_dir))
    reader.scan()  # every file present, before any compute
    ds = FileDataset(name, "", reader)
    ds.captions, ds.prompts, ds.image_ids = caps, [c[0] for c in caps], ids
    ds.id = f"{kind}:{path.name}:{split or 'all'}@{ds.hash[:12]}/{CaptionedFiles.RULE}"
    return ds


class CaptionedArgs(DatasetArgs):
    path: str = Field(description="the captions JSON (COCO captions_*.json, or Karpathy's dataset_*.json)")
    images: str = Field(description="the image folder the JSON's file names are relative to")
    split: str | None = Field(default=None, description="Karpathy split (train/val/test; default: all)")


class CocoCaptionsKind(DatasetKind):
    """A COCO captions file and its image folder (the user supplies both; nothing is downloaded)."""

    name = "coco-captions"
    Args = CaptionedArgs

    def sources(self, args: CaptionedArgs, resolve: Resolve) -> str:
        return " + ".join(f"{p} [{'present' if p.exists() else 'MISSING'}]" for p in (resolve(args.path), resolve(args.images)))

    def load(self, name: str, args: CaptionedArgs, resolve: Resolve) -> Dataset:
        return load_captioned(name, self.name, resolve(args.path), split=args.split, images_dir=resolve(args.images))


class KarpathyKind(CocoCaptionsKind):
    """A Karpathy-split JSON (Flickr30k, COCO) and its image folder."""

    name = "karpathy"
