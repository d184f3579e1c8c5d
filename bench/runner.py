"""Runs a plan: sample each model, push every image set through each backbone once, compute metrics, write rows.

A problem with one model (bad files, a crashing factory) is recorded and the run goes on with the others; the
run then exits with code 2 and keeps every result computed. ``resume`` skips (task, model) pairs whose rows are
all present, so a killed run continues where it stopped.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bench import __version__
from bench.adapters import AdapterContext, GenerationRequest, build_adapter
from bench.data.datasets import Dataset, load_dataset
from bench.errors import ConfigError, GenbenchError, InputError
from bench.features import FeatureStore, feature_key
from bench.images import content_hash, make_grid, save_png, to_uint8
from bench.metrics.base import output_info
from bench.plan import Plan, TaskPlan
from bench.protocol import make_protocol, protocol_id
from bench.results import Row, RunDir, git_sha, hardware, package_versions
from bench.seeding import derive_seed, sample_seeds
from bench.tables import to_csv, to_markdown


@dataclass
class RunOutcome:
    run_dir: RunDir
    rows: list[dict[str, Any]]
    errors: list[str] = field(default_factory=list)
    markdown: str = ""


class Runner:
    def __init__(self, plan: Plan, *, run_dir: RunDir | None = None, store: FeatureStore | None = None,
                 progress: bool = True, log: Any = None) -> None:
        self.plan = plan
        self.suite = plan.loaded.suite
        self.progress = progress
        self.store = store if store is not None else FeatureStore(progress=progress)
        self.log = log if log is not None else (lambda msg: print(msg, file=sys.stderr))
        if run_dir is None:
            out = Path(self.suite.output.dir)  # relative to the working directory, like every CLI output
            run_dir = RunDir(out / self.suite.name / RunDir.new_id(self.suite.spec_hash()))
        self.run_dir = run_dir
        self._datasets: dict[str, Dataset] = {}
        self.ctx = AdapterContext(resolve_path=plan.loaded.resolve_path, datasets=self.dataset,
                                  dataset_names=tuple(self.suite.datasets))

    def dataset(self, name: str) -> Dataset:
        if name not in self._datasets:
            if name not in self.suite.datasets:
                raise ConfigError(f"unknown dataset '{name}'")
            d = self.suite.datasets[name]
            self._datasets[name] = load_dataset(
                name, d.kind, split=d.split, path=self.plan.loaded.resolve_path(d.path) if d.path else None,
                key=d.key, classes=d.classes)
        return self._datasets[name]

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
            "backbones": {n: b.describe() for n, b in self.plan.backbones.items() if b.weights_sha256},
        }

    def run(self, resume: bool = False) -> RunOutcome:
        started = time.time()
        rd = self.run_dir
        rd.path.mkdir(parents=True, exist_ok=True)
        if resume and (rd.path / "manifest.json").exists():
            old = rd.read_json("manifest.json")
            if old.get("suite_hash") != self.suite.spec_hash():
                raise ConfigError(f"{rd.path}: was run with a different suite (hash {old.get('suite_hash', '?')[:12]}); "
                                  "start a new run instead of resuming")
        done = {(r["task"], r["model"]) for r in rd.rows()}
        errors: list[str] = []
        rd.write_json("manifest.json", self.manifest("running", errors, started))
        for bname, b in self.plan.backbones.items():
            try:
                b.load()
            except GenbenchError as exc:
                raise GenbenchError(f"backbone '{bname}': {exc}") from None
        for task in self.plan.tasks:
            try:
                ref = self.dataset(task.reference)
                ref_feats = self.store.get(ref.images, task.backbone, label=f"[{task.reference}]", images_hash=ref.hash)
            except GenbenchError as exc:
                errors.append(f"task {task.name}: reference '{task.reference}': {exc}")
                self.log(f"error: {errors[-1]}")
                continue
            for model in task.models:
                if (task.name, model) in done:
                    self.log(f"[{task.name}] {model}: already in {rd.path.name}, skipped (resume)")
                    continue
                try:
                    self._run_model(task, model, ref, ref_feats)
                except GenbenchError as exc:
                    errors.append(f"model '{model}' (task {task.name}): {exc}")
                    self.log(f"error: {errors[-1]}")
                except Exception as exc:  # a user's model crashed: keep going, keep the traceback in the log
                    tb = traceback.format_exc(limit=-3)
                    errors.append(f"model '{model}' (task {task.name}): {exc.__class__.__name__}: {exc}")
                    self.log(f"error: {errors[-1]}\n{tb}")
        rows = rd.rows()
        order = list(self.suite.models)
        md = to_markdown(rows, order)
        from bench.results import atomic_write_text

        atomic_write_text(rd.path / "table.md", f"# {self.suite.name} — run {rd.path.name}\n\n{md}")
        atomic_write_text(rd.path / "table.csv", to_csv(rows))
        rd.write_json("manifest.json", self.manifest("failed" if errors else "complete", errors, started))
        return RunOutcome(rd, rows, errors, md)

    def _run_model(self, task: TaskPlan, model: str, ref: Dataset, ref_feats: dict[str, Any]) -> None:
        spec = self.suite.models[model]
        t0 = time.time()
        adapter = build_adapter(spec.adapter, spec.args, self.ctx)
        base_seed = derive_seed(self.suite.seed, task.name, model)
        batches = []
        with tqdm(total=task.n, desc=f"sample {model}", unit="img", disable=None if self.progress else True, leave=False) as bar:
            for start in range(0, task.n, task.batch_size):
                stop = min(task.n, start + task.batch_size)
                req = GenerationRequest(indices=range(start, stop), seeds=sample_seeds(base_seed, start, stop))
                out = adapter.generate(req)  # type: ignore[attr-defined]
                out = to_uint8(out, None, what=f"model '{model}' batch at sample {start}")
                if out.shape[0] != stop - start:
                    raise InputError(f"model '{model}': asked for {stop - start} samples at {start}, got {out.shape[0]}")
                if batches and out.shape[1:] != batches[0].shape[1:]:
                    raise InputError(f"model '{model}': batch at sample {start} has shape {tuple(out.shape[1:])}, "
                                     f"earlier batches {tuple(batches[0].shape[1:])}")
                batches.append(out)
                bar.update(out.shape[0])
        images = torch.cat(batches)
        gen_seconds = time.time() - t0
        if self.suite.output.grid:
            g = images[: self.suite.output.grid]
            scale = max(1, 64 // max(g.shape[-1], 1))
            (self.run_dir.path / "samples" / task.name).mkdir(parents=True, exist_ok=True)
            save_png(make_grid(g, ncol=8, scale=scale), self.run_dir.path / "samples" / task.name / f"{model}.png")
        images_hash = content_hash(images)
        feats = self.store.get(images, task.backbone, label=f"[{model}]", images_hash=images_hash)
        backbone = task.backbone
        # cache keys of both feature sets, so `genbench compare` can bootstrap set-level metrics later
        feature_keys = {"generated": feature_key(images_hash, backbone), "reference": feature_key(ref.hash, backbone)}
        proto_cache: dict[str, dict[str, Any]] = {}
        rows: list[Row] = []
        for mname, metric in task.metrics.items():
            layer = backbone.logits_layer if metric.layer_kind == "logits" else backbone.default_layer
            assert layer is not None
            if layer not in proto_cache:
                proto_cache[layer] = make_protocol(backbone, layer, ref.id, task.n,
                                                   int(ref.images.shape[0]))
            proto = proto_cache[layer]
            m0 = time.time()
            values = metric.compute(feats, ref_feats if metric.needs_reference else None, layer=layer,
                                    seed=derive_seed(self.suite.seed, task.name, model, mname))
            secs = time.time() - m0
            for v in values:
                info = output_info(v.metric)
                rows.append(Row(
                    run_id=self.run_dir.path.name, suite=self.suite.name, task=task.name, model=model,
                    dataset=task.reference, metric=v.metric, value=float(v.value), ci_low=v.ci_low, ci_high=v.ci_high,
                    n=task.n, backbone=backbone.name, higher_is_better=info.higher_is_better, unit=info.unit,
                    seconds=round(secs, 4), protocol=proto, protocol_id=protocol_id(proto),
                    extras={**v.extras, "generation_seconds": round(gen_seconds, 3), "feature_keys": feature_keys},
                ))
        self.run_dir.append(*rows)  # one write: resume never sees half a model
        self.log(f"[{task.name}] {model}: " + ", ".join(f"{r.metric}={r.value:.4g}" for r in rows))
