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
from collections.abc import Sequence
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
    def new_id(spec_hash: str, shard: tuple[int, int] | None = None) -> str:
        """``<UTC time>-<suite hash>``; a shard's run folder ends in ``-s<index>of<count>``."""
        base = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + spec_hash[:8]
        return base if shard is None else f"{base}-s{shard[0]}of{shard[1]}"

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


@dataclass
class RunSet:
    """One run as table, report, compare and check read it: one run folder, or the folders of the N shards of a
    sharded run (``genbench run --shard I/N``), read together as one run."""

    paths: list[Path]
    #: each folder's manifest, in the order of ``paths``
    manifests: list[dict[str, Any]]
    #: shard indices of a sharded run that were not given (its table then lacks their pairs)
    missing: list[int] = field(default_factory=list)

    @property
    def manifest(self) -> dict[str, Any]:
        """The run's manifest (a sharded run's: its first shard's, which records the suite and the shard count)."""
        return self.manifests[0]

    @property
    def missing_shards(self) -> str:
        """``shard(s) 1, 2 of 3``: the shards of a sharded run that were not given, for messages."""
        return f"shard(s) {', '.join(map(str, self.missing))} of {self.manifest['shard']['count']}"

    @property
    def label(self) -> str:
        """The run id its rows carry: the folder's, or for shards the common id with ``-<N>shards``."""
        if len(self.paths) == 1 and not self.manifest.get("shard"):
            return str(self.manifest.get("run_id") or self.paths[0].name)
        count = self.manifest["shard"]["count"]
        return _shard_base(min(p.name for p in self.paths), count) + f"-{count}shards"

    @property
    def path(self) -> Path:
        """Where the run's own outputs go (a report, check.xml): the folder, or shard 0's (the first given)."""
        return self.paths[0]

    def rows(self) -> list[dict[str, Any]]:
        """Every row; a shard's rows carry the set's label as run_id and their per-sample files' full paths."""
        if len(self.paths) == 1 and not self.manifest.get("shard"):
            return RunDir(self.paths[0]).rows()
        out = []
        for p in self.paths:
            for r in RunDir(p).rows():
                extras = dict(r.get("extras") or {})
                if extras.get("per_sample_file"):
                    extras["per_sample_file"] = str((p / extras["per_sample_file"]).resolve())
                out.append({**r, "run_id": self.label, "extras": extras})
        # in the suite's order, as one unsharded run writes them: pair k of the suite is pair k // N of shard k % N
        order: dict[tuple[str, str], int] = {}
        for m in self.manifests:
            shard = m.get("shard") or {}
            for j, (task, model) in enumerate(shard.get("pairs") or []):
                order[(task, model)] = j * int(shard["count"]) + int(shard["index"])
        return sorted(out, key=lambda r: order.get((str(r.get("task")), str(r.get("model"))), len(order)))


def _shard_base(name: str, count: int) -> str:
    import re

    return re.sub(rf"-s\d+of{count}$", "", name)


def _manifest(path: Path) -> dict[str, Any]:
    mp = path / "manifest.json"
    try:
        return json.loads(mp.read_text(encoding="utf-8")) if mp.is_file() else {"run_id": path.name}
    except (OSError, json.JSONDecodeError):
        from bench.errors import InputError

        raise InputError(f"{mp}: unreadable manifest") from None


def open_runs(args: Sequence[str | os.PathLike[str]]) -> list[RunSet]:
    """The runs named on a command line. Each argument is a run folder, several folders joined by commas
    (``A1,A2``), or a folder holding run folders (``results/<suite>/`` of a job array): shard folders among them
    (manifest ``shard``) are grouped into one run per suite hash and shard count; a shard given twice, or shards
    of suites with different hashes given together, are refused (they cannot be one run)."""
    from bench.errors import InputError

    folders: list[Path] = []
    for arg in args:
        for part in str(arg).split(","):
            p = Path(part)
            if (p / "rows.jsonl").is_file():
                folders.append(p)
            elif p.is_dir() and (inner := sorted(c for c in p.iterdir() if (c / "rows.jsonl").is_file())):
                folders.extend(inner)
            else:
                raise InputError(f"{p}: not a run folder (no rows.jsonl)")
    runs: list[RunSet] = []
    groups: dict[tuple[str, int], list[tuple[Path, dict[str, Any]]]] = {}
    for p in folders:
        m = _manifest(p)
        if m.get("shard"):
            groups.setdefault((str(m.get("suite_hash")), int(m["shard"]["count"])), []).append((p, m))
        else:
            runs.append(RunSet([p], [m]))
    hashes = {h for h, _ in groups}
    if len(hashes) > 1:
        named = "; ".join(f"{g[0][0]} (suite hash {h[:12]})" for (h, _), g in groups.items())
        raise InputError(f"shards of different suites cannot be read as one run: {named}")
    for (_, count), members in groups.items():
        by_index: dict[int, Path] = {}
        for p, m in members:
            i = int(m["shard"]["index"])
            if i in by_index:
                raise InputError(f"shard {i}/{count} given twice: {by_index[i]} and {p} (two jobs of one suite? name "
                                 "the folders of one job)")
            by_index[i] = p
        manifests = {str(p): m for p, m in members}
        paths = [by_index[i] for i in sorted(by_index)]
        runs.append(RunSet(paths, [manifests[str(p)] for p in paths], [i for i in range(count) if i not in by_index]))
    return runs
