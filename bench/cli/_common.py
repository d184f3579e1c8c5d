"""What several command groups share: the --device help and the run log."""

from __future__ import annotations

import sys
from typing import Any

DEVICE_HELP = "where backbones and models compute: auto (CUDA when available), cpu, cuda, cuda:N (default: the suite's runtime.device, else auto)"


def run_log(quiet: bool) -> Any:
    """The run's log to stderr; with --quiet without the per-model result lines (``[task] model: fid=...``, all in
    the table printed at the end): a quiet run prints its table, warnings, errors and what resume skipped."""
    import re

    def log(msg: str) -> None:
        if quiet and re.match(r"\[[^\]]+\] .+?: [\w@.\-]+=", msg):
            return
        print(f"genbench: {msg}" if msg.startswith(("error:", "warning:")) else msg, file=sys.stderr)
    return log
