"""Where weights files come from: an explicit path, then the cache directory, then a verified download.

Offline, a missing file fails before any sampling with the URL and the exact path to place the file. A file in
the cache must match its recorded sha256; a file given by explicit path is hashed and that hash is what the
results record (it may be a fine-tuned or test file, so it is not required to match the published one).

An *executable* weights file (TorchScript: ``torch.jit.load`` runs code stored in the file) is different: loading
one is running a program, so only the published file, matched by its pinned sha256, ever loads, whether it was found
in the cache, in torch.hub's folder or given by path. A file the user vouches for as code loads only when its path is
named in ``$GENBENCH_TRUST_CODE`` (paths separated by ``os.pathsep``), the way a ``python`` model target is code the
user names.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.errors import WeightsError

ENV_CACHE = "GENBENCH_CACHE"
ENV_OFFLINE = "GENBENCH_OFFLINE"
ENV_TRUST_CODE = "GENBENCH_TRUST_CODE"


def cache_root() -> Path:
    """``$GENBENCH_CACHE`` or ``~/.cache/genbench``."""
    env = os.environ.get(ENV_CACHE)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genbench"


def weights_dir() -> Path:
    return cache_root() / "weights"


_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so a run hashes each file once."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
    return _HASH_MEMO[key]


@dataclass(frozen=True)
class WeightsFile:
    """One weights file a backbone needs: its published name, URL and sha256."""

    name: str
    filename: str
    url: str | None
    #: published sha256; None where no trustworthy published value is known yet (then the file's own hash is
    #: recorded in every result, and ``genbench weights verify`` reports it as unpinned)
    sha256: str | None
    size: int | None = None
    used_by: str = ""
    backbones: tuple[str, ...] = ()
    #: where the reference library itself looks for this file (documentation for users copying files around)
    library_paths: tuple[str, ...] = ()
    #: leading hex digits of the sha256 where only those are published (torchvision's ``name-<8 hex>.pth``)
    sha256_prefix: str | None = None
    #: loading the file runs code stored in it (a TorchScript archive): only the pinned file loads (module doc)
    executable: bool = False
    #: other names the same bytes have in other libraries' caches (pytorch-fid's ``pt_inception-...pth`` for
    #: torch-fidelity's Inception): found there too, after the same hash check
    aliases: tuple[str, ...] = ()

    def hash_ok(self, digest: str) -> bool:
        """Whether ``digest`` matches what is published: the full sha256, else its published prefix."""
        if self.sha256 is not None:
            return digest == self.sha256
        return self.sha256_prefix is None or digest.startswith(self.sha256_prefix)

    def cache_path(self) -> Path:
        return weights_dir() / self.filename


@dataclass(frozen=True)
class ResolvedWeights:
    path: Path
    sha256: str
    source: str  # "explicit" | "cache" | "download" | "bundled"


def missing_message(spec: WeightsFile) -> str:
    url = spec.url or "(no public URL)"
    sha = (f"sha256 {spec.sha256[:16]}..." if spec.sha256 else
           f"sha256 prefix {spec.sha256_prefix}" if spec.sha256_prefix else "sha256 not pinned")
    return (
        f"weights '{spec.name}' not found: download {url} ({sha}) and place it at "
        f"{spec.cache_path()}, or pass its path explicitly (run `genbench weights fetch {spec.name}` where there is a network)"
    )


def trusted_as_code(path: str | os.PathLike[str]) -> bool:
    """Whether the user named ``path`` as code they vouch for (``$GENBENCH_TRUST_CODE``, os.pathsep-separated)."""
    named = [q for q in os.environ.get(ENV_TRUST_CODE, "").split(os.pathsep) if q]
    real = os.path.realpath(path)
    return any(os.path.realpath(os.path.expanduser(q)) == real for q in named)


def check_executable(spec: WeightsFile, path: Path, digest: str) -> None:
    """Refuse an executable file (TorchScript) that is not the pinned published one, unless named as code."""
    if not spec.executable or (spec.sha256 is not None and digest == spec.sha256) or trusted_as_code(path):
        return
    pinned = f"the published sha256 {spec.sha256[:16]}..." if spec.sha256 else "no pinned sha256"
    raise WeightsError(
        f"{path}: '{spec.name}' is a TorchScript file, and loading one runs code stored in it; its sha256 "
        f"{digest[:16]}... is not {pinned}, so it is not loaded (to run a file you vouch for as code, name it in "
        f"${ENV_TRUST_CODE})")


def resolve(spec: WeightsFile, explicit: str | os.PathLike[str] | None = None, *, download: bool | None = None) -> ResolvedWeights:
    """Find ``spec`` on disk (or download it), verifying sha256 where it is known to be the published file (always,
    for an executable file: :func:`check_executable`)."""
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise WeightsError(f"{p}: weights file for '{spec.name}' does not exist")
        digest = sha256_file(p)
        check_executable(spec, p, digest)
        return ResolvedWeights(p, digest, "explicit")
    cached = spec.cache_path()
    if cached.is_file():
        digest = sha256_file(cached)
        check_executable(spec, cached, digest)
        if not spec.hash_ok(digest):
            raise WeightsError(
                f"{cached}: sha256 {digest[:16]}... does not match the published {(spec.sha256 or spec.sha256_prefix or '')[:16]}... "
                f"for '{spec.name}'; delete the file and fetch it again"
            )
        return ResolvedWeights(cached, digest, "cache")
    found = library_path(spec)
    if found is not None:
        digest = sha256_file(found[0])
        check_executable(spec, found[0], digest)
        return ResolvedWeights(found[0], digest, found[1])
    if download is None:
        download = os.environ.get(ENV_OFFLINE, "") not in ("1", "true", "yes")
    if not download or spec.url is None:
        raise WeightsError(missing_message(spec))
    fetch(spec)
    digest = sha256_file(cached)
    check_executable(spec, cached, digest)
    return ResolvedWeights(cached, digest, "download")


def fetch(spec: WeightsFile, *, progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``spec`` into the cache with a progress bar and sha256 check; atomic (temp file + rename)."""
    from tqdm import tqdm

    target = spec.cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.url is None:
        raise WeightsError(missing_message(spec))
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(spec.url, timeout=timeout)  # noqa: S310 (fixed https URLs)
            except OSError as exc:
                raise WeightsError(f"cannot download '{spec.name}' ({exc}). " + missing_message(spec)) from None
            total = int(resp.headers.get("Content-Length") or 0) or spec.size
            with resp, tqdm(total=total, unit="B", unit_scale=True, desc=spec.filename, disable=not progress) as bar:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
        if not spec.hash_ok(h.hexdigest()):
            raise WeightsError(f"downloaded '{spec.name}' from {spec.url} has sha256 {h.hexdigest()[:16]}..., expected {(spec.sha256 or '')[:16]}...")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def install_file(src: str | os.PathLike[str], spec: WeightsFile) -> Path:
    """Copy a file obtained elsewhere into the cache after checking its sha256."""
    digest = sha256_file(src)
    check_executable(spec, Path(src), digest)
    if spec.sha256 is not None and digest != spec.sha256:
        raise WeightsError(f"{src}: sha256 {digest[:16]}... is not the published {(spec.sha256 or '')[:16]}... for '{spec.name}'")
    target = spec.cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    return target


def library_candidates(spec: WeightsFile) -> list[tuple[Path, str]]:
    """Where other tools' users already have this file, with a source label: torch.hub's checkpoint folder
    (``$TORCH_HOME/hub/checkpoints``: torch-fidelity, torchmetrics, torchvision, lpips, pytorch-fid; under the
    file's name and its aliases) and clean-fid's download folder (the system temporary folder)."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch")
    hub = Path(home) / "hub" / "checkpoints"
    return [(hub / n, "torch-hub") for n in (spec.filename, *spec.aliases)] + \
        [(Path(tempfile.gettempdir()) / n, "clean-fid") for n in (spec.filename, *spec.aliases)]


def library_path(spec: WeightsFile) -> tuple[Path, str] | None:
    """The first of :func:`library_candidates` holding the published file (its sha256 checked), with its source,
    or None: a machine that already has the weights from those libraries does not download or copy them again."""
    if not (spec.sha256 or spec.sha256_prefix):
        return None  # a file whose hash nothing pins could be anything under that name
    for p, source in library_candidates(spec):
        if p.is_file() and spec.hash_ok(sha256_file(p)):
            return p, source
    return None


def torch_hub_path(spec: WeightsFile) -> Path | None:
    """The verified file in another library's cache (:func:`library_path`), or None."""
    found = library_path(spec)
    return found[0] if found is not None else None


def is_present(spec: WeightsFile, explicit: str | os.PathLike[str] | None = None) -> bool:
    """Whether :func:`resolve` would find the file without downloading (used by ``check_weights``)."""
    if explicit is not None:
        return Path(explicit).expanduser().is_file()
    return spec.cache_path().is_file() or torch_hub_path(spec) is not None


def verify(spec: WeightsFile) -> tuple[bool, str]:
    """Re-hash the cached file (no memo: this is the point of verify). ``(ok, message)``."""
    p = spec.cache_path()
    if not p.is_file():
        return False, f"{spec.name}: missing ({p})"
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if spec.sha256 is None and spec.sha256_prefix is not None:
        if not digest.startswith(spec.sha256_prefix):
            return False, f"{spec.name}: sha256 MISMATCH at {p}: {digest} does not start with published {spec.sha256_prefix}"
        return True, f"{spec.name}: ok, sha256 prefix {spec.sha256_prefix} ({p})"
    if spec.sha256 is None:
        return True, f"{spec.name}: present, sha256 {digest} (no published sha256 pinned; recorded as is)"
    if digest != spec.sha256:
        return False, f"{spec.name}: sha256 MISMATCH at {p}: {digest} != published {spec.sha256}"
    return True, f"{spec.name}: ok ({p})"
