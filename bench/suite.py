"""Suites: declarative YAML files, validated before anything runs.

Validation has two layers. The shape of the file (fields, types) is checked by pydantic models below; the
meaning (names that refer to datasets, models, metrics, backbones; adapter arguments; metric options; adapter ×
task compatibility) is checked by :func:`bench.plan.check_suite`. Both report ``file:line: field.path: problem``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from bench.errors import ConfigError, did_you_mean
from bench.runtime import RuntimeSpec
from bench.yamlio import line_for, load_yaml_with_lines


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: what a suite, task or model name may be: it names folders and files of a run, so it is a name, never a path
_NAME = re.compile(r"[^/\\\x00]+")


def _plain_name(v: str) -> str:
    if not _NAME.fullmatch(v) or v in (".", "..") or v.startswith("."):
        raise ValueError(f"'{v}' is not a plain name (no '/', '\\', leading '.' or '..'): it names folders of the run")
    return v


PlainName = Annotated[str, AfterValidator(_plain_name)]


class MaxFailures(Strict):
    max_failures: int = Field(ge=0, description="failures tolerated before the run stops (0: like fail_fast)")


#: error policy: ``continue`` (every model is tried), ``fail_fast`` (stop at the first failure) or
#: ``{max_failures: N}``; the run stopped early is resumable (docs/reliability.md)
OnError = Literal["continue", "fail_fast"] | MaxFailures
#: fields that decide how a run copes with failures, not what it computes: not part of the suite hash
POLICY_FIELDS = ("on_error", "timeout_s")


class DatasetSpec(BaseModel):
    """``kind`` and that kind's arguments. The arguments are validated by the kind's own ``Args`` model
    (bench.data: a discriminated union on ``kind`` whose members are the registered dataset kinds), at their
    file:line, when the suite is planned."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str = Field(description="dataset kind (genbench ls datasets)")

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ModelSpec(Strict):
    adapter: str
    args: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    sweep: dict[str, list[Any]] = Field(default_factory=dict, description=(
        "adapter arguments to sweep: one model per point of their product, named 'model[arg=value,...]', all "
        "with the seeds of 'model' (the same latents at every point), e.g. {guidance_scale: [1, 2, 4, 7.5]}"))
    #: the swept model this point comes from (set by the sweep expansion; its seeds are that model's)
    _base: str | None = PrivateAttr(default=None)

    @field_validator("sweep")
    @classmethod
    def _points(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            if not values:
                raise ValueError(f"sweep '{key}' has no values")
            if len({json.dumps(x, sort_keys=True, default=str) for x in values}) != len(values):
                raise ValueError(f"sweep '{key}' repeats a value")
        return v

    @model_validator(mode="after")
    def _not_both(self) -> ModelSpec:
        both = sorted(set(self.sweep) & set(self.args))
        if both:
            raise ValueError(f"'{both[0]}' is both in args and in sweep: give it in one place")
        return self

    @property
    def seed_name(self) -> str | None:
        """The name whose seeds this model uses: its swept model's for a sweep point, else None (its own)."""
        return self._base


class TaskSpec(Strict):
    name: str
    on_error: OnError | None = Field(default=None, description="error policy of this task (default: the suite's)")
    timeout_s: float | None = Field(default=None, gt=0, description="seconds one model call may take (default: "
                                    "the suite's); a model that does not answer in time is recorded as failed")
    kind: str = Field(default="generation", description="task kind (genbench ls tasks)")
    reference: str
    models: list[str] | None = Field(default=None, description="default: every model whose adapter fits the kind")
    n: int | None = Field(default=None, gt=1)
    batch_size: int = Field(default=250, gt=0)
    backbone: str = "digits"
    weights: str | None = Field(default=None, description="explicit weights file for the backbone (relative to the suite)")
    #: a named protocol preset (bench.protocol.PRESETS); selects the backbone that reproduces that tool
    protocol: str | None = None
    inference: Literal["exact", "fast"] = Field(
        default="exact", description="exact: the reference network as it ships; fast: same network with faster "
        "kernels (BatchNorm folded, channels_last), features equal to ~1e-6 relative (Inception backbones)")
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict, description=(
        "metric name -> options (a list of names is accepted); measurement kinds (perf, dissection) need none"))
    args: dict[str, Any] = Field(default_factory=dict, description="options of the task kind")

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics_list(cls, v: Any) -> Any:
        """Accept ``[fid, {kid: {...}}]`` as well as ``{fid: {}, kid: {...}}``."""
        if isinstance(v, list):
            out: dict[str, Any] = {}
            for item in v:
                if isinstance(item, str):
                    out[item] = {}
                elif isinstance(item, dict) and len(item) == 1:
                    (k, o), = item.items()
                    out[k] = o or {}
                else:
                    raise ValueError("each metric is a name or a one-key mapping {name: {options}}")
            return out
        if isinstance(v, dict):
            return {k: (o or {}) for k, o in v.items()}
        return v

    _name = field_validator("name")(_plain_name)


def _relative_dir(v: str) -> str:
    p = Path(v)
    if p.is_absolute() or v.startswith("~") or ".." in p.parts:
        raise ValueError(f"'{v}' leaves the working directory: a suite's outputs stay under it (a relative path "
                         "without '..'); write elsewhere with --out DIR on the command line, your own choice")
    return v


def contained_output_dir(directory: str, name: str) -> Path:
    """``directory`` (a suite's ``output.dir``), checked where it is used: ``directory/name`` must resolve under the
    working directory. The validator refuses ``..`` and absolute paths; this also catches a symlink on the way
    (``results -> /elsewhere``), which a path check of the text cannot see."""
    cwd = os.path.realpath(os.getcwd())
    real = os.path.realpath(Path(directory) / name)
    if os.path.commonpath([cwd, real]) != cwd:
        raise ConfigError(f"output.dir '{directory}': {Path(directory) / name} resolves to {real}, outside the working "
                          f"directory {cwd} (through a symlink); a suite's outputs stay under it; write elsewhere "
                          "with --out DIR on the command line, your own choice")
    return Path(directory)


class OutputSpec(Strict):
    dir: Annotated[str, AfterValidator(_relative_dir)] = "results"
    grid: int = Field(default=64, ge=0, description="samples per model in the saved sample grid")


class CheckRule(Strict):
    """Acceptance band for one metric value in ``genbench check`` (see bench.check for the semantics)."""

    abs: float | None = Field(default=None, ge=0, description="absolute tolerance around the baseline value")
    rel: float | None = Field(default=None, ge=0, description="relative tolerance, a fraction of |baseline|")
    two_sided: bool = Field(default=False, description="also fail when the value is better than the band")
    windows: dict[str, tuple[float, float]] | None = Field(
        default=None, description="model -> fixed [low, high] accepted, replacing the baseline band for that model")
    models: list[str] | None = Field(default=None, description="gate only these models (default: all)")

    @model_validator(mode="after")
    def _something_to_check(self) -> CheckRule:
        if self.abs is None and self.rel is None and not self.windows:
            raise ValueError("a check rule needs 'abs', 'rel' or 'windows'")
        return self

    @field_validator("windows")
    @classmethod
    def _ordered(cls, v: dict[str, tuple[float, float]] | None) -> dict[str, tuple[float, float]] | None:
        for model, (lo, hi) in (v or {}).items():
            if lo > hi:
                raise ValueError(f"window for '{model}' has low {lo} > high {hi}")
        return v


class CheckSpec(Strict):
    """Per-metric rules; metrics without a rule are reported but never fail the gate."""

    metrics: dict[str, CheckRule] = Field(default_factory=dict)


class Suite(Strict):
    name: str
    description: str = ""
    seed: int = 0
    datasets: dict[str, DatasetSpec] = Field(default_factory=dict)
    models: dict[PlainName, ModelSpec]
    tasks: list[TaskSpec]
    output: OutputSpec = Field(default_factory=OutputSpec)
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec, description="device and model dtype (bench.runtime)")
    check: CheckSpec | None = Field(default=None, description="rules for genbench check; not part of the run")
    on_error: OnError = Field(default="continue", description="continue | fail_fast | {max_failures: N}")
    timeout_s: float | None = Field(default=None, gt=0, description="seconds one model call may take")

    _name = field_validator("name")(_plain_name)


    def spec_hash(self) -> str:
        """sha256 of the validated suite in canonical JSON: equal for equal meaning, whatever the formatting.
        The ``check`` and ``runtime`` sections and the error policy are left out: tightening a gate or moving to a GPU does not change
        what a run computes (the protocol is the same on every device), so a run started on one resumes on another."""
        exclude: Any = {"check": True, "runtime": True, **{f: True for f in POLICY_FIELDS},
                        "tasks": {"__all__": set(POLICY_FIELDS)}}  # how failures are met is not what is computed
        blob = json.dumps(self.model_dump(mode="json", exclude=exclude), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


class LoadedSuite:
    """A validated suite together with where it came from, so later checks can point at lines."""

    def __init__(self, suite: Suite, path: Path, lines: dict[tuple[Any, ...], int]) -> None:
        self.suite = suite
        self.path = path
        self.lines = lines

    def where(self, *field_path: Any) -> str:
        line = line_for(self.lines, field_path)
        dotted = ".".join(str(p) for p in field_path)
        return f"{self.path}:{line}: {dotted}" if line else f"{self.path}: {dotted}"

    def resolve_path(self, p: str) -> Path:
        """Relative paths in a suite are relative to the suite file's folder."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else (self.path.parent / q)


def _fields_at(model: type, loc: tuple[Any, ...]) -> list[str]:
    """The field names valid at ``loc`` inside ``model`` (for did-you-mean on unknown keys)."""
    tp: Any = model
    for part in loc:
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if part not in tp.model_fields:
                return []
            tp = tp.model_fields[part].annotation
        elif origin in (dict, list):
            tp = typing.get_args(tp)[-1]
        elif origin is Union or str(origin) == "types.UnionType":
            models = [a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, BaseModel)]
            if not models:
                return []
            tp = models[0]
            return _fields_at(tp, (part,))
        else:
            return []
    while typing.get_origin(tp) is Union or str(typing.get_origin(tp)) == "types.UnionType":
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def format_validation_errors(
    exc: ValidationError, model: type[BaseModel], filename: str, lines: dict[tuple[Any, ...], int], prefix: tuple[Any, ...] = ()
) -> list[str]:
    """One ``file:line: field.path: problem`` line per pydantic error."""
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (p.startswith("function-") or p == "[key]")))
        full = (*prefix, *loc)
        dotted = ".".join(str(p) for p in full) or "(top level)"
        line = line_for(lines, full)
        where = f"{filename}:{line}" if line else filename
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            hint = did_you_mean(key, _fields_at(model, loc[:-1]))
            msg = f"unknown field '{key}'{hint}"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "literal_error" and isinstance(err.get("input"), str):
            choices = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
            msg = f"{err['msg']} (got {err['input']!r}){did_you_mean(err['input'], choices)}"
        else:
            msg = err["msg"]
            if "input" in err and err["type"] not in ("value_error",) and not isinstance(err["input"], dict | list):
                msg += f" (got {err['input']!r})"
        out.append(f"{where}: {dotted}: {msg}")
    return out


def load_suite(path: str | Path) -> LoadedSuite:
    """Read and validate the shape of a suite file. Raises ConfigError with every problem found."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: suite file does not exist")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read suite ({exc})") from None
    data, lines = load_yaml_with_lines(text, str(p))
    if not isinstance(data, dict):
        raise ConfigError(f"{p}:1: a suite is a mapping with at least 'models' and 'tasks'")
    data = dict(data)
    data.setdefault("name", p.stem)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(format_validation_errors(exc, Suite, str(p), lines))) from None
    return LoadedSuite(expand_sweeps(suite, lines), p, lines)


def _point_name(model: str, point: dict[str, Any]) -> str:
    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))

    return f"{model}[{','.join(f'{k}={text(v)}' for k, v in point.items())}]"


def expand_sweeps(suite: Suite, lines: dict[tuple[Any, ...], int] | None = None) -> Suite:
    """One model per point of each model's ``sweep`` (the product of its lists, in the order written), named
    ``model[arg=value,...]``, in the swept model's place; a task or check rule that names the swept model names
    all its points. ``lines`` gains each point's entries (a bad value points at its ``sweep:`` line)."""
    if not any(m.sweep for m in suite.models.values()):
        return suite
    import itertools

    models: dict[str, ModelSpec] = {}
    points: dict[str, list[str]] = {}
    for name, spec in suite.models.items():
        if not spec.sweep:
            models[name] = spec
            continue
        keys = list(spec.sweep)
        points[name] = []
        for values in itertools.product(*(spec.sweep[k] for k in keys)):
            point = dict(zip(keys, values, strict=True))
            pname = _point_name(name, point)
            made = ModelSpec(adapter=spec.adapter, args={**spec.args, **point},
                             label=None if spec.label is None else _point_name(spec.label, point))
            made._base = name
            models[pname] = made
            points[name].append(pname)
            if lines is not None:
                for path, line in list(lines.items()):
                    if path[:2] == ("models", name) and (len(path) < 3 or path[2] != "sweep"):
                        lines.setdefault(("models", pname, *path[2:]), line)
                for k in keys:
                    if ("models", name, "sweep", k) in lines:
                        lines[("models", pname, "args", k)] = lines[("models", name, "sweep", k)]

    def named(names: list[str] | None) -> list[str] | None:
        return None if names is None else [p for n in names for p in points.get(n, [n])]

    tasks = [t.model_copy(update={"models": named(t.models)}) for t in suite.tasks]
    check = suite.check
    if check is not None:
        check = check.model_copy(update={"metrics": {k: r.model_copy(update={"models": named(r.models)})
                                                    for k, r in check.metrics.items()}})
    return suite.model_copy(update={"models": models, "tasks": tasks, "check": check})
