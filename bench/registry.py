"""A small generic registry with lazy loading and did-you-mean errors.

Adapters, metrics and backbones register under a name; lookups of unknown names fail with the closest valid
name. Entries may be registered as ``"module:attr"`` strings so heavy modules import only when used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from bench.errors import ConfigError, did_you_mean

T = TypeVar("T")


def import_object(target: str) -> object:
    """Import ``"package.module:attr"`` (attr may be dotted)."""
    if ":" not in target:
        raise ConfigError(f"'{target}' is not of the form 'module:attr'")
    module_name, attr = target.split(":", 1)
    try:
        obj: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module '{module_name}' (from '{target}'): {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module '{module_name}' has no attribute '{attr}' (from '{target}')") from None
    return obj


class Registry(Generic[T]):
    """Name → object, where the object may be given lazily as a ``"module:attr"`` string."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | None:
        """Register ``obj`` under ``name``; without ``obj``, works as a decorator."""
        if obj is not None:
            self._entries[name] = obj
            return None

        def deco(o: T) -> T:
            self._entries[name] = o
            return o

        return deco

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}")
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_object(entry)  # type: ignore[assignment]
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
