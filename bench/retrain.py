"""Re-running a shipped model's training script, to check it reproduces the committed weights.

Every training script in ``scripts/`` prints one ``quality {json}`` line and writes its weights to ``--out``; the
manifests record both, and what made the bytes (``trained_with``: Python, torch, numpy, architecture and CPU
model; :func:`record_in_manifest` writes it). ``scripts/zoo/verify_all.py`` and the reproduction tests
compare through :func:`reproduce`.

What "reproduces" means depends on where it runs. A seeded, single-threaded training run gives the same bytes only
with the same torch and numpy builds on the same kind of CPU: torch's CPU kernels (MKL picks its code path by CPU
vendor and model) round differently, and training amplifies round-off into other weights. Measured: the MLP GAN
shipped from an Intel Xeon with torch 2.15.0 has FID 54.91; retrained on an AMD EPYC it gets 55.92 with torch
2.15.0 and with 2.14.1 alike (and 58.98 with MKL's code path pinned by ``MKL_CBWR``). The CPU's model name is not
enough: two machines that both call themselves "AMD EPYC" (same torch, numpy and Python) trained the VQ-VAE to
rFID 1.7613 and 1.5487, so the record also names the instruction set torch's kernels dispatch to
(``cpu_capability``: AVX2, AVX512, ...). An entry recorded before that key existed counts as another machine. So:

- where everything recorded in ``trained_with`` is the same: the file's sha256 must equal the manifest's, and the
  printed quality must equal it exactly;
- anywhere else (or for an entry that records none of it): every printed quality figure must lie within
  :data:`QUALITY_BAND` of the manifest's: the script still trains a model of the recorded quality.

The shipped weights stay the reference either way: a retrain never replaces them.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import GenbenchError
from bench.weights import sha256_file

# The band a retrain's quality must fall in on another machine or other versions: |got - recorded| <= REL * |recorded| +
# ABS, for every numeric figure (nested ones included); integer figures that count something (classes covered,
# n) may move by COUNT. Measured on another CPU and torch: the MLP GAN's FID +1.8%, its pixel diversity -0.6%; the
# text-to-image generator's attribute accuracies -0.038 (colour, -4.1%) to +0.004, its MSE at z=0 -4.7%. The band
# is about twice the worst of those, and far from the gap between a trained and a broken model (FID 55 vs 400+,
# attribute accuracy 0.4 vs 0.03).
QUALITY_BAND = {"rel": 0.10, "abs": 0.001, "count": 1}

# What decides the bytes of a seeded single-threaded training run.
ENVIRONMENT_KEYS = ("python", "torch", "numpy", "machine", "cpu", "cpu_capability")


def training_environment() -> dict[str, str]:
    """What a training run records next to its weights (``trained_with`` in the manifests)."""
    import numpy
    import torch

    from bench.results import cpu_model

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
            "machine": platform.machine(), "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def record_in_manifest(manifest: Path, key: str, entry: dict[str, Any]) -> None:
    """Write ``entry`` (sha256, quality, how it was trained) under ``key`` in a weights manifest, adding the
    versions that made the file. The one writer of every shipped model's manifest entry."""
    m = json.loads(manifest.read_text()) if manifest.is_file() else {}
    m[key] = {**entry, "trained_with": training_environment()}
    manifest.write_text(json.dumps(dict(sorted(m.items())), indent=2) + "\n")


def retrain(script: Path, args: Sequence[str], out: Path, *, cwd: Path, timeout: float | None = None) -> tuple[Any, str]:
    """Run ``script args --out out`` with this interpreter; return (its printed quality, sha256 of ``out``).

    ``out`` should carry the shipped file's name: ``torch.save`` names its archive folder after the file, so
    another name gives other bytes."""
    proc = subprocess.run([sys.executable, str(script), *args, "--out", str(out)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise GenbenchError(f"{script}: training failed (exit {proc.returncode}): {tail[0]}")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("quality ")), None)
    if line is None:
        raise GenbenchError(f"{script}: printed no 'quality {{...}}' line")
    return json.loads(line[len("quality "):]), sha256_file(out)


def outside_band(got: Any, recorded: Any, band: dict[str, Any] | None = None, path: str = "") -> list[str]:
    """The quality figures of ``got`` outside ``band`` (default :data:`QUALITY_BAND`) of ``recorded`` (or
    missing), as readable ``name: got vs recorded`` strings; empty when every figure is within the band."""
    band = {**QUALITY_BAND, **(band or {})}
    if isinstance(recorded, dict):
        if not isinstance(got, dict):
            return [f"{path or 'quality'}: {got!r} vs {recorded!r}"]
        return [msg for k, v in recorded.items()
                for msg in outside_band(got.get(k), v, band, f"{path}.{k}" if path else k)]
    if isinstance(recorded, bool) or not isinstance(recorded, (int, float)):
        return [] if got == recorded else [f"{path}: {got!r} vs {recorded!r}"]
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return [f"{path}: {got!r} vs {recorded!r}"]
    if isinstance(recorded, int) and isinstance(got, int):
        tol: float = band["count"]
    else:
        tol = band["rel"] * abs(recorded) + band["abs"]
    return [] if abs(got - recorded) <= tol else [f"{path}: {got} vs {recorded} (band ±{tol:.4g})"]


@dataclass
class Reproduction:
    """How a retrain compares with a manifest entry (see the module docstring for the rule)."""

    same_bytes: bool
    same_quality: bool
    outside: list[str]  # quality figures outside the band
    recorded_with: dict[str, str]  # the entry's ``trained_with`` ({} when it records none)
    here: dict[str, str]  # this machine's training_environment()

    @property
    def same_environment(self) -> bool:
        return bool(self.recorded_with) and all(self.recorded_with.get(k) == self.here[k] for k in ENVIRONMENT_KEYS)

    @property
    def ok(self) -> bool:
        if self.same_environment:
            return self.same_bytes and self.same_quality
        return not self.outside

    def describe(self) -> str:
        if self.same_environment:
            return (f"recorded versions: sha256 {'same' if self.same_bytes else 'DIFFERS'}, "
                    f"quality {'same' if self.same_quality else 'DIFFERS'}")
        if self.recorded_with:
            diff = "other " + ", ".join(f"{k}: {self.here.get(k)} here, {self.recorded_with.get(k)} recorded"
                                        for k in ENVIRONMENT_KEYS if self.here.get(k) != self.recorded_with.get(k))
        else:
            diff = "the entry records no versions"
        verdict = "within the band" if not self.outside else "OUTSIDE the band: " + "; ".join(self.outside)
        return f"{diff}: sha256 {'same' if self.same_bytes else 'differs'}, quality {verdict}"


def compare(entry: dict[str, Any], quality: Any, sha: str) -> Reproduction:
    """Judge a retrain (its printed ``quality`` and file ``sha``) against a manifest ``entry``; an entry whose
    training varies more than most may widen the band with its own ``quality_band`` (``rel``/``abs``/``count``,
    and ``why``: the measurement that justifies it)."""
    recorded = entry["quality"]
    return Reproduction(same_bytes=sha == entry["sha256"], same_quality=quality == recorded,
                        outside=outside_band(quality, recorded, entry.get("quality_band")),
                        recorded_with=entry.get("trained_with") or {}, here=training_environment())


def reproduce(script: Path, args: Sequence[str], out: Path, entry: dict[str, Any], *, cwd: Path,
              timeout: float | None = None) -> Reproduction:
    """Retrain with ``script`` and judge the result against the manifest ``entry``."""
    quality, sha = retrain(script, args, out, cwd=cwd, timeout=timeout)
    return compare(entry, quality, sha)
