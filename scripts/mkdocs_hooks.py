"""MkDocs hook (mkdocs.yml ``hooks:``): drop the Sphinx role prefixes (``:class:``, ``:func:``, ...) the docstrings
use, which Markdown would otherwise print as text in the API reference."""

from __future__ import annotations

import re
from typing import Any

#: Sphinx cross-reference roles in the docstrings (":class:`bench.results.Row`"), which Markdown renders as text
_SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|obj|exc):(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    """Drop the Sphinx role prefix the docstrings carry, keeping the name in code style."""
    return _SPHINX_ROLE.sub("", html)
