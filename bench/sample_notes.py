"""What a sample set's first pass learned about it, kept beside its cached features.

A cached call reads features and decodes nothing, so what only the pixels could show (the images' shape, which
tells a backbone the images are not of its kind; a replayed file's value range, which tells the range was declared
wrong) would vanish on the second identical call: the warning printed once, then a clean-looking number. The
notes make those flags part of the cached result: recorded under the sample set's content key when the set is
streamed, recalled when it is served from the cache. Kept in memory for the process and, with a disk cache, as a
small JSON file next to the features (``<cache>/features/notes/<key>.json``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from bench.results import atomic_write_text

_MEMORY: dict[str, dict[str, Any]] = {}


def _path(directory: Path | None, key: str) -> Path | None:
    if directory is None:
        return None
    return directory / "notes" / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.json"


def record(directory: Path | None, key: str | None, notes: dict[str, Any]) -> None:
    """Keep ``notes`` (JSON values; None values dropped) for the sample set ``key``. A disk that refuses the file
    costs only the notes of a later cached call, never this run."""
    if key is None:
        return
    notes = {k: v for k, v in notes.items() if v is not None}
    old = recall(directory, key)
    if all(old.get(k) == v for k, v in notes.items()):
        return  # nothing new (a cached call that saw nothing): the file stays as the first pass wrote it
    _MEMORY[key] = {**old, **notes}
    p = _path(directory, key)
    if p is not None:
        try:
            atomic_write_text(p, json.dumps(_MEMORY[key], sort_keys=True) + "\n")
        except OSError:
            pass


def recall(directory: Path | None, key: str | None) -> dict[str, Any]:
    """The notes recorded for ``key`` (empty when none: a set cached before notes existed)."""
    if key is None:
        return {}
    if key in _MEMORY:
        return dict(_MEMORY[key])
    p = _path(directory, key)
    try:
        data = json.loads(p.read_text(encoding="utf-8")) if p is not None and p.is_file() else {}
    except (OSError, ValueError):
        data = {}
    if isinstance(data, dict):
        _MEMORY[key] = data
        return dict(data)
    return {}


def settle(directory: Path | None, key: str | None, seen: dict[str, Any]) -> dict[str, Any]:
    """``seen`` (what this call observed: None where it observed nothing) completed from the recorded notes, and
    what it did observe recorded for the next call. The notes of this pass win over older ones."""
    record(directory, key, seen)
    old = recall(directory, key)
    return {k: seen.get(k) if seen.get(k) is not None else old.get(k) for k in {**old, **seen}}
