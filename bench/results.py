"""Run directories: a manifest, one JSON row per model × task × metric value, tables and artifacts.

Rows are appended to ``rows.jsonl`` under an exclusive ``flock``, a (task, model)'s rows in one write (a short
write is finished or cut back) followed by ``fsync``. Each stored line carries ``_sha`` (a checksum of the rest of
the line) and ``_rows`` (how many rows its (task, model) has), so a reader validates the file line by line and
``genbench run --resume`` recomputes exactly the pairs whose rows are not all present and sound (:meth:`RunDir.scan`).
A run holds an exclusive lock on its folder (:meth:`RunDir.lock`). Every other file is written to a temporary name
and renamed into place. docs/reliability.md states these promises and how they are tested.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
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

    def to_dict(self) -> dict[str, Any]:
        """The row as one line of ``rows.jsonl`` reads back (plain JSON values)."""
        return dict(json.loads(self.to_json()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Row:
        """A row from a ``rows.jsonl`` object; keys this version does not know (a newer schema's) are dropped."""
        return cls(**{k: v for k, v in data.items() if k in _ROW_FIELDS})

    @classmethod
    def from_json(cls, line: str | bytes) -> Row:
        """A row from one line of ``rows.jsonl``."""
        return cls.from_dict(json.loads(line))

    # -- read access by key, as the rows were dicts before (RunDir.rows() returned dicts): kept for old code ----
    def __getitem__(self, key: str) -> Any:
        if key not in _ROW_FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Deprecated dict-style access: ``row.get("extras")`` is ``row.extras``."""
        return getattr(self, key) if key in _ROW_FIELDS else default

    def keys(self) -> list[str]:
        return list(_ROW_FIELDS)

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in _ROW_FIELDS]

    def __contains__(self, key: object) -> bool:
        return key in _ROW_FIELDS


_ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Row))


def _jsonable(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends (they act right after it, through the handlers that were in
    place): a second Ctrl-C while a run writes its final manifest must not leave that manifest saying ``running``.
    The handlers are swapped rather than the signals masked: a signal sent to the process may be delivered to any
    of its threads (torch's, a prefetcher's), and its Python handler then runs in the main thread all the same.
    Only the main thread can install handlers; elsewhere the block runs as it is."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    before = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        if received:
            signal.raise_signal(received[0])  # acts now, as it would have during the block


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to a temporary file and rename it into place: readers see the old file or the new one, never
    a part. Ctrl-C or SIGTERM during the few milliseconds of the write act after it (:func:`signals_deferred`)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with signals_deferred():
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


#: fields a stored line has besides the Row's: its checksum, and the number of rows of its (task, model)
CHECK_FIELD, GROUP_FIELD = "_sha", "_rows"


def _line_sha(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def encode_rows(rows: Sequence[Row]) -> bytes:
    """The stored lines of one (task, model)'s rows: each with its row count and a checksum of the rest."""
    out = []
    for r in rows:
        fields = json.loads(r.to_json())  # plain JSON values, as a reader will see them
        fields[GROUP_FIELD] = len(rows)
        out.append(json.dumps({**fields, CHECK_FIELD: _line_sha(fields)}, sort_keys=True) + "\n")
    return "".join(out).encode()


def decode_row(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """(row, "") for a sound stored line, else (None, why). A line without ``_sha`` (written by hand or by
    genbench before checksums) is accepted when it parses and has a task, model and metric."""
    try:
        fields = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "not JSON (torn or garbled)"
    if not isinstance(fields, dict):
        return None, "not a row"
    sha = fields.pop(CHECK_FIELD, None)
    if sha is not None and sha != _line_sha(fields):
        return None, "checksum mismatch (garbled)"
    if not all(isinstance(fields.get(k), str) for k in ("task", "model", "metric")):
        return None, "no task, model or metric"
    return fields, ""


@dataclass
class RowScan:
    """``rows.jsonl`` read line by line: the sound lines (with their bytes) and the damaged ones."""

    #: (line number, the line's bytes, its row)
    good: list[tuple[int, bytes, dict[str, Any]]]
    #: (line number, why it is not used)
    bad: list[tuple[int, str]]

    def complete(self) -> set[tuple[str, str]]:
        """The (task, model) pairs whose rows are all there: as many *distinct* sound rows as their ``_rows`` says
        (a pair whose rows carry no count, written before counts, is complete with any row). Rows are counted by
        content, not by line: a row deleted and another duplicated leaves the count right but the pair short."""
        got: dict[tuple[str, str], set[bytes]] = {}
        want: dict[tuple[str, str], int | None] = {}
        for _, line, r in self.good:
            pair = (r["task"], r["model"])
            got.setdefault(pair, set()).add(line.strip())
            count = r.get(GROUP_FIELD)
            want[pair] = count if isinstance(count, int) else None
        return {p for p, lines in got.items() if want[p] is None or len(lines) == want[p]}

    def duplicates(self) -> list[int]:
        """Line numbers of sound lines that repeat an earlier line byte for byte (a row stored twice)."""
        seen: set[bytes] = set()
        out = []
        for i, line, _ in self.good:
            if line.strip() in seen:
                out.append(i)
            seen.add(line.strip())
        return out


def unchecked(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row without its checksum: what a row edited by hand is written as (a stale ``_sha`` would mark the
    edited line damaged)."""
    return {k: v for k, v in row.items() if k != CHECK_FIELD}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != GROUP_FIELD}


class RunDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.rows_file = self.path / "rows.jsonl"

    @staticmethod
    def new_id(spec_hash: str, shard: tuple[int, int] | None = None) -> str:
        """``<UTC time to the microsecond>-<suite hash>-<random>``; a shard's run folder ends in
        ``-s<index>of<count>``. Two runs started in the same second (two jobs, two terminals) get their own folders;
        names still sort in the order the runs started."""
        base = (datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f") + "-" + spec_hash[:8] + "-"
                + secrets.token_hex(2))
        return base if shard is None else f"{base}-s{shard[0]}of{shard[1]}"

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run folder (``.lock``, flock) while a run writes it: a second writer (a
        resume of a folder still being written) is refused with one line instead of mixing its rows in."""
        from bench.errors import GenbenchError

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise GenbenchError(f"{self.path}: another genbench run (pid {holder}) is writing this run folder; "
                                    "wait for it to end, or start a new run") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, *rows: Row) -> None:
        """Append one (task, model)'s rows in a single write (then fsync), under an exclusive flock so several
        processes of one run can append safely. A short write is continued; a write that fails (a full disk) is
        cut back to where it started, so the file never ends in a torn line, and raised."""
        self.path.mkdir(parents=True, exist_ok=True)
        data = encode_rows(rows)
        fd = os.open(self.rows_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    if n <= 0:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.rows_file))
                    view = view[n:]
                os.fsync(fd)
            except OSError as exc:
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass
                if exc.filename is None:
                    exc.filename = str(self.rows_file)
                raise
        finally:
            os.close(fd)

    def scan(self) -> RowScan:
        """Every line of ``rows.jsonl`` checked (:func:`decode_row`); a last line without its newline is torn."""
        good: list[tuple[int, bytes, dict[str, Any]]] = []
        bad: list[tuple[int, str]] = []
        if not self.rows_file.exists():
            return RowScan(good, bad)
        data = self.rows_file.read_bytes()
        lines = data.split(b"\n")
        torn = lines.pop() if lines else b""  # the part after the last newline: empty unless torn
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row, why = decode_row(line)
            if row is None:
                bad.append((i, why))
            else:
                good.append((i, line + b"\n", row))
        if torn.strip():
            bad.append((len(lines) + 1, "torn last line (no newline)"))
        return RowScan(good, bad)

    def keep_complete(self) -> tuple[set[tuple[str, str]], list[str]]:
        """Before a resume: rewrite ``rows.jsonl`` (atomically) with only the sound rows of complete pairs, so the
        pairs to recompute leave no duplicate; the lines taken out are appended to ``rows.rejected.jsonl`` (nothing
        is thrown away). Returns the complete pairs and one message per line taken out."""
        scan = self.scan()
        done = scan.complete()
        msgs = [f"{self.rows_file}:{i}: {why}; its (task, model) is recomputed" for i, why in scan.bad]
        repeated = set(scan.duplicates())
        msgs += [f"{self.rows_file}:{i}: a repeat of an earlier line; set aside" for i in sorted(repeated)]
        dropped = [(i, line, r) for i, line, r in scan.good
                   if (r["task"], r["model"]) not in done or i in repeated]
        for pair in sorted({(r["task"], r["model"]) for _, _, r in dropped} - done):
            msgs.append(f"{self.rows_file}: task {pair[0]}, model {pair[1]}: rows incomplete; recomputed")
        if scan.bad or dropped:
            raw = self.rows_file.read_bytes().split(b"\n")
            rejected = b"".join(raw[i - 1] + b"\n" for i, _ in scan.bad) + b"".join(line for _, line, _ in dropped)
            with open(self.path / "rows.rejected.jsonl", "ab") as f:
                f.write(rejected)
            kept = b"".join(line for i, line, r in scan.good if (r["task"], r["model"]) in done and i not in repeated)
            atomic_write_text(self.rows_file, kept.decode())
        return done, msgs

    def rows(self) -> list[Row]:
        """The sound rows, typed; a damaged line is skipped with a warning naming it (``run --resume`` recomputes
        it). (Rows still answer ``row["metric"]`` as the dicts this returned before did.)"""
        return [Row.from_dict(r) for r in self.row_dicts()]

    def row_dicts(self) -> list[dict[str, Any]]:
        """The sound rows as the JSON objects of ``rows.jsonl`` (what :meth:`rows` returned before it was typed;
        the tables, reports and checks read these)."""
        scan = self.scan()
        for i, why in scan.bad:
            print(f"genbench: warning: {self.rows_file}:{i}: {why}; row skipped (genbench run --resume "
                  f"{self.path} recomputes it)", file=sys.stderr)
        repeated = set(scan.duplicates())
        for i in sorted(repeated):
            print(f"genbench: warning: {self.rows_file}:{i}: a repeat of an earlier line; row skipped",
                  file=sys.stderr)
        return [_public(r) for i, _, r in scan.good if i not in repeated]

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n")

    def read_json(self, name: str) -> Any:
        """A JSON file of the run folder; an unreadable one is one InputError naming it. ``manifest.json`` must
        hold an object (a manifest holding ``[]`` or a number is damaged, not a traceback later)."""
        from bench.errors import InputError

        path = self.path / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: unreadable ({exc.__class__.__name__}: {exc}); the file is damaged") from None
        if name == "manifest.json" and not isinstance(data, dict):
            raise InputError(f"{path}: holds a JSON {type(data).__name__}, not a manifest object; the file is damaged")
        return data

    def is_run(self) -> bool:
        """Whether the folder is a genbench run folder (it has a manifest or rows): what ``--resume`` may continue."""
        return (self.path / "manifest.json").is_file() or self.rows_file.is_file()


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
    def partial(self) -> list[str]:
        """``<folder>: <status>`` for each folder whose run did not complete (running, interrupted, failed): its
        rows are only part of the suite. Folders without a manifest status (copied rows) are not judged."""
        return [f"{p}: run {m['status']}" for p, m in zip(self.paths, self.manifests, strict=True)
                if m.get("status") not in (None, "complete")]

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

    def rows(self) -> list[Row]:
        """Every row, typed (:meth:`row_dicts`)."""
        return [Row.from_dict(r) for r in self.row_dicts()]

    def row_dicts(self) -> list[dict[str, Any]]:
        """Every row; a shard's rows carry the set's label as run_id and their per-sample files' full paths."""
        if len(self.paths) == 1 and not self.manifest.get("shard"):
            return RunDir(self.paths[0]).row_dicts()
        out = []
        for p in self.paths:
            for r in RunDir(p).row_dicts():
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
    from bench.errors import InputError

    mp = path / "manifest.json"
    try:
        m = json.loads(mp.read_text(encoding="utf-8")) if mp.is_file() else {"run_id": path.name}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(f"{mp}: unreadable manifest") from None
    if not isinstance(m, dict):
        raise InputError(f"{mp}: holds a JSON {type(m).__name__}, not a manifest object; the file is damaged")
    return m


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
