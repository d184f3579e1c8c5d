"""Known-answer self-tests: does this machine compute a protocol's features as the recorded machine did?

Why: the same images give another FID elsewhere (torch-fidelity #43, torchmetrics #1620, scipy's sqrtm churn),
and a user cannot tell whether their installation is the cause. ``genbench selftest --protocol P`` pushes a small
fixed input shipped with genbench (``bench/assets/selftest/inputs.npz``: 20 digits of the test split, 8 RGB
32x32 patterns) through protocol P's backbone and compares the features with a record made on a reference
machine: bit for bit (the sha256 of every layer), within a relative difference ``x`` no larger than the
backbone's ``selftest_rtol`` (float32 round-off of another CPU or BLAS), or not. When the features differ beyond
that, the record's per-module trace (forward hooks on every leaf module: the sha256 of its output and its
per-channel sums) names the first module whose output differs — a perturbed weight file, another resize
implementation (the ``preprocess`` step) or a changed kernel shows up there.

Records: the digits protocol's record ships in ``bench/assets/selftest/digits.npz``; third-party protocols are
recorded with ``--record`` on a machine where the real weights are present and stored under
``$GENBENCH_CACHE/selftest/`` (genbench never ships third-party weights, so neither their outputs). Each
outcome is kept in ``$GENBENCH_CACHE/selftest/outcomes.json``; a run's manifest carries the outcome of every
protocol it used when the outcome was measured with the same torch, device kind and weights
(:func:`manifest_record`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.backbones.base import Backbone, full_float32
from bench.errors import ConfigError, GenbenchError, WeightsError
from bench.weights import cache_root

ASSETS = Path(__file__).resolve().parent / "assets" / "selftest"
INPUTS_FILE = ASSETS / "inputs.npz"
FORMAT = "genbench-selftest/v1"
#: exit code of a protocol this machine does not reproduce (bad input stays 2)
EXIT_DIFFERS = 1


def selftest_dir() -> Path:
    """Where ``--record`` writes records and where outcomes are kept (``$GENBENCH_CACHE/selftest``)."""
    return cache_root() / "selftest"


def inputs() -> dict[str, np.ndarray]:
    with np.load(INPUTS_FILE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def array_sha256(a: np.ndarray | torch.Tensor) -> str:
    """sha256 of an array's dtype, shape and bytes (C order): equal digests mean bit-equal values."""
    arr = a.detach().cpu().contiguous().numpy() if isinstance(a, torch.Tensor) else np.ascontiguousarray(a)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def input_for(backbone: Backbone) -> str:
    """The shipped input a backbone is tested on: the RGB patterns, or the 8x8 digits for a network that was
    trained on those alone (its ``domain_problem`` refuses other shapes)."""
    return "images" if backbone.domain_problem((3, 32, 32)) is None else "digits"


def network_of(backbone: Backbone) -> torch.nn.Module | None:
    """The backbone's torch module (``net``, ``model`` or ``clip.model``), for the per-module trace."""
    for holder, attr in ((backbone, "net"), (backbone, "model"), (getattr(backbone, "clip", None), "model")):
        m = getattr(holder, attr, None) if holder is not None else None
        if isinstance(m, torch.nn.Module):
            return m
    return None


def fingerprint(t: torch.Tensor) -> np.ndarray:
    """Per-channel (dim 1) sums of the values and of their magnitudes, in float64: a changed weight of any output
    channel moves its sums, while float32 round-off moves them by ~1e-7 relative."""
    x = t.detach().double().cpu()
    if x.ndim < 2:
        x = x.reshape(-1, 1)
    x = x.movedim(1, 0).reshape(x.shape[1], -1)
    return torch.cat([x.sum(1), x.abs().sum(1)]).numpy()


@dataclass
class Trace:
    """Every leaf module's output in call order: name (``#k`` for a module's k-th call), sha256, fingerprint."""

    names: list[str] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    prints: list[np.ndarray] = field(default_factory=list)
    hooked: bool = True

    def add(self, name: str, t: torch.Tensor) -> None:
        k = sum(1 for n in self.names if n == name or n.startswith(name + "#"))
        self.names.append(name if k == 0 else f"{name}#{k + 1}")
        self.digests.append(array_sha256(t.float()))
        self.prints.append(fingerprint(t))


@contextmanager
def traced(net: torch.nn.Module | None, trace: Trace) -> Iterator[None]:
    """Forward hooks on every leaf module of ``net`` appending to ``trace``. TorchScript modules take no hooks:
    their trace holds the preprocessed input alone (``trace.hooked`` is False)."""
    handles = []
    if net is not None:
        for name, mod in net.named_modules():
            if next(mod.children(), None) is not None:
                continue

            def hook(_m: torch.nn.Module, _i: Any, out: Any, name: str = name or "net") -> None:
                outs = out if isinstance(out, (tuple, list)) else [out]
                for j, o in enumerate(outs):
                    if isinstance(o, torch.Tensor) and o.is_floating_point():
                        trace.add(name if j == 0 else f"{name}[{j}]", o)

            try:
                handles.append(mod.register_forward_hook(hook))
            except (RuntimeError, AttributeError, TypeError):  # a ScriptModule
                trace.hooked = False
                break
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def compute(backbone: Backbone, images: np.ndarray) -> tuple[dict[str, np.ndarray], Trace]:
    """The backbone's layers for ``images`` in one forward call, with the per-module trace."""
    backbone.ensure_built()
    trace = Trace()
    x = torch.from_numpy(images)
    with torch.no_grad(), full_float32(backbone.device):
        inp = backbone.preprocess(x).to(backbone.device)
        trace.add("preprocess", inp)
        with traced(network_of(backbone), trace):
            feats = backbone.forward(inp)
    return {k: feats[k].detach().float().cpu().numpy() for k in backbone.layers}, trace


def environment(backbone: Backbone) -> dict[str, Any]:
    from bench.results import cpu_model, package_versions

    v = package_versions()
    return {"torch": torch.__version__, "numpy": np.__version__, "scipy": v.get("scipy"),
            "pillow": v.get("pillow") or v.get("Pillow"), "device": str(backbone.device),
            "device_name": (torch.cuda.get_device_name(backbone.device) if backbone.device.type == "cuda"
                            else cpu_model()), "date": time.strftime("%Y-%m-%d", time.gmtime())}


def record_path(protocol: str, records: str | None = None) -> Path:
    """Where a protocol's record is read: ``records``, then ``$GENBENCH_CACHE/selftest``, then the shipped one."""
    name = f"{protocol}.npz"
    for folder in ([Path(records)] if records else []) + [selftest_dir(), ASSETS]:
        if (folder / name).is_file():
            return folder / name
    return (Path(records) if records else selftest_dir()) / name


def write_record(path: Path, protocol: str, backbone: Backbone, which: str, feats: dict[str, np.ndarray],
                 trace: Trace) -> None:
    meta = {"format": FORMAT, "protocol": protocol, "backbone": backbone.name,
            "weights_sha256": backbone.weights_sha256, "input": which,
            "input_sha256": array_sha256(inputs()[which]), "environment": environment(backbone),
            "layers": {k: array_sha256(v) for k, v in feats.items()}, "trace": trace.names,
            "trace_sha256": trace.digests, "hooked": trace.hooked}
    arrays: dict[str, Any] = {f"layer/{k}": v for k, v in feats.items()}
    arrays.update({f"trace/{i}": p for i, p in enumerate(trace.prints)})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)


def read_record(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], list[np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            layers = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("layer/")}
            prints = [z[f"trace/{i}"] for i in range(len(meta["trace"]))]
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a genbench self-test record ({exc.__class__.__name__}: {exc})") from None
    if meta.get("format") != FORMAT:
        raise ConfigError(f"{path}: record format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta, layers, prints


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b| (scale-free; 0.0 for equal arrays; inf for another shape)."""
    if a.shape != b.shape:
        return float("inf")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.abs(a64 - b64).max() / max(float(np.abs(b64).max()), 1e-30)) if a.size else 0.0


@dataclass
class Outcome:
    protocol: str
    status: str  # "bit-equal" | "within" | "differs"
    max_rel: float
    line: str
    first_layer: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    weights_sha256: str | None = None

    @property
    def passed(self) -> bool:
        return self.status != "differs"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "max_rel": self.max_rel, "first_layer": self.first_layer, "line": self.line,
                "weights_sha256": self.weights_sha256, "environment": self.environment}


def first_difference(meta: dict[str, Any], prints: list[np.ndarray], trace: Trace, rtol: float) -> tuple[str, float] | None:
    """The first traced module (in call order) whose output differs from the record by more than ``rtol``
    (relative difference of its per-channel sums), or whose output is not bit-equal when none exceeds it."""
    names = meta["trace"]
    if names != trace.names:  # another network shape: the first name that differs is the place
        i = next((i for i, (a, b) in enumerate(zip(names, trace.names, strict=False)) if a != b),
                 min(len(names), len(trace.names)))
        where = names[i] if i < len(names) else trace.names[i] if i < len(trace.names) else "output"
        return where, float("inf")
    for name, rec, now in zip(names, prints, trace.prints, strict=True):
        rel = relative_difference(now, rec)
        if rel > rtol:
            return name, rel
    return None


def compare(protocol: str, backbone: Backbone, meta: dict[str, Any], layers: dict[str, np.ndarray],
            prints: list[np.ndarray]) -> Outcome:
    which = meta["input"]
    data = inputs()[which]
    if array_sha256(data) != meta["input_sha256"]:
        raise ConfigError(f"{INPUTS_FILE}: the shipped '{which}' input is not the one the record of protocol "
                          f"'{protocol}' was made on (reinstall genbench)")
    feats, trace = compute(backbone, data)
    env = environment(backbone)
    rtol = float(backbone.selftest_rtol)
    if all(array_sha256(feats[k]) == meta["layers"].get(k) for k in feats) and set(feats) == set(meta["layers"]):
        status, worst = "bit-equal", 0.0
    else:
        worst = max((relative_difference(feats[k], layers[k]) if k in layers else float("inf")) for k in feats)
        status = "within" if worst <= rtol else "differs"
    rec_env = meta.get("environment", {})
    where = (f"{len(data)} {which} images; recorded with torch {rec_env.get('torch')} on {rec_env.get('device_name')}, "
             f"here torch {env['torch']} on {env['device_name']}")
    first = None
    weights = ""
    if backbone.weights_sha256 != meta.get("weights_sha256"):
        weights = (f"; the weights' sha256 {str(backbone.weights_sha256)[:12]}... is not the recorded "
                   f"{str(meta.get('weights_sha256'))[:12]}...")
    if status == "bit-equal":
        line = f"this machine reproduces protocol {protocol} bit for bit ({where})"
    elif status == "within":
        line = (f"this machine reproduces protocol {protocol} within {worst:.1e} relative "
                f"(bound {rtol:.0e}; {where}){weights}")
    else:
        found = first_difference(meta, prints, trace, rtol)
        if found is None and not trace.hooked:
            found_txt = "the network is TorchScript (no per-layer trace): the features themselves differ"
        elif found is None:
            found_txt = "no traced module differs: the difference is in the backbone's own code after the network"
        else:
            first = found[0]
            found_txt = f"the first layer whose output differs is '{found[0]}' (relative difference {found[1]:.1e})"
        line = (f"this machine does not reproduce protocol {protocol}: features differ by {worst:.1e} relative "
                f"(bound {rtol:.0e}); {found_txt}{weights}")
    return Outcome(protocol, status, worst, line, first, env, backbone.weights_sha256)


def save_outcome(outcome: Outcome) -> None:
    """Keep the latest outcome per protocol for run manifests (best effort: a read-only cache loses nothing else)."""
    from bench.results import atomic_write_text

    path = selftest_dir() / "outcomes.json"
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        data = {}
    data[outcome.protocol] = outcome.as_dict()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True))
    except OSError:
        pass


def manifest_record(backbones: dict[str, Backbone]) -> dict[str, Any]:
    """``{"selftest": {protocol: outcome}}`` for the protocols of a run's backbones whose last self-test ran with
    the same torch, device kind and weights as this run; ``{}`` when none did (the manifest then says nothing)."""
    from bench.protocol import preset_for_backbone

    path = selftest_dir() / "outcomes.json"
    try:
        data = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        return {}
    out = {}
    for b in backbones.values():
        p = preset_for_backbone(b.name)
        o = data.get(p) if p else None
        if not o:
            continue
        env = o.get("environment", {})
        if (env.get("torch") == torch.__version__ and str(env.get("device", "")).split(":")[0] == b.device.type
                and o.get("weights_sha256") == b.weights_sha256):
            out[p] = {k: o[k] for k in ("status", "max_rel", "first_layer", "line")} | {"date": env.get("date")}
    return {"selftest": out} if out else {}


def run_selftest(protocols: list[str] | None, *, record: bool = False, weights: str | None = None,
                 device: str = "cpu", records: str | None = None) -> tuple[int, list[str]]:
    """Self-test (or record) each protocol; (exit code, one line per protocol). Without ``protocols``: every
    protocol that has a record here (the shipped digits one at least)."""
    from bench.backbones import get_backbone
    from bench.protocol import PRESETS, get_preset

    if protocols is None:
        protocols = [p for p in PRESETS if record_path(p, records).is_file()]
        if record:
            raise ConfigError("selftest --record needs --protocol (which protocol to record)")
    lines: list[str] = []
    code = 0
    for p in protocols:
        preset = get_preset(p)
        b = get_backbone(preset.backbone, weights=weights, device=device)
        if record:
            b.resolve_weights()
            published = b.published_weights_sha256()
            if published and b.weights_sha256 != published:
                raise WeightsError(f"protocol '{p}': the weights' sha256 {str(b.weights_sha256)[:16]}... is not the "
                                   f"published file's {published[:16]}...; a record must be made with the real weights")
            which = input_for(b)
            feats, trace = compute(b, inputs()[which])
            out = Path(records) / f"{p}.npz" if records else selftest_dir() / f"{p}.npz"
            write_record(out, p, b, which, feats, trace)
            lines.append(f"recorded protocol {p} ({len(trace.names)} traced outputs) in {out}")
            continue
        path = record_path(p, records)
        if not path.is_file():
            raise ConfigError(f"protocol '{p}': no self-test record ({path} does not exist); make one with "
                              f"`genbench selftest --protocol {p} --record` on a machine with the real weights")
        meta, layers, prints = read_record(path)
        try:
            outcome = compare(p, b, meta, layers, prints)
        except GenbenchError:
            raise
        save_outcome(outcome)
        lines.append(outcome.line)
        code = max(code, 0 if outcome.passed else EXIT_DIFFERS)
    return code, lines


def cmd_selftest(args: Any) -> int:
    """``genbench selftest``: one line per protocol; exit 1 when a protocol is not reproduced."""
    code, lines = run_selftest(args.protocol or None, record=args.record, weights=args.weights,
                               device=args.device or "cpu", records=args.records)
    for line in lines:
        print(line)
    return code

