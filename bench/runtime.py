"""Where a run computes: the device (``runtime.device`` in a suite, ``--device`` on the command line) and the
dtype models run in.

``auto`` picks CUDA when torch sees a GPU, else the CPU. Backbones always compute in float32 on the chosen device:
the protocol (network, weights, preprocessing, layer) is the same on every device, and the features of one image
differ between a CPU and a GPU only by float round-off (tests/test_runtime.py states the bound). ``dtype`` is the
autocast dtype of the models under evaluation (bf16/fp16 for large generators); it is recorded in the manifest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bench.errors import ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class RuntimeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    device: str = Field(default="auto", description="auto (CUDA when available), cpu, cuda or cuda:N")
    dtype: Literal["fp32", "bf16", "fp16"] = Field(
        default="fp32", description="autocast dtype of the evaluated models (backbones always run in float32)")
    isolate: Literal["none", "process"] = Field(default="none", description=(
        "process: each model that runs code lives in a worker process, killed when a call passes timeout_s (a "
        "model that swallows every exception or hangs in native code is stopped too); the same outputs, at the "
        "cost of a process start per model and a copy of each batch (bench.isolate, docs/reliability.md)"))

    @field_validator("device")
    @classmethod
    def _known(cls, v: str) -> str:
        problem = device_spec_problem(v)
        if problem:
            raise ValueError(problem)
        return v


def device_spec_problem(spec: str) -> str | None:
    """Why a device string can never be valid (``gpu``, ``cuda:x``), or None."""
    base, _, index = spec.partition(":")
    if base not in ("auto", "cpu", "cuda", "mps") or (index and (base != "cuda" or not index.isdigit())):
        return f"device '{spec}': use auto, cpu, cuda or cuda:N"
    return None


def resolve_device(spec: str | None) -> torch.device:
    """The torch device for ``spec``; CUDA asked for where there is none is one clear error, not a crash later."""
    spec = spec or "auto"
    problem = device_spec_problem(spec)
    if problem:
        raise ConfigError(problem)
    from bench.distributed import current

    group = current()
    if group is not None and spec in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", group.local_rank)  # under torchrun: this rank's GPU
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(f"device '{spec}': no CUDA device is visible to torch {torch.__version__} ({build}); "
                              "use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device '{spec}': only {torch.cuda.device_count()} CUDA device(s) visible")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device '{spec}': MPS is not available here")
    return dev


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU model (what speed numbers and manifests record)."""
    if device.type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(device)
    from bench.results import cpu_model

    return cpu_model()


def device_record(device: torch.device, dtype: str = "fp32") -> dict[str, Any]:
    """What the manifest records about where a run computed (under torchrun: rank 0's device, and the world)."""
    from bench.distributed import current

    group = current()
    return {"device": str(device), "device_name": device_name(device), "dtype": dtype,
            "cuda": torch.version.cuda if device.type == "cuda" else None,
            "world_size": group.world if group is not None else 1,
            **({"backend": group.backend} if group is not None else {})}


_LIBC: Any = None


def _glibc() -> Any:
    """The C library where it is glibc on Linux (malloc_trim and mallopt exist there), else None."""
    global _LIBC
    if _LIBC is None:
        _LIBC = False
        try:
            import ctypes
            import ctypes.util
            import sys

            if sys.platform.startswith("linux"):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                libc.malloc_trim, libc.mallopt  # noqa: B018 (both exist: glibc, not musl)
                _LIBC = libc
        except (OSError, AttributeError):
            pass
    return _LIBC or None


def trim_heap() -> None:
    """Give the C heap's free pages back to the OS (glibc ``malloc_trim``); a no-op elsewhere.

    A stream allocates and frees the same few batch-sized buffers thousands of times from several threads (decode,
    prefetch, the network). glibc keeps what is freed in per-thread heaps, so without a trim the peak RSS of
    scoring 50,000 256x256 PNGs crept from 0.97 to 1.5-2.7 GiB although only a few batches were ever alive
    (scripts/bench_memory.py). Called every 8 batches of a stream and at both ends of a pass
    (bench.backbones.base.extract_many), it keeps the peak flat at a cost below measurement noise."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


#: glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: allocations above this are mapped from the OS (and unmapped on free); below, they come from the heap. 32 MiB is
#: glibc's own ceiling for its adaptive threshold; fixing it there stops the adaptation, which otherwise moves
#: with every large free.
CPU_MMAP_THRESHOLD = 32 * 2**20
#: free memory at the top of the heap returned to the OS without waiting for :func:`trim_heap`
CPU_TRIM_THRESHOLD = 256 * 2**20
_TUNED = False


def tune_cpu_allocator() -> None:
    """Keep a CPU forward pass's activations in the heap instead of mapping and zeroing fresh pages each call.

    A convolutional network on the CPU allocates and frees the same activation buffers (a few MB to tens of MB)
    for every batch. With glibc's defaults many of them are mapped from the OS, page-faulted and zeroed on every
    call, then unmapped: for Inception at 299x299 about a third of the CPU time went to the kernel
    (``sys``). With the mmap threshold fixed at 32 MiB and a 256 MiB trim threshold, buffers up to 32 MiB are
    reused from the heap; with the backbones' CPU batch sizes (``Backbone.cpu_batch_size``) that is nearly all
    of them. Process-wide and idempotent; the numbers computed do not change (the same kernels run on the same
    inputs), only where their memory comes from. A no-op outside glibc."""
    global _TUNED
    libc = _glibc()
    if _TUNED or libc is None:
        return
    libc.mallopt(_M_MMAP_THRESHOLD, CPU_MMAP_THRESHOLD)
    libc.mallopt(_M_TRIM_THRESHOLD, CPU_TRIM_THRESHOLD)
    _TUNED = True


@contextlib.contextmanager
def model_context(device: torch.device, dtype: str) -> Iterator[None]:
    """No gradients, and autocast to ``dtype`` (other than fp32) for calls into the evaluated model."""
    with torch.no_grad():
        if dtype == "fp32":
            yield
        else:
            with torch.autocast(device.type, dtype=DTYPES[dtype]):
                yield
