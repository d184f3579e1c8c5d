"""Reference statistics: Gaussian fits (mu, sigma) of a real set's features, stored as named, hashed references.

Why: FID against a large real set (CIFAR-10 train, FFHQ, ImageNet) needs only the mean and covariance of its
features, and the community publishes exactly those files. But a statistics file is meaningless without the
protocol that made it (backbone, weights, resize): clean-fid, torch-fidelity and pytorch-fid all write bare
``mu``/``sigma`` arrays. So every reference genbench writes has a JSON sidecar with its protocol record, and a
reference is refused (:class:`ProtocolMismatchError`) under any other protocol.

File formats (read and written with the same keys and containers as the tools themselves):

=================  ============================================  =============================================
format             container                                     written by
=================  ============================================  =============================================
``npz``            ``np.savez_compressed(mu=..., sigma=...)``     clean-fid ``make_custom_stats``, pytorch-fid
                                                                 ``save_fid_stats``, genbench
``torch-fidelity``  ``torch.save({"mu": ndarray, "sigma": ...})``  torch-fidelity's statistics cache
                   (``.pt``; read with ``weights_only=True``)    (``$TORCH_HOME/fidelity_cache/*-stat-fid-*.pt``)
=================  ============================================  =============================================

Named references live in ``$GENBENCH_CACHE/refs/NAME.npz`` + ``NAME.json``; wherever a statistics path is
accepted, a bare name is looked up there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from bench.data.base import DatasetArgs, DatasetKind, Resolve
from bench.errors import ConfigError, InputError, ProtocolMismatchError, did_you_mean
from bench.weights import cache_root

SIDECAR_FORMAT = "genbench-stats/1"
FORMATS = ("npz", "torch-fidelity")
#: protocol fields a statistics reference must share with the features it is compared with
PROTOCOL_KEYS = ("name", "backbone", "weights_sha256", "preprocessing", "layer")


def refs_dir() -> Path:
    return cache_root() / "refs"


@dataclass
class RefStats:
    """A loaded statistics reference. ``protocol`` holds :data:`PROTOCOL_KEYS`; a value of None means "not
    recorded" (an imported file whose weights hash is unknown) and is then not compared."""

    name: str
    mu: np.ndarray
    sigma: np.ndarray
    n: int | None
    protocol: dict[str, Any]
    sha256: str
    path: Path

    @property
    def id(self) -> str:
        """What result rows record as the reference: name and content hash (never a machine-local path)."""
        return f"stats:{self.name}@{self.sha256[:12]}"


# ----------------------------------------------------------------------------------------- files


def stats_sha256(mu: np.ndarray, sigma: np.ndarray) -> str:
    """Content hash of the statistics (float64 bytes), independent of the container and its compression."""
    h = hashlib.sha256()
    for a in (mu, sigma):
        a = np.ascontiguousarray(a, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def read_stats_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` from an ``.npz`` (clean-fid, pytorch-fid, genbench) or a torch-fidelity ``.pt``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: statistics file does not exist")
    try:
        if p.suffix == ".pt":
            import torch
            from torch.serialization import safe_globals

            # torch-fidelity pickles a dict of numpy arrays; allow exactly the numpy types that needs, nothing else
            allowed = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, *{type(np.dtype(t)) for t in ("f4", "f8")}]  # type: ignore[attr-defined]
            with safe_globals(allowed):
                d = torch.load(p, map_location="cpu", weights_only=True)
            mu, sigma = d["mu"], d["sigma"]
        else:
            with np.load(p, allow_pickle=False) as z:
                if "mu" not in z.files or "sigma" not in z.files:
                    raise InputError(f"{p}: not a statistics file (keys {', '.join(z.files)}; expected mu and sigma)")
                mu, sigma = z["mu"], z["sigma"]
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{p}: cannot read statistics ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise InputError(f"{p}: mu {mu.shape} and sigma {sigma.shape} are not a d-vector and a d x d matrix")
    return mu, sigma


def write_stats_file(path: str | os.PathLike[str], mu: np.ndarray, sigma: np.ndarray, fmt: str = "npz") -> Path:
    """Write in a tool's own format, atomically. ``npz`` keeps the arrays' dtype (float64 from genbench)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown statistics format '{fmt}'{did_you_mean(fmt, FORMATS)}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            if fmt == "npz":
                np.savez_compressed(f, mu=mu, sigma=sigma)
            else:
                import torch

                torch.save({"mu": mu, "sigma": sigma}, f)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def is_stats_file(path: Path) -> bool:
    """An ``.npz`` holding ``mu`` and ``sigma`` (as opposed to an ``.npz`` of images)."""
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as z:
            return "mu" in z.files and "sigma" in z.files
    except Exception:
        return False


def find_reference(spec: str) -> Path | None:
    """The statistics file ``spec`` names: an existing ``.npz``/``.pt`` path, or a named reference."""
    p = Path(spec).expanduser()
    if p.is_file() and p.suffix in (".npz", ".pt"):
        return p
    if "/" not in spec and os.sep not in spec and not p.suffix:
        named = refs_dir() / f"{spec}.npz"
        if named.is_file():
            return named
    return None


def list_references() -> list[dict[str, Any]]:
    """Sidecars of every named reference in the cache, sorted by name."""
    out = []
    for side in sorted(refs_dir().glob("*.json")):
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append({**meta, "path": str(side.with_suffix(".npz"))})
    return out


# ----------------------------------------------------------------------------------------- protocols


def backbone_protocol(backbone: Any) -> dict[str, Any]:
    """The protocol record of a loaded backbone's distribution layer (what a built reference records)."""
    from bench.protocol import preset_for_backbone

    d = backbone.describe()
    return {"name": preset_for_backbone(d["backbone"]), "backbone": d["backbone"], "weights_sha256": d["weights_sha256"],
            "preprocessing": d["preprocessing"], "layer": backbone.default_layer}


def declared_protocol(preset: str) -> dict[str, Any]:
    """What a user declares for a tool's bare statistics file: the preset, its backbone and preprocessing, and
    the published weights sha256 where one is pinned (the tools' statistics were made with the published file)."""
    from bench.backbones import get_backbone
    from bench.protocol import get_preset

    p = get_preset(preset)
    b = get_backbone(p.backbone)
    return {"name": p.name, "backbone": p.backbone, "weights_sha256": b.published_weights_sha256(),
            "preprocessing": b.preprocessing(), "layer": b.default_layer}


def compare_protocols(ref: dict[str, Any], ours: dict[str, Any], what: str) -> None:
    """Refuse when a recorded field differs from ours. Fields the reference did not record (None) are skipped."""
    diff = [k for k in PROTOCOL_KEYS if ref.get(k) is not None and ours.get(k) is not None and ref[k] != ours[k]]
    if diff:
        from bench.protocol import _short

        parts = ", ".join(f"{k}: {_short(ref.get(k))} (reference) vs {_short(ours.get(k))}" for k in diff)
        raise ProtocolMismatchError(f"{what} was computed under a different protocol ({parts})")


def peek_protocol(spec: str, declared: str | None = None) -> dict[str, Any]:
    """The protocol of a statistics reference from its sidecar (or the declared preset), without reading arrays."""
    path = find_reference(spec)
    if path is None:
        names = [Path(m["path"]).stem for m in list_references()]
        raise InputError(f"'{spec}': no such statistics file (.npz/.pt) or named reference{did_you_mean(spec, names) if names else ''}"
                         f" (named references live in {refs_dir()}; build one with `genbench ref build`)")
    side = sidecar_path(path)
    if side.is_file():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
            proto = dict(meta["protocol"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{side}: not a genbench statistics sidecar ({exc})") from None
        if declared is not None and proto.get("name") != declared:
            raise ProtocolMismatchError(f"{path}: declared protocol '{declared}' but its sidecar {side.name} records "
                                        f"'{proto.get('name')}' (backbone {proto.get('backbone')})")
        return proto
    if declared is None:
        raise ConfigError(f"{path}: statistics without a sidecar {side.name} recording their protocol; declare it "
                          "(`protocol: tf-compat` in the dataset, or --protocol) or import it with `genbench ref import`")
    return declared_protocol(declared)


def load_reference(spec: str, declared: str | None = None) -> RefStats:
    """Read a statistics reference (file path or name) with its protocol and sample count."""
    proto = peek_protocol(spec, declared)
    path = find_reference(spec)
    assert path is not None
    mu, sigma = read_stats_file(path)
    side = sidecar_path(path)
    meta: dict[str, Any] = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    sha = stats_sha256(mu, sigma)
    if meta.get("stats_sha256") not in (None, sha):
        raise InputError(f"{path}: statistics do not match the sha256 recorded in {side.name}; the file was changed")
    name = meta.get("name") or path.stem
    return RefStats(name, mu, sigma, meta.get("n"), proto, sha, path)


def write_reference(path: Path, name: str, mu: np.ndarray, sigma: np.ndarray, n: int | None, protocol: dict[str, Any],
                    source: dict[str, Any], fmt: str = "npz") -> Path:
    """Statistics in a tool's format plus our sidecar (protocol, n, content hash, provenance)."""
    write_stats_file(path, mu, sigma, fmt)
    meta = {"format": SIDECAR_FORMAT, "name": name, "n": n, "protocol": protocol, "stats_sha256": stats_sha256(mu, sigma),
            "dim": int(mu.shape[0]), "source": source, "created_unix": round(time.time(), 3)}
    from bench.results import atomic_write_text

    atomic_write_text(sidecar_path(path), json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return path


def default_ref_path(name: str, out: str | None) -> Path:
    if out:
        return Path(out).expanduser()
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"reference name '{name}' must be a plain name (it becomes {refs_dir()}/NAME.npz)")
    return refs_dir() / f"{name}.npz"


def build_reference(name: str, source: str, preset: str, *, weights: str | None = None, out: str | None = None,
                    fmt: str = "npz", progress: bool = True) -> tuple[Path, RefStats]:
    """Features of a folder / image ``.npz`` under ``preset``, their Gaussian fit, written with a sidecar."""
    from bench.backbones import get_backbone
    from bench.features import FeatureStore
    from bench.images import ArrayFile, ImageFiles, list_image_files
    from bench.metrics.frechet import gaussian_stats
    from bench.protocol import get_preset

    p = get_preset(preset)
    src = Path(source).expanduser()
    files: ImageFiles | ArrayFile
    if src.is_dir():
        files = ImageFiles(list_image_files(src), str(src))
    elif src.suffix in (".npz", ".npy") and src.is_file():
        files = ArrayFile(src)
    else:
        raise InputError(f"{src}: not a folder of images or an .npz/.npy of images")
    backbone = get_backbone(p.backbone, weights=weights)
    for msg in backbone.check_weights():
        raise ConfigError(msg)
    # streamed from the files (50,000 FFHQ images are never in memory), keyed by the files' digest
    feats = FeatureStore("default", progress=progress).get_stream(files.digest(), lambda start, stop: files.batches(256, start, stop), backbone,
                                                                  label=f"[{name}]", total=len(files))
    st = gaussian_stats(feats[backbone.default_layer])
    path = default_ref_path(name, out)
    proto = backbone_protocol(backbone)
    write_reference(path, name, st.mu, st.sigma, st.n, proto, {"tool": "genbench", "from": str(src)}, fmt)
    return path, RefStats(name, st.mu, st.sigma, st.n, proto, stats_sha256(st.mu, st.sigma), path)


def import_reference(name: str, file: str, preset: str, *, n: int | None = None, tool: str = "",
                     out: str | None = None) -> Path:
    """A tool's bare statistics file registered as a named reference under a declared protocol."""
    mu, sigma = read_stats_file(file)
    path = default_ref_path(name, out)
    return write_reference(path, name, mu, sigma, n, declared_protocol(preset),
                           {"tool": tool or "unknown", "from": str(Path(file).expanduser().resolve())})


class StatsArgs(DatasetArgs):
    path: str | None = Field(default=None, description="an .npz/.pt statistics file (mu, sigma), relative to the suite")
    ref: str | None = Field(default=None, description="a named reference ($GENBENCH_CACHE/refs/NAME.npz)")
    protocol: str | None = Field(default=None, description="the protocol preset the statistics were made under "
                                 "(required for a tool's bare .npz without a genbench sidecar)")

    @model_validator(mode="after")
    def _one_source(self) -> StatsArgs:
        if not (self.path or self.ref):
            raise ValueError("kind 'stats' needs 'path' (an .npz/.pt statistics file) or 'ref' (a named reference)")
        return self


class StatsKind(DatasetKind):
    """A statistics-only reference (a Gaussian fit: mu, sigma) with the protocol it was made under: usable by FID,
    refused by metrics that need reference features, and by tasks whose backbone differs from its protocol's."""

    name = "stats"
    Args = StatsArgs

    @staticmethod
    def _spec(args: StatsArgs, resolve: Resolve) -> str:
        return str(resolve(args.path)) if args.path else str(args.ref)

    def statistics_protocol(self, args: StatsArgs, resolve: Resolve) -> dict[str, Any]:
        spec = self._spec(args, resolve)
        if find_reference(spec) is None and args.protocol is not None:
            # data, like a folder, need not exist to validate; the declared protocol is still checked
            return declared_protocol(args.protocol)
        return peek_protocol(spec, args.protocol)

    def sources(self, args: StatsArgs, resolve: Resolve) -> str:
        if not args.path:
            return f"named reference '{args.ref}'"
        p = resolve(args.path)
        return f"{p} [{'present' if p.exists() else 'MISSING: provide it; genbench downloads no datasets of this kind'}]"

    def load(self, name: str, args: StatsArgs, resolve: Resolve) -> RefStats:
        return load_reference(self._spec(args, resolve), args.protocol)


def stored_statistics(dataset: Any, backbone: Any) -> tuple[dict[str, Any], str] | None:
    """The Gaussian fits an ADM reference batch stores beside its images, by layer, and their digest.

    ADM's evaluator (guided-diffusion ``evaluations/evaluator.py``, ``read_statistics``) uses a reference batch's
    ``mu``/``sigma`` (pool_3) and ``mu_s``/``sigma_s`` (spatial) when the ``.npz`` has them and reads its images only
    for precision and recall; the published ImageNet batches' statistics come from more images than the batch holds,
    so recomputing them from ``arr_0`` would give other numbers. A backbone declares which arrays hold which of its
    layers (``stored_statistics``); None when it declares none or the file holds none of them."""
    from bench.images import ArrayFile
    from bench.metrics.frechet import GaussianStats

    keys: dict[str, tuple[str, str]] | None = getattr(backbone, "stored_statistics", None)
    files = getattr(dataset, "files", None)
    if not keys or not isinstance(files, ArrayFile) or files.key is None:
        return None
    out: dict[str, Any] = {}
    digest = hashlib.sha256()
    try:
        with np.load(files.path, allow_pickle=False) as z:
            for layer, (m, s) in sorted(keys.items()):
                if m not in z.files or s not in z.files:
                    continue
                mu, sigma = np.asarray(z[m], np.float64), np.asarray(z[s], np.float64)
                if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
                    raise InputError(f"{files.path}: '{m}' and '{s}' must be a vector and its square covariance "
                                     f"(shapes {mu.shape} and {sigma.shape})")
                out[layer] = GaussianStats(mu, sigma, 0)
                digest.update(f"{layer}:{stats_sha256(mu, sigma)}".encode())
    except (OSError, ValueError) as exc:
        raise InputError(f"{files.path}: cannot read its statistics ({exc.__class__.__name__}: {exc})") from None
    return (out, digest.hexdigest()[:12]) if out else None
