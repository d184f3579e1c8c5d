"""Parity of every Inception protocol with its reference tool, offline, on random-init weights.

One module-scoped run (bench.parity.parity_rows: 12 + 12 PNGs of 32x32, each tool and each genbench backbone
through a 299x299 Inception on CPU) takes about a minute on 2 cores, hence ``slow``. Tolerances are the
issue's: FID/KID 1e-6 relative vs torch-fidelity, IS 1e-4; clean-fid and torchmetrics FID 1e-5 relative.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.parity import ParityRow, parity_rows

pytestmark = pytest.mark.slow

TOL = {("tf-compat", "fid"): 1e-6, ("tf-compat", "kid"): 1e-6, ("tf-compat", "isc"): 1e-4,
       ("tf-compat", "precision"): 0.0, ("tf-compat", "recall"): 0.0}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], ParityRow]:
    return {(r.protocol, r.metric): r for r in parity_rows(Path(tmp_path_factory.mktemp("parity")))}


@pytest.mark.parametrize("key", [("tf-compat", "fid"), ("tf-compat", "kid"), ("tf-compat", "isc"),
                                 ("tf-compat", "precision"), ("tf-compat", "recall"), ("clean", "fid"),
                                 ("legacy-tf", "fid"), ("legacy-pytorch", "fid"), ("tm-antialias", "fid")])
def test_matches_reference_tool(rows: dict[tuple[str, str], ParityRow], key: tuple[str, str]) -> None:
    r = rows[key]
    tol = TOL.get(key, 1e-5)
    assert r.ours == pytest.approx(r.theirs, rel=tol, abs=1e-12), f"{r.protocol} {r.metric}: {r.ours} vs {r.anchor} {r.theirs}"


def test_protocols_really_differ(rows: dict[tuple[str, str], ParityRow]) -> None:
    """The preprocessing differences are real on these images: otherwise the parity above proves little."""
    fids = {p: rows[(p, "fid")].ours for p in ("tf-compat", "clean", "legacy-pytorch", "tm-antialias")}
    assert len({round(v, 6) for v in fids.values()}) == len(fids), fids
