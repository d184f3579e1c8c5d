"""Guards around the calls into a model or a backbone: a time limit (a suite's ``timeout_s``) and recovery from
CUDA out-of-memory by halving the batch.

The time limit is a SIGALRM timer: it interrupts a call hung in Python code (a sleep, a wait on a lock, a loop) and
any C call that returns to Python or checks for signals, with an exception a model's ``except Exception`` does not
catch, re-raised until the call gives up; a call stuck inside native code that never returns, or a bare
``except:`` loop, cannot be stopped from inside the process. Signals reach the main thread only, so elsewhere the
alarm is not set. The limit of the block being run is also kept per thread (:func:`current_limit`): a model in a
worker process (bench.isolate, ``runtime: {isolate: process}``) is waited for until then and killed after, which
stops those calls too, in any thread.
Samples depend on (seed, index) alone, never on the batch (bench.seeding.sample_seeds), so a halved batch gives the
same samples and the same features.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from bench.errors import ModelTimeout


class _Expired(BaseException):
    """Raised by the SIGALRM handler inside the guarded block. A BaseException, not an Exception, so a model's own
    ``except Exception`` cannot swallow it; :func:`time_limit` turns it into :class:`ModelTimeout` at the exit."""


#: after the limit, the alarm fires again every this many seconds (at most) until the guarded block exits
REARM_S = 0.5


@dataclass(frozen=True)
class Limit:
    """The guarded block a thread is in: what it names (``model 'm' on samples 0..29``: also in the message of a
    worker that dies, bench.isolate), and its time limit, ending at ``deadline`` (``time.monotonic``; None: no
    limit)."""

    seconds: float | None
    what: str
    deadline: float | None

    def error(self) -> ModelTimeout:
        return ModelTimeout(f"{self.what}: no answer within {self.seconds:g} s (timeout_s); recorded as failed")


_local = threading.local()


def current_limit() -> Limit | None:
    """The innermost :func:`time_limit` block this thread is in (None: none)."""
    return getattr(_local, "limit", None)


@contextlib.contextmanager
def _limited(limit: Limit) -> Iterator[None]:
    before = current_limit()
    _local.limit = limit
    try:
        yield
    finally:
        _local.limit = before


@contextlib.contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`ModelTimeout` naming ``what`` when the block runs longer than ``seconds`` (None: no limit).

    The alarm raises a BaseException and re-fires every :data:`REARM_S` seconds until the block exits, so a model
    that catches ``Exception`` (even in a retry loop) or sleeps in a blocking call is still stopped; a call that
    answers after the limit is refused too (its answer came late). A bare ``except:`` that swallows every
    exception forever, or native code that never returns to Python, cannot be stopped from inside the process: a
    model in a worker process (bench.isolate) is killed at the limit instead.
    """
    if not seconds:
        with _limited(Limit(None, what, None)):
            yield
        return
    limit = Limit(seconds, what, time.monotonic() + seconds)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        with _limited(limit):  # no alarm here; a worker process (bench.isolate) is still bounded
            yield
        return
    state = {"done": False, "fired": False}

    def expired(signum: int, frame: Any) -> None:
        if state["done"]:
            return  # the block has exited: a late alarm must not escape into the caller
        state["fired"] = True
        raise _Expired

    before = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds, min(REARM_S, seconds))
    try:
        try:
            with _limited(limit):
                yield
        finally:
            state["done"] = True
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Expired:
        raise limit.error() from None
    finally:
        signal.signal(signal.SIGALRM, before)
    if state["fired"]:
        raise limit.error()


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA (or other accelerator) allocation failure: retried with a smaller batch, not a model failure."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def release_memory() -> None:
    """Drop what the failed attempt held before the smaller retry."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
