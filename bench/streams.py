"""Overlap producing batches with consuming them: while the backbone runs on batch i, batch i + 1 is decoded.

PNG/JPEG decoding (PIL releases the GIL in zlib and its codecs) and torch kernels (which release it too) then run
at the same time, so reading files does not starve the network; ``genbench score images`` on folders is otherwise
bound by decode + resize. Order, content and errors are exactly those of the plain iterator: a producer exception
is raised in the consumer at the batch where it happened, and stopping early stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items`` in order, produced up to ``depth`` ahead in a background thread."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    worker = threading.Thread(target=produce, name="genbench-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
