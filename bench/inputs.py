"""What a path handed to ``genbench score`` or to the Python API is: a folder of images, an ``.npz``/``.npy`` of
images, or statistics (an ``.npz`` with mu and sigma, a torch-fidelity ``.pt``, a named reference). One place for
both the command line (``bench.score``) and the in-process API (``bench.evaluation``, ``bench.api``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import InputError
from bench.images import list_image_files


def _holds_images(p: Path) -> bool:
    """Whether an ``.npz`` holds an image array besides any statistics (an ADM reference batch: arr_0, mu, ...)."""
    import zipfile

    from bench.images import NPZ_SAMPLE_KEYS

    try:
        with zipfile.ZipFile(p) as z:
            return any(f"{k}.npy" in z.namelist() for k in NPZ_SAMPLE_KEYS)
    except (zipfile.BadZipFile, OSError):
        return False


def input_source(spec: str, stored_statistics: bool = False) -> tuple[str, dict[str, Any], int]:
    """(kind, args, number of samples) for a folder, an .npz/.npy of images, or statistics (an .npz with mu and
    sigma, a torch-fidelity .pt, or a named reference): kind ``stats``, n from its sidecar (0 when unknown).
    ``stored_statistics``: the protocol reads an ``.npz`` holding both images and statistics as images with stored
    statistics (ADM reference batches), not as statistics only."""
    from bench.refstats import find_reference, is_stats_file, load_reference

    p = Path(spec).expanduser()
    batch = stored_statistics and p.suffix == ".npz" and _holds_images(p)
    stats = None if batch else find_reference(spec) if (p.suffix == ".pt" or is_stats_file(p) or not p.exists()) else None
    if stats is not None:
        side = stats.with_suffix(".json")
        n_stats = load_reference(str(stats)).n if side.is_file() else None
        return "stats", {"path": str(stats.resolve())}, int(n_stats or 0)
    if p.is_dir():
        return "folder", {"path": str(p.resolve())}, len(list_image_files(p))
    if p.suffix in (".npz", ".npy"):
        if not p.is_file():
            raise InputError(f"{p}: file does not exist")
        from bench.images import ArrayFile

        return "npz", {"path": str(p.resolve())}, len(ArrayFile(p))  # the header only, not the array
    if not p.exists():
        raise InputError(f"{p}: no such folder or file, and no named reference '{spec}' (genbench ref list)")
    raise InputError(f"{p}: not a folder of images, an .npz/.npy file or statistics")
