"""The documentation site (issue 34): `mkdocs build --strict` passes, every public name docs/plugins.md
promises has an API page, the README keeps CI's test command, and each tutorial's commands run as written.

The tutorials (docs/tutorials/*.md) mark what a test runs: a fenced block with a ``title="NAME"`` is a file
the reader writes into an empty folder, and a ```bash block right after a ``<!-- runnable -->`` line is run
there, in order, with ``set -e`` (each block must succeed; a block that expects a failure says so itself,
e.g. ``|| test $? -eq 1``). ``genbench`` is this interpreter's ``python -m bench`` and ``torchrun`` its own,
offline, with the test session's cache.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
FILE_BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```', re.M | re.S)
RUNNABLE_BLOCK = re.compile(r"^<!-- runnable -->\n```bash\n(.*?)^```", re.M | re.S)
#: tutorials whose commands take more than ~10 s on 2 CPU cores (each genbench process imports torch): all
#: of them run several commands, so all are `slow`; the many-GPUs one starts torchrun ranks as well
SLOW = {"own-generator.md", "text-to-image.md", "ci-gate.md", "many-gpus.md"}


def _mkdocs_available() -> bool:
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
        import mkdocstrings_handlers.python  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _mkdocs_available(),
                    reason="the docs extra (mkdocs-material, mkdocstrings[python]) is not installed")
def test_the_site_builds_strict(tmp_path: Path) -> None:
    """Broken links, missing anchors, pages left out of the nav and API references that do not resolve all
    fail the strict build (the API pages are collected statically from the source tree;
    scripts/mkdocs_hooks.py lets them find bench.adapters). Built into a temporary folder: no site/ here."""
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "index.html").is_file() and (site / "tutorials" / "own-generator" / "index.html").is_file()
    # the API pages rendered the docstrings, bench.adapters included (not an empty page)
    adapters_page = (site / "api" / "adapters" / "index.html").read_text(encoding="utf-8")
    assert "GenerationRequest" in adapters_page and "Standard-normal latents" in adapters_page


def test_every_public_name_in_plugins_md_has_an_api_page() -> None:
    """docs/plugins.md's stable public API: each name has a ``::: module.Name`` entry on the API pages."""
    text = (ROOT / "docs/plugins.md").read_text(encoding="utf-8").split("## The stable public API", 1)[1]
    promised = re.findall(r"^- `(bench[.\w]*)`: (.*?)(?=^- |\Z)", text, flags=re.M | re.S)
    documented = set(re.findall(r"^::: ([\w.]+)", "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "api").glob("*.md")), flags=re.M))
    missing = [f"{module}.{name}" for module, names in promised for name in re.findall(r"`(\w+)`", names)
               if f"{module}.{name}" not in documented]
    assert promised and not missing, f"no API page entry for: {missing}"


def test_the_readme_states_the_ci_test_command_and_stays_short() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -c constraints.txt -e '.[test]'" in ci and ".venv/bin/python -m pytest" in ci
    assert "pip install -c constraints.txt -e '.[test]'" in readme and ".venv/bin/python -m pytest" in readme
    assert len(readme.splitlines()) <= 150
    # a newcomer finds the own-generator tutorial from the README in one link
    assert "(docs/tutorials/own-generator.md)" in readme


def test_the_tutorials_mark_their_files_and_commands() -> None:
    assert {p.name for p in TUTORIALS} == SLOW
    for page in TUTORIALS:
        text = page.read_text(encoding="utf-8")
        assert RUNNABLE_BLOCK.search(text), f"{page.name}: no <!-- runnable --> bash block"


def _shell_with_genbench(folder: Path) -> dict[str, str]:
    bin_dir = folder / ".bin"
    bin_dir.mkdir()
    shim = bin_dir / "genbench"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bench "$@"\n')
    shim.chmod(0o755)
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, "GENBENCH_OFFLINE": "1"}


@pytest.mark.parametrize("page", [pytest.param(p, id=p.stem,
                                               marks=[pytest.mark.slow] if p.name in SLOW else [])
                                  for p in TUTORIALS])
def test_a_tutorial_runs_as_written(page: Path, tmp_path: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for name, body in FILE_BLOCK.findall(text):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body, encoding="utf-8")
    env = _shell_with_genbench(tmp_path)
    for i, block in enumerate(RUNNABLE_BLOCK.findall(text)):
        proc = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=900)
        output = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, f"{page.name} block {i + 1}:\n{block}\n--- output ---\n{output}"
