"""Vendi score through the vendi-score package: its order q honoured (its score_X ignores q), the d x d form equal
to the n x n one, hand-computed extremes, and collapse ordering on the mode-collapse panel (test_digits_metrics_suite)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("vendi_score")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # vendi-score imports scipy.sparse.csr

from vendi_score import vendi  # noqa: E402

from bench.metrics.base import Reference, SampleSet  # noqa: E402
from bench.metrics.vendi import Vendi, vendi_score  # noqa: E402


def test_extremes_hand_computed() -> None:
    one = np.tile(np.array([[1.0, 2.0, 3.0]]), (5, 1))
    assert vendi_score(one) == pytest.approx(1.0)  # five copies of one sample
    eye = np.eye(6)
    for q in (0.5, 1.0, 2.0):
        assert vendi_score(eye, q) == pytest.approx(6.0)  # six orthogonal samples, any order
    # two orthogonal groups of sizes 3 and 1: eigenvalues (3/4, 1/4); q = 2: 1 / sum p^2 = 1 / (9/16 + 1/16) = 1.6
    x = np.array([[1.0, 0], [1, 0], [1, 0], [0, 1]])
    assert vendi_score(x, 2.0) == pytest.approx(1.6)
    h = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert vendi_score(x, 1.0) == pytest.approx(np.exp(h))


def test_order_q_is_honoured_where_score_X_ignores_it() -> None:
    x = np.random.default_rng(0).normal(size=(40, 64))  # n < d: the n x n kernel
    assert vendi_score(x, 1.0) == pytest.approx(vendi.score_X(x))
    assert vendi.score_X(x, q=2) == vendi.score_X(x, q=1)  # the package's trap
    assert vendi_score(x, 2.0) < vendi_score(x, 1.0) < vendi_score(x, 0.5)  # Rényi entropies fall with the order


def test_dual_form_equals_kernel_form() -> None:
    from sklearn import preprocessing

    x = np.random.default_rng(1).normal(size=(300, 12))  # n > d: the d x d form
    xn = preprocessing.normalize(x, axis=1)
    for q in (0.5, 1.0, 2.0):
        assert vendi_score(x, q) == pytest.approx(vendi.score_K(xn @ xn.T, q=q), rel=1e-6)  # eigensolver round-off


def test_metric_rows_record_q_and_ratio() -> None:
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(200, 16))
    collapsed = np.repeat(ref[:5], 40, axis=0) + 0.01 * rng.normal(size=(200, 16))
    m = Vendi({"q": 2})
    state = m.fit(Reference(features={"f": ref}, layer="f"), None)  # type: ignore[arg-type]
    real = m.compute(SampleSet(features={"f": rng.normal(size=(200, 16))}, layer="f"),
                     Reference(features={"f": ref}, layer="f"), seed=0, state=state)
    bad = m.compute(SampleSet(features={"f": collapsed}, layer="f"), Reference(features={"f": ref}, layer="f"),
                    seed=0, state=state)
    assert [r.metric for r in real] == ["vendi", "vendi_ratio"] and real[0].extras["q"] == 2
    assert real[1].value == pytest.approx(1.0, abs=0.1) and bad[1].value < 0.5
    assert bad[0].value < 5.5  # about five distinct samples
