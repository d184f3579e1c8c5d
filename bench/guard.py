"""Guards around the calls into a model or a backbone: a time limit (a suite's ``timeout_s``) and recovery from
CUDA out-of-memory by halving the batch.

The time limit is a SIGALRM timer: it interrupts a call hung in Python code (a sleep, a wait on a lock, a loop) and
any C call that returns to Python or checks for signals; a call stuck inside native code that never returns cannot
be stopped from inside the process. Signals reach the main thread only, so elsewhere the limit is not applied.
Samples depend on (seed, index) alone, never on the batch (bench.seeding.sample_seeds), so a halved batch gives the
same samples and the same features.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
from collections.abc import Iterator
from typing import Any

import torch

from bench.errors import ModelTimeout


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`ModelTimeout` naming ``what`` when the block runs longer than ``seconds`` (None: no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise ModelTimeout(f"{what}: no answer within {seconds:g} s (timeout_s); recorded as failed")

    before = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA (or other accelerator) allocation failure: retried with a smaller batch, not a model failure."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def release_memory() -> None:
    """Drop what the failed attempt held before the smaller retry."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
