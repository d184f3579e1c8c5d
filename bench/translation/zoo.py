"""The reference translators: architectures, weight files and loading with a sha256 check.

Each zoo entry is one ``.pt`` file in ``bench/assets/translation`` holding a state dict per direction
(``{"a2b": ..., "b2a": ...}``), written by the scripts in ``scripts/translation/`` with fixed seeds; the file's
sha256 and the quality the script printed live in ``bench/assets/translation/MANIFEST.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bench.errors import ConfigError, WeightsError, did_you_mean
from bench.images import to_uint8
from bench.seeding import latents_from_seeds
from bench.translation.nets import ResnetGen8, UNet8, to_float
from bench.weights import sha256_file

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "translation"
MANIFEST = ASSETS / "MANIFEST.json"


@dataclass(frozen=True)
class ZooEntry:
    file: str
    build: Callable[[], nn.Module]
    noise_channels: int
    dataset: str  # the embedded dataset kind it was trained on


ZOO: dict[str, ZooEntry] = {
    "pix2pix-edges": ZooEntry("pix2pix_edges.pt", lambda: UNet8(32, noise_channels=1), 1, "digits-edges"),
    "cyclegan-strokes": ZooEntry("cyclegan_strokes.pt", lambda: ResnetGen8(32, blocks=2), 0, "digits-strokes"),
}


class ZooModel:
    """A pair (or one) of generators behind ``translate(uint8 images, direction, seeds)``."""

    def __init__(self, nets: dict[str, nn.Module], noise_channels: int) -> None:
        self.nets = {d: n.eval() for d, n in nets.items()}
        self.noise_channels = noise_channels

    @torch.no_grad()
    def translate(self, images: torch.Tensor, direction: str, seeds: list[int]) -> torch.Tensor:
        x = to_float(images)
        z = latents_from_seeds(seeds, (self.noise_channels, *images.shape[2:])) if self.noise_channels else None
        out = self.nets[direction](x, z)
        return to_uint8(out, (-1.0, 1.0), what=f"zoo translator {direction}")


def manifest() -> dict[str, dict[str, object]]:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}


def load_zoo(name: str, path: Path | None = None) -> ZooModel:
    """Build zoo model ``name``; its bundled weights must match the manifest (an explicit ``path`` is trusted)."""
    if name not in ZOO:
        raise ConfigError(f"unknown zoo translator '{name}'{did_you_mean(name, ZOO)}")
    entry = ZOO[name]
    p = path or ASSETS / entry.file
    if not p.is_file():
        raise WeightsError(f"{p}: weights of zoo translator '{name}' do not exist (train them with scripts/translation/)")
    if path is None:
        want = manifest().get(entry.file, {}).get("sha256")
        got = sha256_file(p)
        if want != got:
            raise WeightsError(f"{p}: sha256 {got[:16]}... does not match {MANIFEST} ({str(want)[:16]}...)")
    states = torch.load(p, map_location="cpu", weights_only=True)
    nets = {}
    for d, sd in states.items():
        net = entry.build()
        net.load_state_dict(sd)
        nets[d] = net
    return ZooModel(nets, entry.noise_channels)
