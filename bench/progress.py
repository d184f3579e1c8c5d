"""A line on stderr for every wait longer than a few seconds that has no progress bar of its own.

``with announce("building backbone inception-v3-compat"): ...`` prints nothing for a step that ends quickly; once
it has taken ``AFTER`` seconds a line says what genbench is doing, and the end of the step says how long it took.
Used around steps whose length depends on the data or the network (building a large network, fitting a metric's
reference side, computing a metric over 50,000 samples, caption scoring), so a silent terminal always means work
under way that was announced.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: seconds a step may run silently before it is announced
AFTER = 5.0


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@contextmanager
def announce(what: str, *, enabled: bool = True, after: float | None = None,
             log: Callable[[str], None] = _stderr) -> Iterator[None]:
    """Announce ``what`` if it is still running after ``after`` seconds (default AFTER), then its duration."""
    if not enabled:
        yield
        return
    started = time.monotonic()
    said = threading.Event()

    def speak() -> None:
        said.set()
        log(f"genbench: {what} ...")

    timer = threading.Timer(AFTER if after is None else after, speak)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        if said.is_set():
            log(f"genbench: {what}: done in {time.monotonic() - started:.0f} s")
