"""Every third-party weights file genbench knows, gathered from what the registered components declare.

Backbones and metrics list the files they may resolve in ``weights_files`` (bench.weights.WeightsFile: name, URL,
sha256, cache path); ``genbench weights list|fetch|verify|path`` reads this catalogue, so a new backbone's files
appear there without editing a list (and a plugin's too). It lives above the registries: bench.weights itself
imports no component.
"""

from __future__ import annotations

from bench.backbones import BACKBONES
from bench.errors import WeightsError, did_you_mean
from bench.metrics import METRICS
from bench.weights import WeightsFile


def manifest() -> dict[str, WeightsFile]:
    """Name → file, over every registered backbone and metric (first declaration of a name wins)."""
    files: dict[str, WeightsFile] = {}
    for registry in (BACKBONES, METRICS):
        for name in registry.names():
            for w in registry.get(name).weights_files:
                files.setdefault(w.name, w)
    return files


def get_weights_file(name: str) -> WeightsFile:
    files = manifest()
    if name not in files:
        raise WeightsError(f"unknown weights file '{name}'{did_you_mean(name, files)}")
    return files[name]
