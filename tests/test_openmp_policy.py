"""The CLI runs torch's OpenMP threads with OMP_WAIT_POLICY=PASSIVE (bench._openmp), unless the user chose a
policy or torch was imported first (then it is too late: libgomp has read the variable)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_PROBE = "import os{pre}\nimport bench.cli\nprint(os.environ.get('OMP_WAIT_POLICY'))"


@pytest.mark.parametrize(("user", "pre", "want"), [
    (None, "", "PASSIVE"),  # genbench's default for its own processes
    ("ACTIVE", "", "ACTIVE"),  # the user's choice is kept
    (None, "\nimport torch", "None"),  # a library user who imported torch first is left alone
])
def test_cli_sets_passive_wait_before_torch(user: str | None, pre: str, want: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if user:
        env["OMP_WAIT_POLICY"] = user
    out = subprocess.run([sys.executable, "-c", _PROBE.format(pre=pre)], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == want
