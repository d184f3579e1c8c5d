"""Shared by the zoo training scripts: seeding, batching and the manifest update."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from bench.retrain import record_in_manifest
from bench.translation.zoo import ASSETS, MANIFEST


def setup(seed: int) -> torch.Generator:
    torch.set_num_threads(1)  # shared machines: each script stays on one core
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def batches(n: int, size: int, g: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=g)
    return [perm[i: i + size] for i in range(0, n - size + 1, size)]


def save(states: dict[str, Any], filename: str, record: dict[str, Any]) -> str:
    """Write the weights, then their sha256 and the printed quality into the zoo manifest."""
    out = ASSETS / filename
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(states, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    record_in_manifest(Path(MANIFEST), filename, {"sha256": digest, **record})
    print(f"wrote {out} ({out.stat().st_size} bytes) sha256 {digest}")
    return digest
