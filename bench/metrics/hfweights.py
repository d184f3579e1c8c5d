"""Where the text-to-image scorers' weights come from: a local folder or file, genbench's cache, or the Hugging Face
cache, recorded by sha256; offline, one line naming what to download and where to put it.

Scorers published as Hugging Face repositories (PickScore, VQAScore's models, detectors) are folders made by
``save_pretrained``; scorers published as one checkpoint file (HPSv2's, the LAION aesthetic MLP) are single files
that :mod:`bench.weights` resolves (explicit path, ``$GENBENCH_CACHE/weights``, verified download) with the
Hugging Face cache as one more place looked at before any download.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bench.errors import WeightsError
from bench.weights import ResolvedWeights, WeightsFile, resolve, sha256_file

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def is_repo_id(name: str) -> bool:
    """``owner/name`` that is not an existing path (a Hugging Face repository id)."""
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def hf_folder(name_or_path: str, what: str) -> Path:
    """A ``save_pretrained`` folder: the path itself, or the repository's snapshot in the Hugging Face cache (never
    downloaded here: a run must not fetch hundreds of MB behind the user's back)."""
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return p
    if is_repo_id(name_or_path):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(name_or_path, local_files_only=True))
        except Exception:  # noqa: BLE001 - any failure means "not in the cache"
            raise WeightsError(f"{what} '{name_or_path}' is not in the Hugging Face cache: run `hf download "
                               f"{name_or_path}` where there is a network, or pass a local folder") from None
    raise WeightsError(f"{p}: {what} folder does not exist")


def folder_sha256(folder: Path) -> str:
    """sha256 of a model folder's weights: the file's own hash when there is one weights file, else the sha256 of
    its ``name sha256`` lines in name order (sharded checkpoints)."""
    files = sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise WeightsError(f"{folder}: no weights file ({', '.join(WEIGHT_SUFFIXES)}) in the folder")
    if len(files) == 1:
        return sha256_file(files[0])
    lines = "".join(f"{f.relative_to(folder).as_posix()} {sha256_file(f)}\n" for f in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def hf_file(spec: WeightsFile, repo: str | None, filename: str, explicit: str | None) -> ResolvedWeights:
    """One checkpoint file: explicit path → genbench's cache → the Hugging Face cache (``repo``/``filename``) →
    a verified download when online; offline the error names the URL and where to place the file."""
    try:
        return resolve(spec, explicit, download=False)
    except WeightsError:
        if explicit is not None:
            raise
    if repo is not None:
        try:
            from huggingface_hub import hf_hub_download

            p = Path(hf_hub_download(repo, filename, local_files_only=True))
            digest = sha256_file(p)
            if not spec.hash_ok(digest):
                raise WeightsError(f"{p}: sha256 {digest[:16]}... is not the published one for '{spec.name}'")
            return ResolvedWeights(p, digest, "hf-cache")
        except WeightsError:
            raise
        except Exception:  # noqa: BLE001 - not in the Hugging Face cache
            pass
    return resolve(spec, None)


def folder_state(name_or_path: str, what: str) -> str:
    """One ``--dry-run`` line for a model folder: where it is read from and whether it is there."""
    try:
        where = hf_folder(name_or_path, what)
        return f"{what} {name_or_path} [present: {where}]"
    except WeightsError:
        hint = f"hf download {name_or_path}" if is_repo_id(name_or_path) else "a local folder"
        return f"{what} {name_or_path} [MISSING] ({hint})"


def file_state(spec: WeightsFile, repo: str | None, explicit: str | None) -> str:
    """One ``--dry-run`` line for a checkpoint file (explicit, genbench's cache or the Hugging Face cache)."""
    if explicit is not None:
        return f"{spec.name}: explicit file {explicit} [{'present' if Path(explicit).is_file() else 'MISSING'}]"
    if spec.cache_path().is_file():
        return f"{spec.name}: {spec.cache_path()} [present]"
    if repo is not None:
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(repo, spec.filename)
            if isinstance(hit, str):
                return f"{spec.name}: {hit} [present, Hugging Face cache]"
        except Exception:  # noqa: BLE001 - no cache
            pass
    return (f"{spec.name}: {spec.filename} [MISSING]\n      from {spec.url or '(no public URL)'}\n"
            f"      to   {spec.cache_path()}")
