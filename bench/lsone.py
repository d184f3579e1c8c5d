"""``genbench ls KIND NAME``: one registered component in full, its description and every argument.

``genbench ls adapters`` lists one line per entry; a user writing a suite then needs one adapter's arguments
(``genbench ls adapters python``): their names, types, defaults and meaning come from the same typed argument
models that ``validate`` checks the suite against, so the listing cannot drift from what is accepted.
"""

from __future__ import annotations

import inspect
from typing import Any


def _registry(what: str) -> Any:
    if what == "adapters":
        from bench.adapters import ADAPTERS

        return ADAPTERS
    if what == "metrics":
        from bench.metrics import METRICS

        return METRICS
    if what == "backbones":
        from bench.backbones import BACKBONES

        return BACKBONES
    if what == "datasets":
        from bench.data import DATASETS

        return DATASETS
    if what == "tasks":
        from bench.tasks import TASKS

        return TASKS
    from bench.errors import ConfigError

    raise ConfigError(f"`genbench ls {what} NAME` is for adapters, metrics, backbones, datasets and tasks")


def _fields(model: Any) -> list[str]:
    """One line per field of a pydantic argument model: name, type, default (or 'required'), description."""
    out = []
    for name, f in getattr(model, "model_fields", {}).items():
        ann = getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", "")
        default = "required" if f.is_required() else f"default {f.get_default(call_default_factory=True)!r}"
        out.append(f"  {name}: {ann} ({default})" + (f" — {f.description}" if f.description else ""))
    return out


def describe(what: str, name: str) -> str:
    """The whole description of ``name`` in registry ``what`` and its arguments (options, for a metric)."""
    reg = _registry(what)
    cls = reg.get(reg.canonical(name))  # an unknown name: one line with a did-you-mean, exit 2
    lines = [f"{name}" + (f"  (kind: {cls.kind})" if isinstance(getattr(cls, "kind", None), str) else "")]
    doc = inspect.cleandoc(cls.__doc__ or "") or str(getattr(cls, "description", "") or "")
    lines += ["  " + line for line in doc.splitlines()]
    for attr, title in (("Args", "arguments"), ("Opts", "options")):
        model = getattr(cls, attr, None)
        if model is not None:
            rows = _fields(model)
            lines.append(f"{title}:" if rows else f"{title}: none")
            lines += rows
    outputs = getattr(cls, "outputs", None)
    if isinstance(outputs, dict) and outputs:
        lines.append("values: " + ", ".join(f"{k} {'↑' if v.higher_is_better else '↓'}" for k, v in outputs.items()))
    return "\n".join(lines)
