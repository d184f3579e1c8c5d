"""Re-running a shipped model's training script, to check it reproduces the committed weights.

Every training script in ``scripts/`` prints one ``quality {json}`` line and writes its weights to ``--out``; the
manifests record both. ``scripts/zoo/verify_all.py`` and the reproduction tests compare them through this one
function.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.errors import GenbenchError
from bench.weights import sha256_file


def retrain(script: Path, args: Sequence[str], out: Path, *, cwd: Path, timeout: float | None = None) -> tuple[Any, str]:
    """Run ``script args --out out`` with this interpreter; return (its printed quality, sha256 of ``out``).

    ``out`` should carry the shipped file's name: ``torch.save`` names its archive folder after the file, so
    another name gives other bytes."""
    proc = subprocess.run([sys.executable, str(script), *args, "--out", str(out)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise GenbenchError(f"{script}: training failed (exit {proc.returncode}): {tail[0]}")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("quality ")), None)
    if line is None:
        raise GenbenchError(f"{script}: printed no 'quality {{...}}' line")
    return json.loads(line[len("quality "):]), sha256_file(out)
