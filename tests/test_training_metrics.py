"""bench.Metrics, the training-loop accumulator: the CLI's numbers whatever the batching, order or number of ranks.

- FID from the float64 sums equals the CLI's FID (bench.metrics.FID on all the rows at once) to 1e-9 relative,
  fed in batches of 1, 7 and 64 in shuffled orders (full-rank features against a statistics reference, where the
  d x d path is well conditioned: ~1e-11 measured).
- End to end on images: ``genbench score images`` (bench.score.score_images) on the same files gives the same FID,
  KID and precision/recall, and the same protocol record. With tf-compat (seeded random Inception weights in
  torch-fidelity's format; its pooled features are the same bits whatever the batch) to 1e-9; with the digits
  network, whose matrix products round differently for 1, 7 or 64 rows, to that network's float32 round-off.
- Two gloo ranks under torchrun, each updating with half the samples, compute what one process with all computes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import bench
from bench.backbones import get_backbone
from bench.errors import ConfigError, InputError
from bench.metrics import get_metric
from bench.metrics.base import Reference, SampleSet
from bench.metrics.frechet import GaussianStats
from bench.refstats import backbone_protocol, write_reference
from bench.score import score_images

D = 128  # the digits network's pool layer


def _synthetic(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-rank 128-d reference statistics and 1,000 generated rows near them."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(D, D))
    ref = rng.normal(size=(5000, D)) @ a * 0.1 + 1.0
    g = (rng.normal(size=(1000, D)) @ a * 0.11 + 1.05).astype(np.float32)
    return ref.mean(0), np.cov(ref, rowvar=False), g


def write_synthetic_reference(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, sigma, g = _synthetic()
    bb = get_backbone("digits")
    bb.resolve_weights()
    write_reference(path, "synthetic", mu, sigma, 5000, backbone_protocol(bb), {"tool": "test"})
    return mu, sigma, g


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from bench.data import digits

    root = tmp_path_factory.mktemp("training")
    x, _ = digits.load("all")
    np.savez(root / "gen.npz", x[:300].numpy())
    np.savez(root / "ref.npz", x[600:1200].numpy())
    write_synthetic_reference(root / "stats.npz")
    return {"root": root, "gen": root / "gen.npz", "ref": root / "ref.npz", "stats": root / "stats.npz"}


def _feed(m: bench.Metrics, x: torch.Tensor | np.ndarray, batch: int, seed: int | None,
          features: bool = False) -> None:
    """Reset, then feed ``x`` in batches of ``batch``, shuffled by ``seed`` (None: in order)."""
    m.reset()
    order = np.arange(len(x)) if seed is None else np.random.default_rng(seed).permutation(len(x))
    for i in range(0, len(x), batch):
        part = x[order[i: i + batch]]
        m.update_features(part) if features else m.update(part)


def test_fid_from_float64_sums_equals_the_clis_fid_whatever_the_batches_and_order(files: dict[str, Path]) -> None:
    mu, sigma, g = _synthetic()
    cli = get_metric("fid")().compute(SampleSet(features={"pool": g}, layer="pool"),
                                      Reference(stats=GaussianStats(mu, sigma, 5000), layer="pool"), seed=0)[0].value
    m = bench.Metrics(["fid"], protocol="digits", reference=files["stats"], cache=False)
    got = []
    for batch, seed in ((1, 1), (7, 2), (64, 3), (64, 4)):
        _feed(m, g, batch, seed, features=True)
        got.append(m.compute()["fid"])
        assert m._rows is None  # FID alone past d rows: only the O(d^2) sums are held
    assert m._last[0].extras["method"] == "d x d (float64 sums)"
    for v in got:
        assert abs(v - cli) / cli < 1e-9, (v, cli)


def test_digits_images_in_any_batches_give_the_clis_numbers_and_protocol(files: dict[str, Path]) -> None:
    from bench.images import load_npz

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = score_images(str(files["gen"]), str(files["ref"]), ["fid", "kid", "prc"], protocol="digits",
                           progress=False, cache=False)
        m = bench.Metrics(["fid", "kid", "prc"], protocol="digits", reference=files["ref"], cache=False)
        gen = load_npz(files["gen"])
        for batch, seed in ((1, 1), (7, 2), (64, 3)):
            _feed(m, gen, batch, seed)
            got = m.compute()
            want = {k: v["value"] for k, v in cli["metrics"].items()}
            assert set(got) == set(want)
            # the digits network's float32 matrix products round differently for 1, 7 or 64 rows (~1e-6 on a
            # feature); on the CLI's own rows the accumulator adds nothing (the test above)
            assert abs(got["fid"] - want["fid"]) / want["fid"] < 1e-6
            assert abs(got["kid"] - want["kid"]) / want["kid"] < 1e-5
            for k in ("precision", "recall", "f_score"):
                assert got[k] == pytest.approx(want[k], abs=1 / 300 + 1e-12)
        rows = m.rows()
    assert [r.metric for r in rows] == ["fid", "kid", "precision", "recall", "f_score"]
    assert rows[0].protocol == cli["protocol"] and rows[0].protocol_id == cli["protocol_id"]
    assert rows[0].n == 300 and rows[0].backbone == "digits" and rows[0].higher_is_better is False


@pytest.fixture(scope="module")
def inception(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from bench.parity import write_image_folders, write_random_weights

    root = tmp_path_factory.mktemp("inception")
    w = write_random_weights(root / "weights")
    a, b = write_image_folders(root / "ab", n=6, seed=5)
    return {"pth": w["pth"], "a": a, "b": b}


@pytest.mark.slow
def test_tf_compat_in_batches_of_1_7_and_64_equals_score_images(inception: dict[str, Path]) -> None:
    """Six 32x32 images a side on seeded random Inception weights (torch-fidelity's format)."""
    from bench.images import load_folder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = score_images(str(inception["a"]), str(inception["b"]), ["fid", "kid", "prc"], protocol="tf-compat",
                           weights=str(inception["pth"]), progress=False, cache=False)
        want = {k: v["value"] for k, v in cli["metrics"].items()}
        m = bench.Metrics(["fid", "kid", "prc"], protocol="tf-compat", reference=inception["b"],
                          weights=inception["pth"], cache=False)
        gen = load_folder(inception["a"])
        for batch, seed in ((1, None), (1, 1), (7, 2), (64, 3)):
            _feed(m, gen, batch, seed)
            got = m.compute()
            assert abs(got["fid"] - want["fid"]) / want["fid"] < 1e-9, (got, want)
            if seed is None:  # the same rows in the same order: torch-fidelity's KID to the bit
                assert got["kid"] == want["kid"]
            else:  # float32 kernel sums over rows in another order (KID is a difference of means: ~0 here)
                assert abs(got["kid"] - want["kid"]) < 1e-5
            for k in ("precision", "recall", "f_score"):
                assert got[k] == want[k]
        rows = m.rows()
    assert rows[0].protocol == cli["protocol"]


def test_bounds_and_refusals(files: dict[str, Path]) -> None:
    x = torch.zeros(5, 1, 8, 8, dtype=torch.uint8)
    m = bench.Metrics(["fid", "kid"], protocol="digits", reference=files["ref"], max_samples=8, cache=False)
    m.update(x)
    with pytest.raises(InputError, match="exceed max_samples=8"):
        m.update(x)
    assert m.n == 5  # nothing of the refused batch was added
    m.reset()
    assert m.n == 0 and m._rows == [] and float(m._s2.abs().sum()) == 0.0  # type: ignore[union-attr]
    with pytest.raises(InputError, match="at least 2"):
        m.compute()
    with pytest.raises(InputError, match="float32 images"):
        m.update(torch.zeros(2, 1, 8, 8))
    with pytest.raises(InputError, match=r"expected \[n, 128\]"):
        m.update_features(np.zeros((3, 5), np.float32))
    with pytest.raises(InputError, match="statistics only"):
        bench.Metrics(["fid", "kid"], protocol="digits", reference=files["stats"])
    with pytest.raises(ConfigError, match="computes fid, kid, prc"):
        bench.Metrics(["isc"], protocol="digits", reference=files["ref"])
    with pytest.raises(InputError, match="no such folder"):
        bench.Metrics(["fid"], protocol="digits", reference=files["root"] / "missing")
    # float images in a declared range are quantized as the CLI does
    f = bench.Metrics(["fid"], protocol="digits", reference=files["ref"], range=(0, 1), cache=False)
    f.update(torch.rand(4, 1, 8, 8))
    assert f.n == 4


def test_reference_features_come_from_the_content_cache(files: dict[str, Path], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.features import FeatureStore

    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    calls = []
    real = FeatureStore.compute

    def counting(self: FeatureStore, *a: object, **k: object) -> object:
        calls.append(1)
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(FeatureStore, "compute", counting)
    first = bench.Metrics(["fid"], protocol="digits", reference=files["ref"])
    second = bench.Metrics(["fid"], protocol="digits", reference=files["ref"])  # a new process would read the disk
    assert len(calls) == 1
    assert np.array_equal(first.reference.x, second.reference.x)
    assert list((tmp_path / "cache" / "features").rglob("*.npz"))


RANK_SCRIPT = r"""
import json, os, sys, warnings
import numpy as np, torch, torch.distributed as dist
import bench
from bench.images import load_npz
warnings.simplefilter("ignore")
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
root = sys.argv[1]
gen = load_npz(os.path.join(root, "gen.npz"))
feats = np.load(os.path.join(root, "feats.npy"))
m = bench.Metrics(["fid", "kid", "prc"], protocol="digits", reference=os.path.join(root, "ref.npz"))
s = bench.Metrics(["fid"], protocol="digits", reference=os.path.join(root, "stats.npz"))
if rank == 1:  # a rank whose reference mean differs in its last bits (features made on another device)
    s._center = s._center + 1e-3
    s._c = torch.as_tensor(s._center)
half = len(gen) // world
for i in range(rank * half, (rank + 1) * half, 50):
    m.update(gen[i: i + 50])
half = len(feats) // world
for i in range(rank * half, (rank + 1) * half, 64):
    s.update_features(feats[i: min(i + 64, (rank + 1) * half)])
out = {**m.compute(), "fid_sums": s.compute()["fid"], "n": m.n}
with open(os.path.join(root, f"rank{rank}.json"), "w") as f:
    json.dump(out, f)
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_two_gloo_ranks_with_half_the_samples_each_equal_one_process(files: dict[str, Path], tmp_path: Path) -> None:
    from bench.images import load_npz

    root = files["root"]
    _, _, g = _synthetic()
    np.save(root / "feats.npy", g)
    (root / "rank.py").write_text(RANK_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GENBENCH_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(Path(bench.__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(root / "rank.py"), str(root)], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    r0, r1 = (json.loads((root / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == {**r1, "n": r0["n"]} and r0["n"] == r1["n"] == 150  # every rank returns the same numbers

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = bench.Metrics(["fid", "kid", "prc"], protocol="digits", reference=files["ref"], cache=False)
        gen = load_npz(files["gen"])
        for i in range(0, len(gen), 50):  # the same batches the ranks fed: the same feature bits
            one.update(gen[i: i + 50])
        want = one.compute()
        s = bench.Metrics(["fid"], protocol="digits", reference=files["stats"], cache=False)
        s.update_features(g)
        want_sums = s.compute()["fid"]
    for k, v in want.items():
        assert r0[k] == pytest.approx(v, rel=1e-12), k
    assert abs(r0["fid_sums"] - want_sums) / want_sums < 1e-9
