"""Reading and setting a generator layer's units with forward hooks.

A unit is one channel of the layer's output ``[N, U, H, W]`` (or ``[N, U]`` for a linear layer). An edit sets
the named units to ``x·(1−a) + r·a``: ``a = 0`` leaves them as they are, ``a = 1, r = 0`` switches them off
(ablation), ``a = 1, r = high`` switches them on (insertion). ``a`` may vary per sample and per location, so a
concept can be inserted in one place of one image. Hooks act on the module object, so they apply whatever calls
the generator: genbench's adapters (``python``, ``zoo``, ``shapes-gan``) call it as they always do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.errors import ConfigError, did_you_mean


def torch_module(adapter: Any, model: str) -> nn.Module:
    """The generator's torch module behind an adapter (``net`` of the zoo adapters, ``model`` of ``python``), or
    a ConfigError saying why it cannot be hooked."""
    for attr in ("net", "model"):
        m = getattr(adapter, attr, None)
        if isinstance(m, torch.jit.ScriptModule):
            raise ConfigError(f"model '{model}' is a TorchScript module: TorchScript runs its submodules in its own "
                              "interpreter, which calls no Python forward hooks; load the eager module through the "
                              "'python' adapter to dissect it")
        if isinstance(m, nn.Module):
            return m
    raise ConfigError(f"model '{model}' (adapter '{type(adapter).__name__}') has no torch module to hook: dissection "
                      "needs a generator built from torch.nn modules (python, zoo, shapes-gan adapters)")


def find_layer(module: nn.Module, name: str, model: str = "model") -> nn.Module:
    """The submodule called ``name`` (as ``named_modules`` spells it), or a ConfigError listing the choices."""
    named = dict(module.named_modules())
    if name in named and name:
        return named[name]
    choices = [n for n in named if n]
    raise ConfigError(f"model '{model}' has no layer '{name}'{did_you_mean(name, choices)} "
                      f"(its layers: {', '.join(choices[:20])}{', ...' if len(choices) > 20 else ''})")


def _output(out: Any, layer: str) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() not in (2, 4):
        raise ConfigError(f"layer '{layer}' returns {type(out).__name__}"
                          f"{' of ' + str(out.dim()) + ' dims' if isinstance(out, torch.Tensor) else ''}: dissection "
                          "needs a tensor [N, units, H, W] (or [N, units])")
    return out


@contextmanager
def capture(layer: nn.Module, name: str, into: list[torch.Tensor]) -> Iterator[None]:
    """While open, every output of ``layer`` is appended to ``into`` (detached, on the host, float32)."""
    def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
        into.append(_output(out, name).detach().float().cpu())

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@dataclass
class UnitEdit:
    """``x·(1−a) + r·a`` on the channels ``units`` of a layer's output; other channels are left untouched.

    ``alpha``: ``a``, a number, or a tensor per sample ``[N]`` or per sample and location ``[N, H, W]`` (the
    layer's resolution); ``value``: ``r``, a number or one per unit ``[len(units)]``."""

    units: Sequence[int]
    alpha: float | torch.Tensor = 1.0
    value: float | torch.Tensor = 0.0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not len(self.units):
            return x
        idx = torch.as_tensor(list(self.units), dtype=torch.long, device=x.device)
        if int(idx.min()) < 0 or int(idx.max()) >= x.shape[1]:
            raise ConfigError(f"unit index out of range: the layer has {x.shape[1]} units, asked for "
                              f"{sorted(set(int(u) for u in self.units))}")
        sel = x.index_select(1, idx)
        spatial = (1,) * (x.dim() - 2)
        a = torch.as_tensor(self.alpha, dtype=x.dtype, device=x.device)
        if a.dim() == 1:  # per sample
            a = a.view(-1, 1, *spatial)
        elif a.dim() == 3:  # per sample and location
            a = a.unsqueeze(1)
        r = torch.as_tensor(self.value, dtype=x.dtype, device=x.device)
        if r.dim() == 1:  # per unit
            r = r.view(1, -1, *spatial)
        out = x.clone()
        out[:, idx] = sel * (1 - a) + r * a
        return out


@contextmanager
def edited(layer: nn.Module, name: str, edit: UnitEdit | None) -> Iterator[None]:
    """While open, ``layer``'s output is replaced by ``edit(output)`` (nothing is hooked when ``edit`` is None)."""
    if edit is None:
        yield
        return

    def hook(_m: nn.Module, _inp: Any, out: Any) -> torch.Tensor:
        return edit(_output(out, name))

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
