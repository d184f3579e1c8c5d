"""Model calls in a worker process that can be killed: a suite's ``runtime: {isolate: process}``.

Why: ``timeout_s`` (bench.guard) interrupts a hung call with SIGALRM inside the run's process. A model that
swallows every exception (a bare ``except:`` in a retry loop) or sits in native code that never returns (a
deadlocked lock, a blocking C call that retries on EINTR) cannot be stopped from there. With isolation the model
lives in a worker process; the run holds an :class:`IsolatedAdapter` that forwards each method call (``generate``,
``translate``, ``caption``, ``encode``, ... whatever the task kind calls) over a pipe and waits for the answer. When
the call's time limit passes, the worker is killed with SIGKILL (nothing inside it can refuse that), the call raises
:class:`~bench.errors.ModelTimeout` naming the model and its items, and a later call starts a fresh worker that
builds the model again. A worker that dies by itself (a segfault, ``os._exit``) is that model's failure
(:class:`~bench.errors.ModelCrashed`), not the run's.

Same outputs as in the run's process: the worker builds the adapter from the same name, arguments, suite folder
and device; it has the run's torch thread count and deterministic-algorithms setting, and runs each call under the
caller's grad mode, autocast state and TF32 flags; requests carry the per-item seeds. One worker serves every call
of one built adapter (one model in one task). Tensors cross with torch.multiprocessing's reductions: a CPU tensor is
copied once into a shared-memory segment by the sender and mapped by the receiver; a CUDA tensor is shared by CUDA
IPC. Workers are forked from a fork server (never from the run's process, which has threads and may hold a CUDA
context); a worker ignores Ctrl-C (the run decides) and ends when the run's process does
(:func:`_exit_with_the_run`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
import types
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import torch

from bench.errors import ConfigError, ModelCrashed
from bench.guard import current_limit

#: modes of ``runtime.isolate``
MODES = ("none", "process")
#: seconds a worker is given to exit after ``close`` before it is killed
CLOSE_GRACE_S = 2.0


# -- what the worker needs to build the model ---------------------------------------------------------------------
@dataclass
class SuiteDatasets:
    """A suite's datasets by name, loaded on first use and kept (what ``AdapterContext.datasets`` gives an adapter).
    Picklable, so a worker process loads the datasets its model reads itself."""

    specs: Mapping[str, tuple[Any, Any]]
    resolve: Callable[[str], Path]
    _loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    def __call__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self.specs:
                raise ConfigError(f"unknown dataset '{name}'")
            kind, args = self.specs[name]
            self._loaded[name] = kind.load(name, args, self.resolve)
        return self._loaded[name]

    def __getstate__(self) -> dict[str, Any]:
        return {"specs": self.specs, "resolve": self.resolve, "_loaded": {}}  # the worker loads its own


@dataclass(frozen=True)
class _Settings:
    """Process-wide torch settings of the run, applied once in the worker (they change kernels' choices)."""

    threads: int
    deterministic: tuple[bool, bool]

    @classmethod
    def here(cls) -> _Settings:
        return cls(torch.get_num_threads(), _deterministic())

    def apply(self) -> None:
        torch.set_num_threads(self.threads)
        if _deterministic() != self.deterministic:  # setting it imports torch._dynamo: 10 s on a loaded machine
            torch.use_deterministic_algorithms(self.deterministic[0], warn_only=self.deterministic[1])


def _deterministic() -> tuple[bool, bool]:
    return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()


def _call_state() -> tuple[Any, ...]:
    """The caller's per-call torch state: grad mode, autocast per device type, TF32 flags."""
    cast = tuple((d, torch.is_autocast_enabled(d), torch.get_autocast_dtype(d)) for d in ("cpu", "cuda"))
    return (torch.is_grad_enabled(), cast, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


@contextlib.contextmanager
def _under(state: tuple[Any, ...]) -> Iterator[None]:
    """Run a call under the caller's :func:`_call_state`."""
    grad, cast, tf32_matmul, tf32_cudnn = state
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32_matmul, tf32_cudnn
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.set_grad_enabled(grad))
        for device, enabled, dtype in cast:
            if enabled:
                stack.enter_context(torch.autocast(device, dtype=dtype))
        yield


# -- the worker ---------------------------------------------------------------------------------------------------
class _Method:
    """Reply to an attribute lookup: the attribute is a method, called remotely."""


class _Module:
    """Reply to an attribute lookup: the attribute is a torch module, which stays in the worker."""


def _exit_with_the_run(conn: Connection) -> None:
    """End this worker when the run's process ends, even in the middle of a hung call.

    The worker's parent is the fork server, which lives as long as any worker does. Its death kills the worker
    (``PR_SET_PDEATHSIG``), but the run's death does not kill the server. So a watch thread waits, without reading,
    for the run's end of the pipe to close (``POLLRDHUP``: the run exited, was killed with SIGKILL, or gave the
    worker up) and ends the process. The thread needs Python's GIL for that, which a bare ``except:`` loop yields
    every few milliseconds and a blocking C call (ctypes, torch kernels) releases."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    rdhup = getattr(select, "POLLRDHUP", None)
    if rdhup is None:  # not Linux: the worker exits when it next reads the closed pipe
        return
    ended = rdhup | select.POLLHUP | select.POLLERR | select.POLLNVAL

    def watch() -> None:
        poller = select.poll()
        poller.register(conn.fileno(), rdhup)
        while True:
            if any(events & ended for _, events in poller.poll()):
                os._exit(70)

    threading.Thread(target=watch, name="genbench-watch-run", daemon=True).start()


def _error_reply(exc: BaseException) -> tuple[Any, ...]:
    try:
        blob: bytes | None = pickle.dumps(exc)
    except Exception:  # an exception holding something unpicklable: its type, message and traceback still go
        blob = None
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return ("err", blob, f"{type(exc).__module__}.{type(exc).__qualname__}", str(exc), tb)


def _serve(conn: Connection, name: str, args: dict[str, Any], ctx: Any, settings: _Settings,
           environ: dict[str, str]) -> None:
    """The worker's loop: build the adapter, then answer ``(op, attr, args, kwargs, state)`` messages until told
    to close or the pipe closes. ``environ``: the run's environment now (the fork server has the one it started
    with; ``spawn`` already gave the working directory and ``sys.path``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the run decides
    _exit_with_the_run(conn)
    os.environ.clear()
    os.environ.update(environ)
    settings.apply()
    from bench.adapters.base import build_adapter

    try:
        adapter = build_adapter(name, args, ctx)
        conn.send(("ok", adapter.device, adapter.args))
    except BaseException as exc:  # noqa: BLE001 (everything goes back to the run, which decides)
        conn.send(_error_reply(exc))
        return
    while True:
        try:
            op, attr, a, kw, state = conn.recv()
        except (EOFError, OSError):
            return
        if op == "close":
            return
        try:
            if op == "getattr":
                value = getattr(adapter, attr)
                reply: tuple[Any, ...] = ("ok", _Module() if isinstance(value, torch.nn.Module) else
                                          _Method() if callable(value) and not isinstance(value, type) else value)
            else:
                with _under(state):
                    reply = ("ok", getattr(adapter, attr)(*a, **kw))
            conn.send(reply)
        except BaseException as exc:  # noqa: BLE001 (an unpicklable answer is an error too)
            conn.send(_error_reply(exc))


# -- the run's side -----------------------------------------------------------------------------------------------
class _RemoteTraceback(Exception):
    """The worker's traceback, chained under the exception re-raised in the run (as concurrent.futures does)."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f"\n(in the model's worker process)\n{self.tb}"


def _raise_remote(reply: tuple[Any, ...]) -> None:
    _, blob, type_name, message, tb = reply
    exc: BaseException | None = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)  # noqa: S301 (our own worker's bytes, over our own pipe)
        except Exception:  # its class does not import in the run's process
            exc = None
    if not isinstance(exc, Exception):  # unpicklable, or SystemExit/KeyboardInterrupt raised by the model's code
        exc = RuntimeError(f"{type_name}: {message}")
    raise exc from _RemoteTraceback(tb)


@contextlib.contextmanager
def _without_main() -> Iterator[None]:
    """Start a spawned process without re-running the parent's main script in it. ``spawn`` does that so that
    functions defined there unpickle; the worker needs none (its code is this module), and a user's script that
    runs a suite without an ``if __name__ == "__main__":`` guard would start the run again inside the worker."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _context() -> Any:
    """``forkserver`` with torch and this module preloaded: the server is started once per run process (one
    ``import torch``, seconds), and each worker is forked from it (milliseconds), never from the run's process,
    which has threads and may hold a CUDA context. The server imports neither the run's main script nor CUDA."""
    import torch.multiprocessing as mp

    mpc = mp.get_context("forkserver")
    mpc.set_forkserver_preload(["bench.isolate", "bench.adapters"])
    return mpc


class _Worker:
    """One worker process and its pipe."""

    def __init__(self, name: str, args: dict[str, Any], ctx: Any) -> None:
        mpc = _context()
        self.conn, child = mpc.Pipe()
        self.process = mpc.Process(target=_serve, args=(child, name, args, ctx, _Settings.here(), dict(os.environ)), daemon=True,
                                   name=f"genbench-model-{name}")
        with _without_main():
            self.process.start()
        child.close()

    def alive(self) -> bool:
        return self.process.is_alive()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()  # first: the alarm may interrupt what follows, never this
        self.process.join(5)
        self.conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("close", "", (), {}, None))
        self.process.join(CLOSE_GRACE_S)
        self.kill()

    def died(self, label: str, op: str) -> ModelCrashed:
        self.process.join(1)
        code = self.process.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 and -code in \
            signal.valid_signals() else f"exit code {code}"
        self.kill()
        return ModelCrashed(f"{label}: its worker process died ({how}) during {op}; recorded as failed")

    def ask(self, message: tuple[Any, ...] | None, label: str) -> tuple[Any, ...]:
        """Send ``message`` (None: only wait, for the model being built) and wait for the answer, within the
        caller's time limit (bench.guard). The pipe is in step with the worker, or the worker is dead: anything
        that stops the wait (the limit, Ctrl-C, the alarm) kills it, since its late answer would otherwise be read
        as the next call's."""
        op = "the model's build" if message is None else \
            f"{message[1]}()" if message[0] == "call" else f"a lookup of '{message[1]}'"
        try:
            if message is not None:
                self.conn.send(message)
            limit = current_limit()
            if limit is not None:
                label = limit.what  # the call's items too: "model 'm' on samples 30..44"
            while True:
                left = None if limit is None or limit.deadline is None else limit.deadline - time.monotonic()
                if left is not None and left <= 0:
                    self.kill()
                    raise limit.error()  # type: ignore[union-attr]
                ready = wait([self.conn, self.process.sentinel], timeout=left)
                if self.conn in ready:
                    try:
                        reply: tuple[Any, ...] = self.conn.recv()
                    except (EOFError, OSError):
                        raise self.died(label, op) from None
                    return reply
                if self.process.sentinel in ready:
                    raise self.died(label, op)
        except BaseException:
            self.kill()
            raise


class IsolatedAdapter:
    """An adapter whose model runs in a worker process (``runtime: {isolate: process}``).

    It carries what the run reads without calling the model (``kind``, ``data_only``, ``args``, ``registered_name``,
    ``device``, the class's ``accepts_classes``); every other public attribute is looked up in the worker: a method
    becomes a remote call, a plain value is copied back, a torch module is refused (it stays in the worker: task
    kinds that hook the network itself, dissection, need ``isolate: none``). Built by :func:`isolated_adapter`,
    as a subclass named like the adapter's own class."""

    kind: str
    data_only: bool

    def __init__(self, label: str, name: str, args: dict[str, Any], ctx: Any) -> None:
        self._label, self._name, self._raw, self._ctx = label, name, dict(args), ctx
        self.args: Any = None
        self.registered_name = name
        self._worker: _Worker | None = None
        self._device: torch.device | None = None
        self._lock = threading.Lock()  # one call at a time on the pipe, whatever thread asks
        self._start()
        self._finalizer = weakref.finalize(self, IsolatedAdapter._stop, self.__dict__)

    @staticmethod
    def _stop(state: dict[str, Any]) -> None:
        worker = state.get("_worker")
        if worker is not None:
            worker.close()
            state["_worker"] = None

    def _start(self) -> _Worker:
        worker = _Worker(self._name, self._raw, self._ctx)
        self._worker = worker
        reply = worker.ask(None, self._label)
        if reply[0] == "err":
            worker.close()
            self._worker = None
            _raise_remote(reply)
        self._device, self.args = reply[1], reply[2]  # the arguments as the worker's adapter validated them
        return worker

    def _ask(self, op: str, attr: str, *a: Any, **kw: Any) -> Any:
        with self._lock:
            worker = self._worker
            if worker is None or not worker.alive():  # killed after a timeout, or died: a fresh one builds the model
                if worker is not None:
                    worker.kill()
                worker = self._start()
            reply = worker.ask((op, attr, a, kw, _call_state() if op == "call" else None), self._label)
        if reply[0] == "err":
            _raise_remote(reply)
        return reply[1]

    def close(self) -> None:
        """Stop the worker now (it is stopped anyway when this object goes, and at exit)."""
        self._finalizer()

    @property
    def device(self) -> torch.device:
        assert self._device is not None
        return self._device

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id (None: none running)."""
        w = self._worker
        return w.process.pid if w is not None and w.alive() else None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        got = self._ask("getattr", attr)
        if isinstance(got, _Module):
            raise ConfigError(f"{self._label}: its torch module stays in its worker process (runtime.isolate: "
                              f"process); what reads '{attr}' needs the model in the run's process: use "
                              "runtime: {isolate: none}")
        if isinstance(got, _Method):
            def remote(*a: Any, **kw: Any) -> Any:
                return self._ask("call", attr, *a, **kw)

            remote.__name__ = attr
            return remote
        return got

    def __repr__(self) -> str:
        return f"<{type(self).__name__} '{self._name}' in worker {self.worker_pid}>"


def isolated_adapter(label: str, name: str, args: dict[str, Any], ctx: Any) -> IsolatedAdapter:
    """The adapter ``name`` built in a worker process (bench.adapters.base.build_adapter runs there, so a bad argument
    is the same one-line error as without isolation); ``label`` names the model in errors (``model 'm'``)."""
    from bench.adapters.base import ADAPTERS

    cls = ADAPTERS.get(name)
    proxy = type(cls.__name__, (IsolatedAdapter,), {
        "kind": cls.kind, "data_only": cls.data_only, "Args": cls.Args, "__qualname__": cls.__qualname__,
        "accepts_classes": classmethod(lambda _c, a: cls.accepts_classes(a))})
    return proxy(label, name, args, ctx)  # type: ignore[no-any-return]
