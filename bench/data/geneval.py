"""GenEval's prompt set as a dataset kind: its 553 prompts and their metadata (tag, include/exclude clauses).

The files are shipped (MIT, djghosh13/geneval at af4902f: ``prompts/evaluation_metadata.jsonl`` and
``evaluation/object_names.txt``, with its LICENSE) in ``bench/assets/geneval/``. The scoring rules live in
:mod:`bench.metrics.geneval`.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from bench.data.base import Dataset, DatasetArgs, DatasetKind, Resolve
from bench.errors import InputError

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "geneval"
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


@cache
def object_names() -> tuple[str, ...]:
    """GenEval's 80 COCO class names, in its detector's class order."""
    return tuple(line.strip() for line in (ASSETS / "object_names.txt").read_text().splitlines() if line.strip())


def metadata_path(path: str | Path | None = None) -> Path:
    """The metadata file ``path`` names (default: the shipped 553 prompts)."""
    return Path(path) if path is not None else ASSETS / "evaluation_metadata.jsonl"


def metadata_sha256(path: str | Path | None = None) -> str:
    """The sha256 of the metadata file: what GenEval's verdicts are keyed by, not its path."""
    from bench.weights import sha256_file

    p = metadata_path(path)
    if not p.is_file():
        raise InputError(f"{p}: GenEval metadata file does not exist")
    return sha256_file(p)


def load_metadata(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The prompts' metadata (one JSON object a line); one line naming the file and line for a bad one."""
    p = metadata_path(path)
    if not p.is_file():
        raise InputError(f"{p}: GenEval metadata file does not exist")
    out = []
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not (isinstance(row["prompt"], str) and row["tag"] and isinstance(row.get("include", []), list)):
                raise TypeError("prompt, tag or include")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{p}:{i}: not a GenEval metadata line ({exc.__class__.__name__})") from None
        out.append(row)
    return out


class GenEvalArgs(DatasetArgs):
    metadata: str | None = Field(default=None, description="GenEval metadata .jsonl (default: the shipped 553)")
    tags: list[str] | None = Field(default=None, description="only these tags (default: all six)")


class GenEvalKind(DatasetKind):
    """GenEval's 553 prompts with their metadata. A prompt set, not an image set: it declares it has no images
    (``has_images``), so ``validate`` refuses FID and every other metric that compares with the reference on it, and
    the text-to-image task reads none of it (its 8x8 grey stand-ins only give the prompts a length)."""

    name = "geneval"
    Args = GenEvalArgs
    has_images = False

    def check(self, args: GenEvalArgs, resolve: Resolve) -> list[tuple[tuple[Any, ...], str]]:  # type: ignore[override]
        bad = [t for t in args.tags or [] if t not in TAGS]
        return [(("tags",), f"unknown GenEval tag '{bad[0]}'; choose from {', '.join(TAGS)}")] if bad else []

    def load(self, name: str, args: GenEvalArgs, resolve: Resolve) -> Dataset:  # type: ignore[override]
        meta = load_metadata(resolve(args.metadata) if args.metadata else None)
        if args.tags:
            meta = [m for m in meta if m["tag"] in args.tags]
        prompts = [m["prompt"] for m in meta]
        ds = Dataset(name, "geneval", torch.full((len(meta), 3, 8, 8), 128, dtype=torch.uint8),
                     captions=[[p] for p in prompts], prompts=prompts, has_images=False)
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
        ds.id = f"geneval:prompts{len(meta)}@{digest}"
        return ds
