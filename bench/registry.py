"""One registry mechanism for adapters, metrics, backbones and task kinds: lazy, checked, open to plugins.

Components register under a name; lookups of unknown names fail with the closest valid name. Entries may be
registered as ``"module:attr"`` strings so heavy modules import only when used. Two rules keep a name meaning one
thing:

- a name is registered once: registering another object under a taken name is an error naming both (before,
  the second silently won, so a plugin could replace a built-in metric and change every number without a word);
- what a name resolves to must be a subclass of the registry's base class (checked when it is first used, so lazy
  entries stay lazy).

Other packages add entries without touching genbench through the entry-point groups ``genbench.adapters``,
``genbench.metrics``, ``genbench.backbones`` and ``genbench.tasks``; for example, in the plugin's
``pyproject.toml``::

    [project.entry-points."genbench.adapters"]
    my-gan = "my_package.genbench_adapter:MyGAN"

They are read the first time a registry is listed or asked for a name, and registered lazily like the built-ins:
the plugin's module is imported only when a suite uses the name.

A renamed component keeps its old name as a deprecated alias (:meth:`Registry.alias`): suites that use it keep
working and get a one-line warning naming the new name.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Generic, TypeVar

from bench.errors import ConfigError, did_you_mean

T = TypeVar("T")


def import_object(target: str, search: tuple[str, ...] = ()) -> object:
    """Import ``"package.module:attr"`` (attr may be dotted). ``search``: folders appended to sys.path first when
    absent (a user's module beside their suite); kept there, as later imports of the module's own imports need it."""
    if ":" not in target:
        raise ConfigError(f"'{target}' is not of the form 'module:attr'")
    module_name, attr = target.split(":", 1)
    for folder in search:
        if folder not in sys.path:
            sys.path.append(folder)
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


def _describe(obj: object) -> str:
    if isinstance(obj, str):
        return obj
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


class Registry(Generic[T]):
    """Name → class, where the class may be given lazily as a ``"module:attr"`` string.

    ``base``: every entry must resolve to a subclass of it. ``group``: the entry-point group third-party packages
    register under (read once, on first use)."""

    def __init__(self, kind: str, base: type | None = None, group: str | None = None) -> None:
        self.kind = kind
        self.base = base
        self.group = group
        self._entries: dict[str, T | str] = {}
        self._origin: dict[str, str] = {}  # name -> who registered it ("genbench" or "plugin <distribution>")
        self._plugins_loaded = group is None
        self._aliases: dict[str, str] = {}  # deprecated name -> current name
        self._warned: set[str] = set()

    def register(self, name: str, obj: T | str | None = None, *, origin: str = "genbench") -> Callable[[T], T] | None:
        """Register ``obj`` under ``name``; without ``obj``, works as a decorator. A taken name is an error."""
        if obj is not None:
            self._add(name, obj, origin)
            return None

        def deco(o: T) -> T:
            self._add(name, o, origin)
            return o

        return deco

    def _add(self, name: str, obj: T | str, origin: str) -> None:
        old = self._entries.get(name)
        if old is not None and _describe(old) != _describe(obj):
            raise ConfigError(f"{self.kind} '{name}' is registered twice: {_describe(old)} ({self._origin[name]}) and "
                              f"{_describe(obj)} ({origin}); rename one")
        if not isinstance(obj, str):
            self._check(name, obj)
        self._entries[name] = obj
        self._origin.setdefault(name, origin)

    def _check(self, name: str, obj: object) -> None:
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise ConfigError(f"{self.kind} '{name}' ({_describe(obj)}, {self._origin.get(name, 'genbench')}) is not a "
                              f"subclass of {self.base.__module__}.{self.base.__qualname__}")

    def _load_plugins(self) -> None:
        """Register the entry points of ``group`` (lazily: the plugin's module is not imported here)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        assert self.group is not None
        for ep in metadata.entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            self._add(ep.name, ep.value, f"plugin {dist.name if dist is not None else ep.value}")

    def alias(self, old: str, new: str) -> None:
        """Keep ``old`` working as a deprecated name of ``new`` (a renamed component)."""
        if old in self._entries:
            raise ConfigError(f"{self.kind} '{old}' cannot be an alias of '{new}': it is registered itself")
        self._aliases[old] = new

    def canonical(self, name: str, where: str = "") -> str:
        """The current name for ``name``. A deprecated alias gives its new name and warns once per process
        (``where``: the suite file:line that used it, so the warning says what to edit)."""
        if name not in self._aliases:
            return name
        new = self._aliases[name]
        if name not in self._warned:
            self._warned.add(name)
            warnings.warn(f"{where + ': ' if where else ''}{self.kind} '{name}' is deprecated: it is now called "
                          f"'{new}' (the old name still works)", FutureWarning, stacklevel=3)
        return new

    def aliases(self) -> dict[str, str]:
        """Deprecated name → current name."""
        return dict(self._aliases)

    def get(self, name: str) -> T:
        self._load_plugins()
        name = self.canonical(name)
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}")
        entry = self._entries[name]
        if isinstance(entry, str):
            obj = import_object(entry)
            self._check(name, obj)
            self._entries[name] = obj  # type: ignore[assignment]
            return obj  # type: ignore[return-value]
        return entry

    def origin(self, name: str) -> str:
        """Who registered ``name``: ``genbench`` or ``plugin <distribution>``."""
        self._load_plugins()
        return self._origin[name]

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries or name in self._aliases

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
