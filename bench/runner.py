"""Runs a plan: for each task, each model goes through its task kind (bench.tasks); rows land in the run folder.

A problem with one model (bad files, a crashing factory) is recorded and the run goes on with the others; the
run then exits with code 2 and keeps every result computed (the suite's ``on_error`` can stop it earlier;
``timeout_s`` bounds each model call). ``resume`` skips the (task, model) pairs whose rows are all present and
sound (bench.results.RunDir.keep_complete), so a killed run continues where it stopped. The run folder is locked
while a run writes it; SIGINT/SIGTERM leave its manifest ``interrupted`` (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import __version__
from bench.adapters import AdapterContext
from bench.distributed import RanksLostError, current
from bench.errors import ConfigError, GenbenchError, ProtocolMismatchError, RunInterrupted
from bench.features import FeatureStore
from bench.isolate import SuiteDatasets
from bench.metrics.base import MetricValue
from bench.plan import Plan
from bench.results import Row, RunDir, git_sha, hardware, package_versions
from bench.runtime import device_record
from bench.selftest import manifest_record as selftest_manifest
from bench.suite import contained_output_dir
from bench.tasks import TaskPlan
from bench.tasks.context import RunContext, SampleSets


def shard_pairs(tasks: list[TaskPlan], index: int, count: int) -> list[tuple[str, str]]:
    """The (task, model) pairs shard ``index`` of ``count`` computes: the suite's pairs in order (tasks as listed,
    each task's models as listed), dealt round-robin, so every pair is in exactly one shard and the heavy tasks
    spread over the shards. Depends on the suite alone: every job of an array computes the same split."""
    pairs = [(parts[0].name, m) for parts in task_parts(tasks) for m in parts[0].models]
    return [p for k, p in enumerate(pairs) if k % count == index]


def task_parts(tasks: list[TaskPlan]) -> list[list[TaskPlan]]:
    """The plan's tasks grouped into suite tasks: a task whose metrics read several backbones has one part each."""
    groups: list[list[TaskPlan]] = []
    for t in tasks:
        if groups and groups[-1][0].index == t.index:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


@dataclass
class RunOutcome:
    run_dir: RunDir
    rows: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)
    markdown: str = ""


def unavailable_models(plan: Plan) -> dict[str, str]:
    """Models that cannot be built here now (offline and not cached: ``Adapter.unavailable``), with the line
    that says why: each is recorded as failed at once, and a task none of whose models is left is not started
    (no reference loaded for nothing)."""
    from bench.adapters.base import ADAPTERS

    out: dict[str, str] = {}
    suite = plan.loaded.suite
    for name in dict.fromkeys(m for t in plan.tasks for m in t.models):
        spec = suite.models[name]
        if spec.adapter in ADAPTERS:
            cls = ADAPTERS.get(spec.adapter)
            why = cls.unavailable(cls.Args.model_validate(spec.args), plan.loaded.resolve_path)
            if why is not None:
                out[name] = f"{plan.loaded.where('models', name, 'args', *why[0])}: {why[1]}"
    return out


def task_policy(suite: Any, task: str) -> tuple[Any, float | None]:
    """(on_error, timeout_s) of a suite task: its own, else the suite's."""
    spec = next((t for t in suite.tasks if t.name == task), None)
    on_error = spec.on_error if spec is not None and spec.on_error is not None else suite.on_error
    timeout = spec.timeout_s if spec is not None and spec.timeout_s is not None else suite.timeout_s
    return on_error, timeout


def stops(policy: Any, failures: int) -> bool:
    """Whether a run stops after its ``failures``-th failure under ``on_error`` ``policy``: ``continue`` never,
    ``fail_fast`` at once, ``{max_failures: N}`` at N+1."""
    limit = None if policy == "continue" else 0 if policy == "fail_fast" else policy.max_failures
    return limit is not None and failures > limit


class Runner:
    def __init__(self, plan: Plan, *, run_dir: RunDir | None = None, store: FeatureStore | None = None,
                 progress: bool = True, log: Any = None, shard: tuple[int, int] | None = None,
                 tables: bool = True) -> None:
        self.plan = plan
        #: write table.md / table.csv (pandas) into the run folder; False for a folder nobody keeps (one-shot
        #: ``genbench score`` without --out): the rows and manifest are still written, and pandas is not imported
        self.tables = tables
        self.suite = plan.loaded.suite
        #: (index, count): this run computes only its share of the suite's (task, model) pairs (shard_pairs)
        self.shard = shard
        self.group = current()
        main = self.group is None or self.group.main
        self.progress = progress and main
        self.store = store if store is not None else FeatureStore(progress=self.progress)
        self.log = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
        if not main:
            self.log = lambda msg: None  # rank 0 speaks for the run
        if run_dir is None:
            # relative to the working directory, like every CLI output, and resolving under it (no symlink out)
            out = contained_output_dir(self.suite.output.dir, self.suite.name)
            run_dir = RunDir(out / self.suite.name / RunDir.new_id(self.suite.spec_hash(), shard))
        #: where the run's results are (under torchrun: rank 0's folder, its name broadcast to every rank)
        self.public_dir = run_dir if self.group is None else \
            RunDir(self.group.broadcast(str(run_dir.path), "naming the run folder"))
        # under torchrun only rank 0 writes the run folder; the others write theirs to a scratch folder, removed
        self.run_dir = self.public_dir if self.group is None or self.group.main else \
            RunDir(tempfile.mkdtemp(prefix=f"genbench-rank{self.group.rank}-"))
        self._datasets = SuiteDatasets(plan.datasets, plan.loaded.resolve_path)
        self.ctx = AdapterContext(resolve_path=plan.loaded.resolve_path, datasets=self.dataset,
                                  dataset_names=tuple(self.suite.datasets), device=str(plan.device))
        #: the context of a model built in a worker process (runtime.isolate): it loads the datasets it reads itself
        self.worker_ctx = replace(self.ctx, datasets=self._datasets)  # pickled without what it loaded
        #: what the task kinds see of this run (bench.tasks.context): never the Runner itself
        self.context = RunContext(
            suite_name=self.suite.name, run_id=self.run_dir.path.name, seed=self.suite.seed, store=self.store,
            datasets=self.dataset, adapters=self._build_adapter, device=plan.device, dtype=self.suite.runtime.dtype,
            grid=self.suite.output.grid, progress=self.progress, seed_names=self.seed_name,
            timeouts=lambda task: self.policy(task)[1], artifacts_dir=self.run_dir.path,
            pass_scope=str(self.public_dir.path.resolve()), group=self.group, samples=SampleSets(plan.tasks))

    @property
    def batch_sizes(self) -> dict[tuple[str, str], int]:
        """(task, model) -> the batch size a model call was halved to after running out of memory (bench.guard)."""
        return self.context.batch_sizes

    @property
    def samples(self) -> SampleSets:
        return self.context.samples

    def _build_adapter(self, model: str) -> Any:
        from bench.adapters.base import ADAPTERS, build_adapter

        spec = self.suite.models[model]
        if self.suite.runtime.isolate == "process" and not ADAPTERS.get(spec.adapter).data_only:
            from bench.isolate import isolated_adapter

            return isolated_adapter(f"model '{model}'", spec.adapter, spec.args, self.worker_ctx)
        return build_adapter(spec.adapter, spec.args, self.ctx)

    def seed_name(self, model: str) -> str:
        """The name a model's sample seeds come from: a sweep point uses its swept model's (bench.suite
        expand_sweeps), so every point of a sweep sees the same latents and differs only by the swept argument."""
        spec = self.suite.models.get(model)
        return (spec.seed_name if spec is not None else None) or model

    def dataset(self, name: str) -> Any:
        """A suite dataset, loaded on first use by its kind (bench.data) and kept for the run."""
        return self._datasets(name)

    # ------------------------------------------------------------------------------------------------
    def manifest(self, status: str, errors: list[str], started: float) -> dict[str, Any]:
        return {
            "genbench": __version__,
            "suite": self.suite.name,
            "suite_file": str(self.plan.loaded.path),
            "suite_hash": self.suite.spec_hash(),
            "suite_spec": self.suite.model_dump(mode="json"),
            "seed": self.suite.seed,
            "run_id": self.run_dir.path.name,
            "status": status,
            "errors": errors,
            "started_unix": started,
            "seconds": round(time.time() - started, 3),
            "command": sys.argv,
            "git_sha": git_sha(Path.cwd()),
            "versions": package_versions(),
            "hardware": hardware(),
            "runtime": device_record(self.plan.device, self.suite.runtime.dtype),
            "backbones": {n: b.describe() for n, b in self.plan.backbones.items() if b.weights_sha256},
            **self._oom_record(),
            **selftest_manifest(self.plan.backbones),
            **({} if self.shard is None else {"shard": {
                "index": self.shard[0], "count": self.shard[1],
                "pairs": [list(p) for p in shard_pairs(self.plan.tasks, *self.shard)]}}),
        }

    def _oom_record(self) -> dict[str, Any]:
        """The batch sizes that fit after running out of device memory (bench.guard), when any was halved."""
        sizes = {f"{t}/{m}": n for (t, m), n in self.batch_sizes.items()}
        for name, b in self.plan.backbones.items():
            rows: int | None = getattr(b, "oom_rows", None)
            if rows:
                sizes[f"backbone {name}"] = rows
        return {"oom_batch_sizes": sizes} if sizes else {}

    def _open(self, resume: bool, started: float) -> list[tuple[str, str]]:
        """Create (or reopen, resuming) the run folder; the (task, model) pairs whose rows are all there."""
        rd = self.run_dir
        rd.path.mkdir(parents=True, exist_ok=True)
        if resume and (rd.path / "manifest.json").exists():
            old = rd.read_json("manifest.json")
            if old.get("suite_hash") != self.suite.spec_hash():
                raise ConfigError(f"{rd.path}: was run with a different suite (hash {old.get('suite_hash', '?')[:12]}); "
                                  "start a new run instead of resuming")
            was = (old["shard"]["index"], old["shard"]["count"]) if old.get("shard") else None
            if was != self.shard:
                def name(s: tuple[int, int] | None) -> str:
                    return "the whole suite" if s is None else f"shard {s[0]}/{s[1]}"
                raise ConfigError(f"{rd.path}: is a run of {name(was)}, not of {name(self.shard)}; resume it with "
                                  + ("no --shard" if was is None else f"--shard {was[0]}/{was[1]}"))
        done, damaged = rd.keep_complete()
        for msg in damaged:  # torn or garbled lines, pairs with rows missing: kept aside and recomputed
            self.log(f"warning: {msg}")
        rd.write_json("manifest.json", self.manifest("running", [], started))
        return sorted(done)

    def _unavailable_models(self) -> dict[str, str]:
        return unavailable_models(self.plan)

    def _resolve_weights(self) -> None:
        for bname, b in self.plan.backbones.items():
            try:
                b.resolve_weights()  # fails on missing weights before any sampling; the network is built on first use
            except GenbenchError as exc:
                raise GenbenchError(f"backbone '{bname}': {exc}") from None

    def run(self, resume: bool = False) -> RunOutcome:
        try:
            # rank 0 (or the only process) holds the run folder's lock; other ranks write a scratch folder
            # under torchrun SIGTERM keeps its default: torchrun sends it to stop the other ranks of a failed job,
            # and a rank waiting in a collective could not act on it (bench.distributed reports lost ranks)
            with self.run_dir.lock() if self.run_dir is self.public_dir else contextlib.nullcontext(), \
                    _terminate_as_interrupt() if self.group is None else contextlib.nullcontext():
                return self._run(resume)
        finally:
            if self.run_dir is not self.public_dir:
                shutil.rmtree(self.run_dir.path, ignore_errors=True)

    def _run(self, resume: bool) -> RunOutcome:
        started = time.time()
        rd = self.run_dir
        group = self.group
        if group is None:
            done = set(self._open(resume, started))
            self._resolve_weights()
        else:  # rank 0 opens the folder and says which pairs are done; every rank must find the weights
            done = {(t, m) for t, m in group.on_main(lambda: self._open(resume, started), "opening the run folder")}
            error = None
            try:
                self._resolve_weights()
            except GenbenchError as exc:
                error = exc
            group.agree(error, "finding the weights")
        errors: list[str] = []
        try:
            self._run_tasks(done, errors)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: finished rows are kept, the manifest says so
            self._final_manifest("interrupted", errors, started)
            raise RunInterrupted(self.public_dir.path) from None
        except BaseException as exc:  # an OS error (a full disk), lost ranks: the manifest says the run stopped
            self._final_manifest("failed", [*errors, f"stopped: {exc.__class__.__name__}: {exc}"], started)
            raise
        rows = rd.row_dicts()
        md = ""
        if self.tables:
            from bench.results import atomic_write_text
            from bench.tables import to_csv, to_markdown

            md = to_markdown(rows, list(self.suite.models))
            atomic_write_text(rd.path / "table.md", f"# {self.suite.name} — run {rd.path.name}\n\n{md}")
            atomic_write_text(rd.path / "table.csv", to_csv(rows))
        rd.write_json("manifest.json", self.manifest("failed" if errors else "complete", errors, started))
        return RunOutcome(self.public_dir, rows, errors, md)

    def _final_manifest(self, status: str, errors: list[str], started: float) -> None:
        """Best effort: the manifest of a run that stops early (on a full disk this write may fail too)."""
        try:
            self.run_dir.write_json("manifest.json", self.manifest(status, errors, started))
        except OSError as exc:
            self.log(f"warning: {self.run_dir.path / 'manifest.json'}: not updated ({exc.strerror or exc})")

    def _errors_log(self, text: str) -> str:
        """Append a traceback to the run's errors.log; where it cannot be written (a full or read-only disk) the
        traceback goes to stderr instead, and the error itself is still recorded."""
        path = self.run_dir.path / "errors.log"
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
            return f"traceback in {self.public_dir.path / 'errors.log'}"
        except OSError as exc:
            self.log(f"warning: {path}: cannot write ({exc.strerror or exc}); the traceback follows\n{text}")
            return "traceback on stderr"

    def _run_tasks(self, done: set[tuple[str, str]], errors: list[str]) -> None:
        rd = self.run_dir
        self._unavailable = self._unavailable_models()
        failures = 0
        mine = None if self.shard is None else set(shard_pairs(self.plan.tasks, *self.shard))
        for parts in task_parts(self.plan.tasks):
            task = parts[0]
            if mine is not None and not any((task.name, m) in mine for m in task.models):
                continue  # another shard's task: its reference is not even loaded here
            if all((task.name, m) in done for m in task.models):
                self.log(f"[{task.name}] every model already in {rd.path.name}, skipped (resume)")
                continue
            missing = [m for m in task.models if m in self._unavailable and (task.name, m) not in done
                       and (mine is None or (task.name, m) in mine)]
            for model in missing:  # said at once, before the task's reference is loaded
                errors.append(f"model '{model}' (task {task.name}): {self._unavailable[model]}")
                self.log(f"error: {errors[-1]}")
                failures += 1
                if self._stop(task.name, failures, errors):
                    return
            if all((task.name, m) in done or m in self._unavailable or (mine is not None and (task.name, m) not in mine)
                   for m in task.models):
                continue
            try:
                for part in parts:
                    part.kind.prepare(self.context, part)
            except ProtocolMismatchError:
                raise  # comparing across protocols is refused outright, not recorded as one failed task
            except GenbenchError as exc:
                errors.append(f"task {task.name}: reference '{task.reference}': {exc}")
                self.log(f"error: {errors[-1]}")
                failures += 1
                if self._stop(task.name, failures, errors):
                    return
                continue
            for model in task.models:
                if mine is not None and (task.name, model) not in mine:
                    continue
                if (task.name, model) in done:
                    self.log(f"[{task.name}] {model}: already in {rd.path.name}, skipped (resume)")
                    continue
                if model in self._unavailable:
                    continue  # recorded above
                try:
                    new = self._run_model(parts, model)
                except RanksLostError as exc:  # the job cannot go on: say where its finished rows are
                    raise RanksLostError(str(exc).replace("RUN_DIR", str(self.public_dir.path))) from None
                except GenbenchError as exc:
                    errors.append(f"model '{model}' (task {task.name}): {exc}")
                    self.log(f"error: {errors[-1]}")
                    remote = getattr(exc, "remote_traceback", "")
                    if remote:  # a user's model crashed on another rank: its traceback, kept like a local one
                        self._errors_log(f"model '{model}' (task {task.name}):\n{remote}\n")
                    failures += 1
                except Exception as exc:  # a user's model crashed: keep going; its traceback goes to errors.log
                    if isinstance(exc, OSError) and self._environment_error(exc):
                        if exc.filename is None:  # e.g. a PNG writer's close: the run folder is where it failed
                            exc.filename = str(self.public_dir.path)
                        raise  # the environment (a full disk): one error line from the CLI, exit 2
                    where = self._errors_log(f"model '{model}' (task {task.name}):\n{traceback.format_exc()}\n")
                    errors.append(f"model '{model}' (task {task.name}): {exc.__class__.__name__}: {exc} ({where})")
                    self.log(f"error: {errors[-1]}")
                    failures += 1
                else:
                    self.run_dir.append(*new)  # one write: resume never sees half a model
                    self.log(f"[{task.name}] {model}: " + ", ".join(
                        f"{r.metric}={r.value:.4g}" if r.value is not None else f"{r.metric}=n/a"
                        for r in new if "@" not in r.metric))  # variants (per batch size, per n) stay in the rows
                    continue
                if self._stop(task.name, failures, errors):
                    return

    def _environment_error(self, exc: OSError) -> bool:
        """Whether an OS error is the environment's, not the model's: a full or read-only disk, or any error on a
        file of the run folder."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            return True
        filename = exc.filename
        if not filename:
            return False
        try:
            return Path(str(filename)).resolve().is_relative_to(self.run_dir.path.resolve())
        except (OSError, ValueError):
            return False

    def _stop(self, task: str, failures: int, errors: list[str]) -> bool:
        """Whether the run stops after its ``failures``-th failure, by the error policy of ``task`` (its own
        ``on_error``, else the suite's): ``continue`` never, ``fail_fast`` at once, ``{max_failures: N}`` at N+1."""
        policy = self.policy(task)[0]
        if not stops(policy, failures):
            return False
        limit = 0 if policy == "fail_fast" else policy.max_failures
        errors.append(f"run stopped after {failures} failure(s) (task {task}: on_error "
                      f"{policy if isinstance(policy, str) else f'max_failures: {limit}'}); "
                      f"the rest is computed by genbench run --resume {self.public_dir.path}")
        self.log(f"error: {errors[-1]}")
        return True

    def policy(self, task: str) -> tuple[Any, float | None]:
        """(on_error, timeout_s) of a suite task: its own, else the suite's."""
        return task_policy(self.suite, task)

    def _run_model(self, parts: list[TaskPlan], model: str) -> list[Row]:
        """Every part's rows of one model; under torchrun the ranks agree on whether it failed anywhere before
        going on (a model that fails on one rank's slice fails on all, with that rank's message)."""
        if self.group is None:
            return [row for part in parts for row in part.kind.run_model(self.context, part, model)]
        error: Exception | None = None
        rows: list[Row] = []
        try:
            rows = [row for part in parts for row in part.kind.run_model(self.context, part, model)]
        except RanksLostError:
            raise
        except Exception as exc:
            error = exc
        self.group.agree(error, f"model '{model}' of task {parts[0].name}")
        return rows

    def make_row(self, task: TaskPlan, model: str, v: MetricValue, *, seconds: float,
                 protocol: dict[str, Any] | None = None, n: int | None = None, extras: dict[str, Any] | None = None) -> Row:
        """Deprecated: :meth:`bench.tasks.context.RunContext.row` (task kinds build rows through their context)."""
        return self.context.row(task, model, v, seconds=seconds, protocol=protocol, n=n, extras=extras)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Any:
    """SIGTERM (a scheduler's cancel) handled like Ctrl-C for the run's duration, so both leave the manifest
    ``interrupted`` and the rows written so far in place (main thread only: signals are delivered there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
