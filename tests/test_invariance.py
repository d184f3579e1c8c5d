"""Invariances a user may rely on (docs/reproducibility.md):

- every registered backbone gives the same features for an image whatever the batch it is computed in (sizes 1,
  7, 32 and 64): bit-equal, or within the bound the backbone declares (``Backbone.batch_rtol``) with its reason;
- every feature metric whose estimator does not depend on sample order gives the same value for permuted samples
  (bench.repro.ORDER_DEPENDENT lists the others, with why);
- the Fréchet distance never calls ``scipy.linalg.sqrtm`` (whose results changed between scipy 1.11.1 and 1.11.3,
  scipy #19415, and whose ``disp=`` argument scipy 1.18 removed): it uses float64 ``numpy.linalg.eigh``.

Third-party backbones run on seeded random weights in their real file format (bench.repro.random_weights, tiny
widths where the real network is costly); networks at 224-299 px are ``slow``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.backbones import BACKBONES, get_backbone
from bench.metrics.base import METRICS, on_features
from bench.repro import ORDER_DEPENDENT, random_weights
from bench.selftest import relative_difference
from tests.conftest import ROOT

BATCH_SIZES = (1, 7, 32, 64)
#: backbones whose network is evaluated at 224-336 px with real widths: a few seconds to a minute of CPU each
SLOW = {"inception-v3-compat", "inception-v3-tm-antialias", "inception-v3-clean", "inception-v3-legacy-tf",
        "inception-v3-legacy-pytorch", "inception-v3-adm", "vgg16-fidelity", "clip-vit-b32", "dinov2"}
#: families tested on bench.repro's "tiny" variant (same classes and file format; DINOv2 as ViT-S/14)
TINY = {"clip", "dinov2", "clip-vit-l14-336"}


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("invariance-weights")


def _images(n: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    base = torch.randint(0, 256, (n, 3, 1, 1), generator=g).expand(n, 3, 24, 24)
    noise = torch.randint(-40, 41, (n, 3, 24, 24), generator=g)
    return (base + noise).clamp(0, 255).to(torch.uint8)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(BACKBONES.names())])
def test_features_do_not_depend_on_the_batch(name: str, weights_dir: Path) -> None:
    spec, weights = random_weights(name, weights_dir, seed=0, size="tiny" if name in TINY else "real")
    b = get_backbone(spec, weights=weights)
    b.ensure_built()
    images = _images()
    if b.domain_problem(tuple(images.shape[1:])) is not None:  # the digits network: its own 8x8 grey domain
        images = images[:, :1, :8, :8]
    with torch.no_grad():
        full = {k: v.float().numpy() for k, v in b.forward(b.preprocess(images)).items()}
        for k in BATCH_SIZES[:-1]:
            part = b.forward(b.preprocess(images[:k]))
            for layer in b.layers:
                got, want = part[layer].float().numpy(), full[layer][:k]
                if b.batch_rtol == 0.0:
                    assert np.array_equal(got, want), (f"{name} layer {layer}: batch {k} differs from batch 64 by "
                                                       f"{relative_difference(got, want):.1e} relative; declared bit-equal")
                else:
                    assert b.batch_rtol_why, f"{name} declares batch_rtol without saying why"
                    assert relative_difference(got, want) <= b.batch_rtol, (name, layer, k)


def _feature_metrics() -> list[str]:
    return sorted(n for n in METRICS.names() if METRICS.get(n).requires <= {"features", "reference.features"})


def _values() -> set[str]:
    return {v for n in _feature_metrics() for v in METRICS.get(n).outputs}


def test_order_dependent_entries_name_registered_metrics_or_values() -> None:
    assert set(ORDER_DEPENDENT) <= set(_feature_metrics()) | _values()


@pytest.mark.parametrize("name", [n for n in _feature_metrics() if n not in ORDER_DEPENDENT])
def test_metric_does_not_depend_on_sample_order(name: str) -> None:
    cls = METRICS.get(name)
    rng = np.random.default_rng(7)
    layer = cls.layer
    d = 10 if layer == "logits" else 16
    gen = rng.normal(0.3, 1.0, (90, d)).astype(np.float32)
    ref = rng.normal(0.0, 1.2, (110, d)).astype(np.float32)
    if layer == "embed":  # a joint embedding space: unit rows
        gen /= np.linalg.norm(gen, axis=1, keepdims=True)
        ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    pg, pr = rng.permutation(len(gen)), rng.permutation(len(ref))
    a = on_features(cls(), {layer: gen}, {layer: ref}, layer=layer, seed=3)
    b = on_features(cls(), {layer: gen[pg]}, {layer: ref[pr]}, layer=layer, seed=3)
    assert [v.metric for v in a] == [v.metric for v in b] and a
    for x, y in zip(a, b, strict=True):
        if x.metric in ORDER_DEPENDENT:
            continue
        assert x.value is not None and y.value is not None, x
        # summation order moves float64 sums by round-off only
        assert y.value == pytest.approx(x.value, rel=1e-9, abs=1e-12), (x.metric, x.value, y.value)


def test_order_dependent_metrics_really_depend_on_order() -> None:
    """The list is honest: each named estimator does change under a permutation (else it belongs above)."""
    rng = np.random.default_rng(8)
    gen = rng.normal(0.3, 1.0, (60, 10)).astype(np.float32)
    ref = rng.normal(0.0, 1.0, (80, 10)).astype(np.float32)
    p = rng.permutation(len(gen))
    q = rng.permutation(len(ref))
    opts = {"kid": {"subsets": 5, "subset_size": 20}, "isc": {"splits": 3, "shuffle": False}}
    for key in ORDER_DEPENDENT:
        name = key if key in METRICS.names() else next(n for n in _feature_metrics() if key in METRICS.get(n).outputs)
        cls = METRICS.get(name)
        layer = cls.layer
        a = on_features(cls(opts.get(name, {})), {layer: gen}, {layer: ref}, layer=layer, seed=3)
        b = on_features(cls(opts.get(name, {})), {layer: gen[p]}, {layer: ref[q]}, layer=layer, seed=3)
        assert any(x.value != y.value for x, y in zip(a, b, strict=True) if key in (name, x.metric)), key


def test_frechet_distance_never_calls_scipy_sqrtm(monkeypatch: pytest.MonkeyPatch) -> None:
    """No module of genbench calls ``sqrtm``; FID on a known answer with ``scipy.linalg.sqrtm`` made to fail."""
    for path in (ROOT / "bench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute | ast.Name):
                assert (node.attr if isinstance(node, ast.Attribute) else node.id) != "sqrtm", path
    import scipy.linalg

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("sqrtm called")

    monkeypatch.setattr(scipy.linalg, "sqrtm", refuse)
    from bench.metrics.frechet import frechet_distance

    # N(mu1, diag(s1^2)) vs N(mu2, diag(s2^2)): |mu1 - mu2|^2 + sum (s1 - s2)^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
    got = frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2))
    value = got.value if hasattr(got, "value") else got
    assert float(value) == pytest.approx(5.0 + 4.0 + 1.0 + 0.0, rel=1e-12)
