"""MkDocs hook (mkdocs.yml ``hooks:``): let the API reference find ``bench.adapters`` in a plain checkout.

``adapters/`` sits at the top of the repository and is imported as ``bench.adapters`` through setuptools'
package-dir remap, which griffe (mkdocstrings' static collector) cannot follow: it looks for
``bench/adapters/``. Before mkdocstrings starts, this hook builds a temporary source tree holding
``bench/`` as links to every entry of the real ``bench/`` plus ``bench/adapters`` linked to ``adapters/``,
and points the python handler at it. Nothing in the repository changes; the tree is removed when the build
ends. (Once ``adapters/`` lives in ``bench/adapters/`` this part can go.) It also drops the Sphinx role
prefixes (``:class:``, ``:func:``, ...) the docstrings use, which Markdown would print as text.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.plugins import event_priority

_TREE: Path | None = None
#: Sphinx cross-reference roles in the docstrings (":class:`bench.results.Row`"), which Markdown renders as text
_SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):(?=<code>)")


@event_priority(100)  # before mkdocstrings reads its handler options
def on_config(config: Any) -> Any:
    global _TREE
    root = Path(config["config_file_path"]).resolve().parent
    _TREE = Path(tempfile.mkdtemp(prefix="genbench-docs-src-"))
    bench = _TREE / "bench"
    bench.mkdir()
    for entry in (root / "bench").iterdir():
        if entry.name not in ("adapters", "__pycache__"):
            (bench / entry.name).symlink_to(entry)
    (bench / "adapters").symlink_to(root / "adapters")
    python = config["plugins"]["mkdocstrings"].config["handlers"]["python"]
    python["paths"] = [str(_TREE)]
    return config


def on_page_content(html: str, **kwargs: Any) -> str:
    """Drop the Sphinx role prefix the docstrings carry, keeping the name in code style."""
    return _SPHINX_ROLE.sub("", html)


def on_shutdown() -> None:
    if _TREE is not None:
        shutil.rmtree(_TREE, ignore_errors=True)
