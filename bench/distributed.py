"""One run on many processes: ``torch.distributed`` under ``torchrun`` (many GPUs, many nodes; gloo on CPUs).

genbench schedules nothing: ``torchrun`` (or Slurm's ``srun`` launching it) starts the processes and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous; :func:`init_from_env` joins that group. Then:

- every feature pass (a model's samples, a reference's files) is split into exact, disjoint, contiguous slices of
  the sample indices (:meth:`Group.span`: no padding, no duplicate, which would move FID); each rank generates and
  featurizes its slice on ``cuda:LOCAL_RANK`` (or the CPU), and the rows are gathered in index order to every rank
  (bench.features.FeatureStore.compute). Per-sample seeds make the set the same for any world size, so the
  features are those of a single process up to the float round-off of different batch boundaries;
- everything after a pass (fitting references, every metric) runs the same way on every rank from the same
  features with the same seeds, so the ranks stay in step without a second protocol; rank 0 alone writes the run
  folder (its id is broadcast), prints, and writes the on-disk feature cache (local rank 0 of each node);
- a failure inside a pass on any rank (a model that crashes on its slice) is agreed on (:meth:`Group.agree`), so
  every rank records the same error for that model and goes on together; a rank that dies or stops answering
  makes the others fail their next collective within the timeout (``GENBENCH_DIST_TIMEOUT``, seconds) with one
  line (:class:`RanksLostError`), and the rows finished so far stay in the run folder for ``--resume``.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from bench.errors import ConfigError, GenbenchError

T = TypeVar("T")
#: seconds a rank waits in a collective for the others before giving up (a dead or hung rank)
DEFAULT_TIMEOUT = 1800.0


class RanksLostError(GenbenchError):
    """The other ranks stopped answering (one died, or hung past the timeout): the run cannot go on."""

    exit_code = 3


class RemoteRankError(GenbenchError):
    """A step failed on another rank; every rank raises it (with that rank's message) so all go on in step."""

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback


def span(n: int, rank: int, world: int) -> tuple[int, int]:
    """The contiguous slice ``[lo, hi)`` of ``range(n)`` that ``rank`` of ``world`` takes: sizes differ by at most
    one, the first ``n % world`` ranks take the extra item, and the slices cover ``range(n)`` exactly once."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)


@dataclass
class Group:
    """This process's place in the run: rank, world size, local rank (its GPU), backend."""

    rank: int
    world: int
    local_rank: int
    backend: str

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def writes_cache(self) -> bool:
        """One writer of the on-disk feature cache per node (a shared file system gets identical atomic writes)."""
        return self.local_rank == 0

    def span(self, n: int) -> tuple[int, int]:
        return span(n, self.rank, self.world)

    def _collective(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GenbenchError:
            raise
        except Exception as exc:  # gloo: connection closed / timed out; NCCL: watchdog abort
            first = re.sub(r"^\[[^\]]*\]\s*", "", (str(exc).strip().splitlines() or [exc.__class__.__name__])[0])
            first = first.split(". ")[0][:160]  # "Read error [127.0.0.1]:37555: Connection reset by peer"
            raise RanksLostError(
                f"rank {self.rank} of {self.world}: the other ranks stopped answering during {what} ({first}); "
                "a rank died or hung; the rows finished so far are kept: rerun with --resume RUN_DIR") from None

    def gather(self, obj: Any, what: str) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        self._collective(what, lambda: dist.all_gather_object(out, (what, obj)))
        steps = {step for step, _ in out}
        if steps != {what}:  # never pair one rank's data with another step's: stop instead of a wrong number
            raise RanksLostError(f"rank {self.rank} of {self.world}: ranks out of step ({' / '.join(sorted(steps))}); "
                                 "the rows finished so far are kept: rerun with --resume RUN_DIR")
        return [o for _, o in out]

    def broadcast(self, obj: Any, what: str) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj if self.main else None]
        self._collective(what, lambda: dist.broadcast_object_list(box, src=0))
        return box[0]

    def all_true(self, flag: bool, what: str) -> bool:
        return all(self.gather(bool(flag), what))

    def agree(self, error: BaseException | None, what: str) -> None:
        """After a step every rank did its part of: if it failed on any rank, raise on every rank (the original
        exception where it happened, a RemoteRankError naming the first failing rank elsewhere)."""
        records = self.gather(_record(error), what)
        if error is not None:
            raise error
        for r, rec in enumerate(records):
            if rec is not None:
                raise _remote(r, rec)

    def on_main(self, fn: Callable[[], T], what: str) -> T:
        """``fn()`` run on rank 0 only; its result (or its error, raised on every rank) broadcast to all."""
        result: Any = None
        error: BaseException | None = None
        if self.main:
            try:
                result = fn()
            except Exception as exc:
                error = exc
        result, failed = self.broadcast((result, _record(error)), what)
        if error is not None:
            raise error
        if failed is not None:
            raise _remote(0, failed, name_plain=False)  # rank 0's input error reads as it would in one process
        return result  # type: ignore[no-any-return]


def _record(error: BaseException | None) -> tuple[str, str, bool, str] | None:
    """What other ranks learn of an error: its class name, message, whether it is a GenbenchError, traceback."""
    if error is None:
        return None
    return (error.__class__.__name__, str(error), isinstance(error, GenbenchError),
            "".join(traceback.format_exception(type(error), error, error.__traceback__)))


def _remote(rank: int, record: tuple[str, str, bool, str], name_plain: bool = True) -> RemoteRankError:
    """The error another rank raises for ``rank``'s ``record``: a GenbenchError keeps its message (prefixed with
    the rank unless ``name_plain`` is False), anything else also names its class."""
    name, message, plain, tb = record
    if plain:
        return RemoteRankError(f"rank {rank}: {message}" if name_plain else message, tb)
    return RemoteRankError(f"rank {rank}: {name}: {message}", tb)


_GROUP: Group | None = None


def current() -> Group | None:
    """The group this process runs in, or None outside torchrun."""
    return _GROUP


def is_main() -> bool:
    return _GROUP is None or _GROUP.main


def launched() -> bool:
    """Whether torchrun (or a launcher setting its variables) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def timeout_seconds() -> float:
    raw = os.environ.get("GENBENCH_DIST_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise ConfigError(f"GENBENCH_DIST_TIMEOUT={raw!r}: expected seconds") from None
    if value <= 0:
        raise ConfigError(f"GENBENCH_DIST_TIMEOUT={raw!r}: expected a positive number of seconds")
    return value


def init_from_env(device: str | None = None) -> Group | None:
    """Join the process group torchrun describes in the environment (None when not launched by it).

    The backend is NCCL where the run computes on CUDA (``device`` auto or cuda and a GPU is visible), gloo
    otherwise; each rank then computes on ``cuda:LOCAL_RANK`` (bench.runtime.resolve_device)."""
    global _GROUP
    if _GROUP is not None or not launched():
        return _GROUP
    import torch  # here, not at the top: `genbench --help` and the table/report commands never load torch
    import torch.distributed as dist

    try:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None
    spec = device or "auto"
    if world > 1 and spec.startswith("cuda:"):
        raise ConfigError(f"device '{spec}': under torchrun each rank computes on cuda:LOCAL_RANK; "
                          "use --device cuda (or auto)")
    cuda = spec.split(":")[0] in ("auto", "cuda") and torch.cuda.is_available()
    backend = "nccl" if cuda else "gloo"
    if cuda:
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local}: only {torch.cuda.device_count()} CUDA device(s) visible on this node")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        try:
            dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()),
                                    device_id=torch.device("cuda", local) if cuda else None)
        except (RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
            raise ConfigError(f"rank {rank} of {world}: could not join the process group ({backend}): {first}") from None
    _GROUP = Group(rank, world, local, backend)
    return _GROUP


def abandon(code: int) -> None:
    """Exit now, without tearing the process group down: after a peer died, gloo's teardown aborts the process
    (SIGABRT, a core dump) instead of letting it exit with its code and its one line."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def shutdown() -> None:
    """Leave the process group (at the end of a command; a no-op outside torchrun)."""
    global _GROUP
    if _GROUP is None:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:  # the others may be gone already; nothing to keep
            pass
    _GROUP = None
