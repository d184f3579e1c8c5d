"""Tiny user-style models used by the tests through the `python` and `torchscript` adapters."""

from __future__ import annotations

import torch
from torch import nn


class Crashing:
    def generate(self, request):  # noqa: ANN001
        raise RuntimeError("boom")


class LinearDigits(nn.Module):
    """z [n, 16] → images in [-1, 1], shape [n, 1, 8, 8]; fixed weights (seeded)."""

    latent_dim = 16

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(16, 64, generator=g) * 0.3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.w).view(-1, 1, 8, 8)


class SleepGenerator:
    """Known cost: sleeps ``ms`` milliseconds per call, whatever the batch size (perf honesty tests)."""

    def __init__(self, ms: float = 20.0) -> None:
        self.ms = ms

    def generate(self, request):  # noqa: ANN001
        import time

        time.sleep(self.ms / 1000.0)
        return torch.zeros((request.n, 1, 8, 8), dtype=torch.uint8)


_ARITH_A = torch.ones(192, 192, dtype=torch.float64) / 192
_ARITH_BUFFERS = (torch.empty(192, 192, dtype=torch.float64), torch.empty(192, 192, dtype=torch.float64))


def fixed_arithmetic(reps: int = 30) -> torch.Tensor:
    """A fixed amount of arithmetic: ``reps`` 192x192 float64 matmuls on one thread, into two preallocated
    buffers. Allocation-free on purpose: fresh 295 KB intermediates are mmap-sized, so their cost (page faults,
    and where they land) depended on what the caller's loop held, which once made the same work 4-12% apart
    between two loops in a long test session."""
    x = _ARITH_A
    for i in range(reps):
        out = _ARITH_BUFFERS[i % 2]
        torch.matmul(x, _ARITH_A, out=out)
        x = out
    return x


class ArithmeticGenerator:
    steps = 30

    def generate(self, request):  # noqa: ANN001
        fixed_arithmetic(self.steps)
        return torch.zeros((request.n, 1, 8, 8), dtype=torch.uint8)


class InvertTranslator:
    """Translates both ways by inverting pixel values (floats in [-1, 1]); ignores seeds."""

    directions = ("a2b", "b2a")

    def translate(self, x, direction, seeds):  # noqa: ANN001, ANN201
        return -x


class NoisyInvert:
    """Inverts and adds seeded noise per sample (a stochastic translator for batch-size invariance tests)."""

    directions = ("a2b",)

    def translate(self, x, direction, seeds):  # noqa: ANN001, ANN201
        noise = torch.stack([torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(s)) for s in seeds])
        return (-x + 0.2 * noise).clamp(-1, 1)


class NegModule(nn.Module):
    """A plain module (one direction): used through `python-translator` with directions: [a2b]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


class ColourCaptioner(nn.Module):
    """A tiny captioner with a TorchScript-able forward: the colour nearest to the mean of each image's bright
    pixels, as token ids ``[N, 4]`` ("a <colour> shape <eos>") in the shapes vocabulary (its ``vocab`` attribute);
    ``caption()`` decodes the same ids for the python-captioner adapter."""

    def __init__(self) -> None:
        super().__init__()
        from bench.shapes import world

        self.vocab = list(world.VOCAB)
        self.register_buffer("palette", torch.tensor([world.COLOURS[c] for c in world.COLOUR_NAMES], dtype=torch.float32))
        self.register_buffer("colour_ids", torch.tensor([world.VOCAB.index(c) for c in world.COLOUR_NAMES]))
        self.register_buffer("frame", torch.tensor([world.VOCAB.index("a"), 0, world.VOCAB.index("shape"), world.EOS]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        bright = (x.sum(1, keepdim=True) > 150).float()
        mean = (x * bright).sum((2, 3)) / bright.sum((2, 3)).clamp(min=1.0)
        colour = torch.cdist(mean, self.palette).argmin(1)
        out = self.frame.repeat(images.shape[0], 1)
        out[:, 1] = self.colour_ids[colour]
        return out

    def caption(self, images: torch.Tensor) -> list[str]:
        from bench.shapes import world

        return [world.decode(row) for row in self.forward(images).tolist()]


class StringCaptioner(nn.Module):
    """TorchScript-able, returns ``List[str]``; ``short`` drops one caption (a wrong-length output)."""

    def __init__(self, short: bool = False) -> None:
        super().__init__()
        self.short = short

    def forward(self, images: torch.Tensor) -> list[str]:
        n = images.shape[0] - 1 if self.short else images.shape[0]
        return ["a red circle" for _ in range(n)]


class FloatOutput(nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mean((1, 2, 3))


class TinyRetriever:
    """A retriever for the `python-retriever` adapter: mean colour of an image, letter counts of a text."""

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return images.float().mean((2, 3))

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([[t.count("r"), t.count("g"), t.count("b")] for t in texts], dtype=torch.float32)


class PromptLength:
    """A text-to-image model for the `python-t2i` adapter: grey level from the prompt's length, noise from the seed."""

    def generate(self, request):  # noqa: ANN001, ANN201
        out = []
        for p, s in zip(request.prompts, request.seeds, strict=True):
            noise = torch.randint(0, 16, (3, 8, 8), generator=torch.Generator().manual_seed(s))
            out.append((noise + 4 * len(p)).clamp(0, 255).to(torch.uint8))
        return torch.stack(out)


class CountingDigits(LinearDigits):
    """LinearDigits that records every sample index it is asked for (class-wide, across instances), and can be
    made to die at one batch like a killed process (``KILL_AT``: the first index of the batch that never returns)."""

    asked: list[int] = []
    KILL_AT: int | None = None

    def generate(self, request):  # noqa: ANN001
        idx = list(request.indices)
        if CountingDigits.KILL_AT is not None and CountingDigits.KILL_AT in idx:
            CountingDigits.KILL_AT = None
            raise KeyboardInterrupt  # what a killed run looks like from inside
        CountingDigits.asked += idx
        return self(request.latents(self.latent_dim))


class TinyVQ(nn.Module):
    """A discrete autoencoder for the autoencoder adapters' tests: each pixel of a 1x8x8 image in [-1, 1] is
    quantized to the nearest of ``codebook_size`` evenly spaced levels (its code), and decoded back to that level.
    TorchScript-able (``encode``/``decode`` exported); ``elbo`` is a stand-in likelihood: uniform over the levels."""

    def __init__(self, codebook_size: int = 5) -> None:
        super().__init__()
        self.codebook_size = codebook_size
        self.register_buffer("levels", torch.linspace(-1.0, 1.0, codebook_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])

    @torch.jit.export
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = (x[..., None] - self.levels).abs().argmin(-1)
        return self.levels[codes], codes.flatten(1)

    @torch.jit.export
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z

    @torch.jit.export
    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        per_image = float(x[0].numel()) * torch.log(torch.tensor([1.0 / self.codebook_size], dtype=torch.float64))
        return per_image.repeat(n)


class ContinuousAE:
    """A continuous autoencoder as a plain object: encode returns a dict; decode adds nothing."""

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"latents": x * 0.5}

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z * 2.0


class Hanging:
    """A model that hangs: each call sleeps ``seconds`` (timeout_s tests)."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds

    def generate(self, request):  # noqa: ANN001
        import time

        time.sleep(self.seconds)
        return torch.zeros((request.n, 1, 8, 8), dtype=torch.uint8)


class Swallowing:
    """A model that hangs and swallows every ``Exception`` raised into it, retrying forever (timeout_s tests)."""

    def generate(self, request):  # noqa: ANN001
        import time

        while True:
            try:
                time.sleep(0.05)
            except Exception:  # noqa: BLE001, S110 (the point: a model that catches what it should not)
                pass


class SeededDigits:
    """Images from each sample's seed alone (the same item whatever the batch), in [-1, 1]. Above ``limit`` items
    a call raises torch.cuda.OutOfMemoryError as a GPU out of memory would (tested on the CPU); every batch size
    asked for is kept in ``SeededDigits.asked``."""

    asked: list[int] = []

    def __init__(self, limit: int = 1 << 30) -> None:
        self.limit = limit

    def generate(self, request):  # noqa: ANN001
        SeededDigits.asked.append(request.n)
        if request.n > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {request.n} MiB (injected)")
        return torch.tanh(request.latents(1, 8, 8))


class Signalling:
    """Sends this process ``signal`` (a scheduler's SIGTERM, Ctrl-C's SIGINT) on its first call while the file
    ``once`` does not exist (it is created then: a resumed run goes through); zeros otherwise."""

    def __init__(self, once: str, signal: str = "SIGTERM") -> None:
        self.once, self.signal = once, signal

    def generate(self, request):  # noqa: ANN001
        import os
        import signal

        if not os.path.exists(self.once):
            open(self.once, "w").close()
            os.kill(os.getpid(), getattr(signal, self.signal))
        return torch.zeros((request.n, 1, 8, 8), dtype=torch.uint8)


class CountingT2I:
    """Renders each prompt's scene with the shapes world (jitter from the sample's seed) and records every sample
    index it is asked for (class-wide): the text-to-image tests count pipeline calls with it."""

    asked: list[int] = []

    def generate(self, request):  # noqa: ANN001
        import numpy as np

        from bench.shapes import world

        CountingT2I.asked += list(request.indices)
        return torch.from_numpy(np.stack([world.render_prompt(p, s) for p, s in zip(request.prompts, request.seeds,
                                                                                      strict=True)]))


class CountingInvert:
    """Inverts its inputs, counts the inputs it is asked for (class-wide), and can die like a killed process once
    ``KILL_AFTER`` inputs were translated (the batch asked for then never returns)."""

    directions = ("a2b", "b2a")
    count = 0
    KILL_AFTER: int | None = None

    def translate(self, x, direction, seeds):  # noqa: ANN001, ANN201
        if CountingInvert.KILL_AFTER is not None and CountingInvert.count >= CountingInvert.KILL_AFTER:
            CountingInvert.KILL_AFTER = None
            raise KeyboardInterrupt  # what a killed run looks like from inside
        CountingInvert.count += x.shape[0]
        return -x


class BareExcept:
    """Hangs in a retry loop under a bare ``except:``: it swallows every exception, the alarm's BaseException too
    (timeout_s with runtime.isolate: process)."""

    def generate(self, request):  # noqa: ANN001
        import time

        while True:
            try:
                time.sleep(0.05)
            except:  # noqa: E722, S110 (the point: a model that swallows even what stops it)
                pass


class NativeHang:
    """Never returns from native code. ``how: lock``: locks a plain pthread mutex twice (a deadlock: no signal ends
    the wait); ``how: sleep``: ``libc.sleep`` with SIGALRM blocked, so the alarm never reaches Python. Items
    before ``hang_from`` answer (from their seeds), so earlier batches are made before the hang; with ``once`` (a
    file, created at the hang) only the first hang happens. ``log``: a file that gets the first index of each call."""

    def __init__(self, how: str = "lock", hang_from: int = 0, once: str | None = None, log: str | None = None) -> None:
        self.how, self.hang_from, self.once, self.log = how, hang_from, once, log

    def generate(self, request):  # noqa: ANN001
        import ctypes
        import os
        import signal

        if self.log:  # the first item of every call, one line each (the worker is another process)
            with open(self.log, "a") as f:
                f.write(f"{request.indices[0]}\n")
        if request.indices[-1] >= self.hang_from and not (self.once and os.path.exists(self.once)):
            if self.once:
                open(self.once, "w").close()  # a resumed run goes through
            libc = ctypes.CDLL(None)
            if self.how == "lock":
                mutex = ctypes.create_string_buffer(64)  # zeros: PTHREAD_MUTEX_INITIALIZER on glibc
                libc.pthread_mutex_lock(mutex)
                libc.pthread_mutex_lock(mutex)
            else:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
                while True:
                    libc.sleep(3600)
        return torch.tanh(request.latents(1, 8, 8))


class ConvGenerator(nn.Module):
    """z [n, 64] → images [n, 3, size, size] in [-1, 1]: a small convolutional decoder (linear to 8x8, then
    upsample + 3x3 conv to ``size``), weights fixed by seed 0. A realistic generator call for the isolation tests
    and benchmark (scripts/bench_isolate.py)."""

    latent_dim = 64

    def __init__(self, size: int = 64, width: int = 16) -> None:
        super().__init__()
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.fc = nn.Linear(64, width * 8 * 8)
            ups = max(0, (size // 8).bit_length() - 1)
            self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(ups))
            self.out = nn.Conv2d(width, 3, 3, padding=1)
        self.width = width

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z).view(-1, self.width, 8, 8)
        for conv in self.convs:
            x = torch.relu(conv(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")))
        return torch.tanh(self.out(x))


class Exiting:
    """Ends its process at once with exit code 3, as a crashing native library would (isolation tests)."""

    def generate(self, request):  # noqa: ANN001
        import os

        os._exit(3)
