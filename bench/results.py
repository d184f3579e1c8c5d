"""Run directories: a manifest, one JSON row per model × task × metric value, tables and artifacts.

Rows are appended to ``rows.jsonl`` with one ``write`` of a whole line followed by ``fsync``, so a killed run
leaves only complete rows; ``genbench run --resume`` skips what is already there. Every other file is written to
a temporary name and renamed into place.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class Row:
    run_id: str
    suite: str
    task: str
    model: str
    dataset: str
    metric: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    backbone: str | None
    higher_is_better: bool
    unit: str
    seconds: float
    protocol: dict[str, Any] | None = None
    protocol_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=_jsonable)


def _jsonable(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results and reports are meant to be shared and served
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class RunDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.rows_file = self.path / "rows.jsonl"

    @staticmethod
    def new_id(spec_hash: str) -> str:
        return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + spec_hash[:8]

    def append(self, *rows: Row) -> None:
        """Append rows with a single ``write`` (then fsync): after a crash they are all there or none is."""
        self.path.mkdir(parents=True, exist_ok=True)
        line = "".join(r.to_json() + "\n" for r in rows).encode()
        fd = os.open(self.rows_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def repair(self) -> int:
        """Cut a torn last line left by a crash mid-write (no newline at the end); returns bytes removed.

        Without this, the next append would glue its first row onto the fragment and both would be lost.
        """
        if not self.rows_file.exists():
            return 0
        data = self.rows_file.read_bytes()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        with open(self.rows_file, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        return len(data) - keep

    def rows(self) -> list[dict[str, Any]]:
        if not self.rows_file.exists():
            return []
        out = []
        for line in self.rows_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a torn last line from a crash: ignored, the value is recomputed on resume
        return out

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))


def git_sha(cwd: str | os.PathLike[str] | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
        sha = out.stdout.strip()
        if out.returncode != 0 or not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def _installed_versions() -> tuple[tuple[str, str], ...]:
    """Read once per process: installed versions do not change under a running genbench (~25 ms a read)."""
    names = ["genbench", "torch", "torchvision", "torch-fidelity", "clean-fid", "lpips", "numpy", "scipy",
             "scikit-learn", "pandas", "pydantic", "open_clip_torch", "pycocoevalcap", "Pillow"]
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return tuple(out.items())


def package_versions() -> dict[str, str]:
    return dict(_installed_versions())


def hardware() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
        info["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return info


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), as manifests and training records name it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
