"""docs/python.md's notebook walkthrough runs as written: its code blocks marked ``<!-- walkthrough -->`` are
executed in order, in one namespace, in an empty working folder (offline: the digits set and protocol)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "python.md"


def walkthrough_blocks(text: str) -> list[str]:
    """The ```python blocks that directly follow a ``<!-- walkthrough -->`` marker, in document order."""
    return re.findall(r"<!-- walkthrough -->\n```python\n(.*?)\n```", text, flags=re.S)


def test_the_walkthrough_is_found() -> None:
    blocks = walkthrough_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) == 5 and "bench.evaluate(" in blocks[0] and "run_suite" in blocks[-1]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_notebook_walkthrough_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "walkthrough"}
    for i, block in enumerate(walkthrough_blocks(DOC.read_text(encoding="utf-8"))):
        exec(compile(block, f"docs/python.md walkthrough block {i + 1}", "exec"), namespace)  # noqa: S102
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "results", "suite.yaml", "translated", "truth"]
