"""In-process evaluation (bench.evaluate): tensors and modules in, typed rows out, the CLI's numbers, nothing written
but the content cache, a generator module taken as it is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import bench
from bench.cli import main
from bench.data import digits
from bench.errors import InputError
from bench.results import Row


class Tanh(torch.nn.Module):
    latent_dim = 16

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(16, 64, generator=g) * 0.4)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z @ self.w).view(-1, 1, 8, 8)


@pytest.fixture(scope="module")
def sets() -> tuple[torch.Tensor, torch.Tensor]:
    x, _ = digits.load("test")
    r, _ = digits.load("train")
    return x[:200], r[:300]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


def test_tensors_give_typed_rows_equal_to_the_cli(sets: tuple[torch.Tensor, torch.Tensor], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    gen, ref = sets
    rows = bench.evaluate(gen, ref, ["fid", "kid", "prc"], protocol="digits")
    assert all(isinstance(r, Row) and r.protocol and r.protocol_id for r in rows)
    got = {r.metric: r.value for r in rows}
    np.save(tmp_path / "a.npy", gen.numpy())
    np.save(tmp_path / "b.npy", ref.numpy())
    assert main(["score", "images", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--fid", "--kid", "--prc",
                 "--protocol", "digits", "--json"]) == 0
    cli = {k: v["value"] for k, v in json.loads(capsys.readouterr().out)["metrics"].items()}
    assert got.keys() == cli.keys()
    for k in got:
        assert got[k] == pytest.approx(cli[k], rel=1e-9), k
    # the Python API's dict is the same numbers
    assert bench.score_images(gen, ref, ["fid", "kid", "prc"], protocol="digits") == got


def test_nothing_is_written_but_the_content_cache(sets: tuple[torch.Tensor, torch.Tensor], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    gen, ref = sets
    cache = tmp_path / "cache"
    monkeypatch.setenv("GENBENCH_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    roots = [tmp_path, Path(tempfile.gettempdir())]
    before = {root: _files(root) for root in roots}
    bench.evaluate(gen, ref, ["fid"], protocol="digits")
    for root in roots:
        new = {p for p in _files(root) - before[root] if cache not in p.parents and p != cache}
        assert not new, sorted(new)[:5]
    assert any(cache.rglob("*.npz"))  # features were cached by content


def test_a_generator_module_is_evaluated_as_it_is(sets: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, ref = sets
    model = Tanh()
    a = bench.evaluate(model, ref, ["fid"], protocol="digits", n=120, range="-1,1", seed=3, cache=False)
    b = bench.evaluate(model, ref, ["fid"], protocol="digits", n=120, range="-1,1", seed=3, cache=False)
    assert a[0].value == b[0].value and a[0].n == 120
    from bench import api

    assert not hasattr(api, "_LIVE")  # no module-global registry of live models
    with pytest.raises(InputError, match="n="):
        bench.evaluate(model, ref, ["fid"], protocol="digits")


def test_float_tensors_need_their_range(sets: tuple[torch.Tensor, torch.Tensor]) -> None:
    gen, ref = sets
    with pytest.raises(InputError, match="range"):
        bench.evaluate(gen.float() / 255, ref, ["fid"], protocol="digits")
    rows = bench.evaluate(gen.float() / 255, ref, ["fid"], protocol="digits", range="0,1", cache=False)
    assert rows[0].value == pytest.approx(bench.evaluate(gen, ref, ["fid"], protocol="digits", cache=False)[0].value,
                                          rel=1e-12)



