"""genbench's command line runs torch's OpenMP threads with ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it.

Why: with libgomp's default policy a thread that reaches the end of a parallel region spins for a while before it
sleeps. On a machine whose cores other jobs hold, the spinning threads take CPU from the threads that still have
work, and every short parallel region (an elementwise op, a small convolution) costs far more CPU and wall time
than its work. Measured on a shared 2-core machine under load (scripts/bench_ssim.py, scripts/bench_cpu_load.py; figures in
docs/measurements.md): the Inception forward (4 images per call) used 22-23 s of CPU for 16 images with the
default policy, 6 s with PASSIVE, against torch-fidelity's 11-12 s; SSIM of 200 64x64 pairs ran 2-3x faster. The
features are bit-identical (the same kernels run; only how idle threads wait changes).

libgomp reads the variable once, when it is loaded with torch, so this module must be imported before torch:
``bench.cli`` imports it first. A user's own ``OMP_WAIT_POLICY`` is kept, and a process that imported torch
already (genbench used as a library) is left as it is.
"""

from __future__ import annotations

import os
import sys

ENV = "OMP_WAIT_POLICY"


def prefer_passive_wait() -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for this process when it is still possible and the user has not chosen;
    True when set."""
    if ENV in os.environ or "torch" in sys.modules:
        return False
    os.environ[ENV] = "PASSIVE"
    return True


prefer_passive_wait()
