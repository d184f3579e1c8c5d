"""Generator sources: data-only replays, Python factories, TorchScript files; per-sample seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bench.adapters import AdapterContext, GenerationRequest, build_adapter

from bench.images import save_png, to_uint8
from bench.seeding import sample_seeds
from tests.models import LinearDigits


def _request(start: int, stop: int, base: int = 7) -> GenerationRequest:
    return GenerationRequest(indices=range(start, stop), seeds=sample_seeds(base, start, stop))


def _batched(adapter, n: int, bs: int) -> torch.Tensor:
    return torch.cat([adapter.generate(_request(s, min(n, s + bs))) for s in range(0, n, bs)])


def test_python_factory_is_batch_size_invariant() -> None:
    a = build_adapter("python", {"target": "tests.models:LinearDigits", "range": "-1,1"}, AdapterContext())
    one = _batched(a, 30, 30)
    assert one.dtype == torch.uint8 and one.shape == (30, 1, 8, 8)
    assert torch.equal(one, _batched(a, 30, 7))
    assert torch.equal(one, _batched(a, 30, 1))
    # the latent of sample i is drawn from sample i's seed alone
    z = _request(3, 4).latents(16)
    expected = to_uint8(LinearDigits()(z).detach(), (-1.0, 1.0))
    assert torch.equal(one[3:4], expected)


def test_torchscript_file_gives_same_images_as_the_module(tmp_path: Path) -> None:
    path = tmp_path / "g.pt"
    torch.jit.script(LinearDigits()).save(str(path))
    ctx = AdapterContext(resolve_path=lambda p: tmp_path / p)
    ts = build_adapter("torchscript", {"path": "g.pt", "latent_dim": 16}, ctx)
    py = build_adapter("python", {"target": "tests.models:LinearDigits"}, ctx)
    assert torch.equal(_batched(ts, 20, 8), _batched(py, 20, 20))


def test_torchscript_missing_or_broken_file(tmp_path: Path) -> None:
    from bench.errors import InputError

    ctx = AdapterContext(resolve_path=lambda p: tmp_path / p)
    with pytest.raises(InputError, match="g.pt: TorchScript file does not exist"):
        build_adapter("torchscript", {"path": "g.pt", "latent_dim": 16}, ctx)
    (tmp_path / "b.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="b.pt: cannot load TorchScript"):
        build_adapter("torchscript", {"path": "b.pt", "latent_dim": 16}, ctx)


def test_folder_and_npz_replay_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    imgs = torch.from_numpy(rng.integers(0, 256, (12, 3, 8, 8), dtype=np.uint8))
    for i in range(12):
        save_png(imgs[i], tmp_path / f"{i:02d}.png")
    ctx = AdapterContext(resolve_path=lambda p: tmp_path / p)
    folder = build_adapter("folder", {"path": "."}, ctx)
    assert torch.equal(_batched(folder, 12, 5), imgs)
    np.savez(tmp_path / "s.npz", samples=imgs.permute(0, 2, 3, 1).numpy())  # NHWC is accepted
    npz = build_adapter("npz", {"path": "s.npz"}, ctx)
    assert torch.equal(_batched(npz, 12, 12), imgs)


def test_float_npz_is_rounded_not_truncated(tmp_path: Path) -> None:
    arr = np.full((2, 1, 2, 2), 254.6 / 255, dtype=np.float64)  # rounds to 255; truncation gives 254
    np.savez(tmp_path / "f.npz", samples=arr)
    npz = build_adapter("npz", {"path": "f.npz", "range": "0,1"}, AdapterContext(resolve_path=lambda p: tmp_path / p))
    out = npz.generate(_request(0, 2))
    assert int(out.max()) == 255  # truncation would give 254
    with pytest.raises(Exception, match="explicit value range"):
        build_adapter("npz", {"path": "f.npz"}, AdapterContext(resolve_path=lambda p: tmp_path / p)).generate(_request(0, 2))


def test_noise_and_gmm_are_seeded_per_sample() -> None:
    noise = build_adapter("noise", {}, AdapterContext())
    assert torch.equal(_batched(noise, 10, 3), _batched(noise, 10, 10))
    gmm = build_adapter("digits-gmm", {"components": 3}, AdapterContext())
    x = _batched(gmm, 10, 4)
    assert torch.equal(x, _batched(gmm, 10, 10)) and x.shape == (10, 1, 8, 8)
    assert not torch.equal(x, _batched(noise, 10, 10))
