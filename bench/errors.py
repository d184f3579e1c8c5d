"""Errors that reach the user as one clear line and an exit code, never as a traceback.

Every problem caused by the user's input (a suite, a folder of images, a weights file) is raised as a
:class:`GenbenchError`; the CLI prints its message and exits with its code. Anything else is a bug in genbench
and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2


class GenbenchError(Exception):
    """A problem with the user's input. ``str(err)`` is the whole message shown to the user."""

    exit_code = EXIT_BAD_INPUT


class InputError(GenbenchError):
    """Bad data: an image file, an ``.npz``, a folder. The message names the file or item."""


class ConfigError(GenbenchError):
    """Bad suite or command-line configuration."""


class WeightsError(GenbenchError):
    """A weights file is missing or does not match its recorded sha256."""


class ProtocolMismatchError(GenbenchError):
    """Two numbers computed under different protocols were about to be compared."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` suffix, or a list of the valid choices when nothing is close."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    if len(choices) <= 12:
        return f"; choose from {', '.join(choices)}"
    return ""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run: its manifest says ``interrupted`` and ``--resume`` continues it."""

    def __init__(self, run_dir: object) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


class ModelTimeout(GenbenchError):
    """A model call gave no answer within the suite's ``timeout_s``: that model is recorded as failed."""


class ModelCrashed(GenbenchError):
    """The worker process running a model (``runtime: {isolate: process}``) died during a call (a segfault, an
    ``os._exit``): that model is recorded as failed, the run goes on."""


def os_error_line(exc: OSError) -> str:
    """An OS error as one line naming the path: ``results/x/rows.jsonl: No space left on device (ENOSPC)``.
    What was written before it stays: rows are appended whole and every other file is replaced atomically."""
    import errno

    where = exc.filename if exc.filename is not None else "(no path)"
    if exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    code = f" ({errno.errorcode[exc.errno]})" if exc.errno is not None and exc.errno in errno.errorcode else ""
    return f"{where}: {exc.strerror or exc}{code}"
