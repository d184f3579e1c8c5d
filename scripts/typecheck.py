"""mypy over the package as it is imported: ``bench`` with ``adapters/`` as ``bench.adapters``.

The repository keeps ``adapters/`` at the top level and setuptools maps it to ``bench.adapters``
(``package-dir`` in pyproject.toml); mypy has no such mapping, so run on the folders as they are it sees two
unrelated packages and every ``from bench.adapters ...`` as untyped. This script lays out the package as Python
imports it (a temporary tree of symlinks), runs mypy with the project's configuration on it and prints paths
relative to the repository. ``tox -e type`` and CI call it; the exit code is mypy's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="genbench-typecheck-") as tmp:
        pkg = Path(tmp) / "bench"
        pkg.mkdir()
        for entry in (ROOT / "bench").iterdir():
            if entry.name not in ("__pycache__", "adapters"):  # a worktree links bench/adapters itself
                (pkg / entry.name).symlink_to(entry)
        (pkg / "adapters").symlink_to(ROOT / "adapters")
        proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "bench"],
                              cwd=tmp, capture_output=True, text=True)
    out = proc.stdout.replace("bench/adapters/", "adapters/")
    sys.stdout.write(out)
    sys.stderr.write(proc.stderr)
    return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
