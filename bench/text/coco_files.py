"""COCO caption files: the annotations file (references) and a results file (one hypothesis per image).

pycocotools asserts or raises KeyError on malformed files; here every problem is an :class:`InputError` naming the
file and the offending item, so ``genbench score captions`` exits 2 with one clear line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import InputError


def _load_json(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def _caption(path: Path, where: str, item: Any) -> tuple[Any, str]:
    if not isinstance(item, dict):
        raise InputError(f"{path}: {where}: expected an object with 'image_id' and 'caption'")
    for key in ("image_id", "caption"):
        if key not in item:
            raise InputError(f"{path}: {where}: missing key '{key}'")
    cap, iid = item["caption"], item["image_id"]
    if not isinstance(iid, (int, str)) or isinstance(iid, bool):
        raise InputError(f"{path}: {where}: image_id must be an integer or a string, got {iid!r}")
    if not isinstance(cap, str):
        raise InputError(f"{path}: {where} (image_id {iid!r}): caption must be a string, got {type(cap).__name__}")
    if not cap.strip():
        raise InputError(f"{path}: {where} (image_id {iid!r}): empty caption")
    return iid, cap


def load_annotations(path: str | Path) -> dict[Any, list[str]]:
    """image id → reference captions, in the order of the file's ``images`` list (pycocotools' order)."""
    p = Path(path)
    data = _load_json(p)
    if not isinstance(data, dict) or "annotations" not in data:
        raise InputError(f"{p}: not a COCO annotations file (expected an object with 'images' and 'annotations')")
    anns = data["annotations"]
    if not isinstance(anns, list):
        raise InputError(f"{p}: 'annotations' must be a list")
    refs: dict[Any, list[str]] = {}
    images = data.get("images")
    if images is not None:
        if not isinstance(images, list):
            raise InputError(f"{p}: 'images' must be a list")
        for k, im in enumerate(images):
            if not isinstance(im, dict) or "id" not in im:
                raise InputError(f"{p}: images[{k}]: missing key 'id'")
            if im["id"] in refs:
                raise InputError(f"{p}: images[{k}]: duplicate image id {im['id']!r}")
            refs[im["id"]] = []
    for k, item in enumerate(anns):
        iid, cap = _caption(p, f"annotations[{k}]", item)
        if images is not None and iid not in refs:
            raise InputError(f"{p}: annotations[{k}]: image_id {iid!r} is not in 'images'")
        refs.setdefault(iid, []).append(cap)
    empty = [i for i, rs in refs.items() if not rs]
    if empty:
        raise InputError(f"{p}: image id {empty[0]!r} has no reference caption"
                         + (f" (and {len(empty) - 1} more images)" if len(empty) > 1 else ""))
    if not refs:
        raise InputError(f"{p}: no annotations")
    return refs


def load_results(path: str | Path, refs: dict[Any, list[str]]) -> dict[Any, str]:
    """image id → the hypothesis, checked against ``refs``: known ids only, exactly one caption per image."""
    p = Path(path)
    data = _load_json(p)
    if not isinstance(data, list):
        raise InputError(f"{p}: not a COCO results file (expected a list of {{'image_id', 'caption'}})")
    if not data:
        raise InputError(f"{p}: no results")
    hyps: dict[Any, str] = {}
    for k, item in enumerate(data):
        iid, cap = _caption(p, f"item [{k}]", item)
        if iid not in refs:
            raise InputError(f"{p}: item [{k}]: image_id {iid!r} is not in the annotations")
        if iid in hyps:
            raise InputError(f"{p}: item [{k}]: second caption for image_id {iid!r} "
                             f"(exactly one hypothesis per image)")
        hyps[iid] = cap
    return hyps
