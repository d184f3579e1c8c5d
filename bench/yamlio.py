"""YAML loading that remembers where every value came from, and refuses duplicate keys.

PyYAML silently keeps the last of two equal keys; a suite with ``n: 500`` twice is a mistake we report. Every
value's line is recorded under its path (a tuple of keys and list indices) so that validation errors can be
shown as ``file:line: field.path: problem``.
"""

from __future__ import annotations

from typing import Any

import yaml

from bench.errors import ConfigError

Path_ = tuple[Any, ...]


def load_yaml_with_lines(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{filename}{line}: invalid YAML: {problem}") from None
    lines: dict[Path_, int] = {}
    loader = yaml.SafeLoader("")

    def build(node: yaml.Node | None, path: Path_) -> Any:
        if node is None:
            return None
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            first_line: dict[Any, int] = {}
            for knode, vnode in node.value:
                key = loader.construct_object(knode, deep=True)
                if isinstance(key, list | dict):
                    raise ConfigError(f"{filename}:{knode.start_mark.line + 1}: a mapping key must be a scalar")
                if key in out:
                    dotted = ".".join(str(p) for p in (*path, key))
                    raise ConfigError(
                        f"{filename}:{knode.start_mark.line + 1}: {dotted}: duplicate key '{key}' "
                        f"(first given at line {first_line[key]})"
                    )
                first_line[key] = knode.start_mark.line + 1
                key_path = path + (key,)
                out[key] = build(vnode, key_path)
                lines[key_path] = knode.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(v, (*path, i)) for i, v in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    try:
        data = build(root, ())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename}: invalid YAML: {exc}") from None
    return data, lines


def line_for(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return lines.get(())
