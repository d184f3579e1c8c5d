"""Retrieval: the tie rule, hand-computed ranks, the shapes suite through the CLI, and ``genbench score retrieval``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.metrics.retrieval import retrieval_ranks
from bench.results import RunDir
from tests.conftest import ROOT, run_cli


def test_hand_computed_ranks() -> None:
    # 2 images, 4 texts (texts 0,1 -> image 0; texts 2,3 -> image 1), 2-d embeddings
    im = np.array([[1.0, 0.0], [0.0, 1.0]])
    tx = np.array([[1.0, 0.1], [0.2, 1.0], [0.0, 1.0], [1.0, 0.0]])
    r = retrieval_ranks(im, tx, [0, 0, 1, 1])
    assert r.t2i_ranks.tolist() == [1, 2, 1, 2]
    # image 0: best own caption is text 0 (cos ~0.995); no wrong caption beats it except text 3 (cos 1.0) -> rank 2
    assert r.i2t_ranks.tolist() == [2, 1]
    m = r.metrics()
    assert m["t2i_r1"] == 50.0 and m["t2i_medr"] == 1.5 and m["i2t_meanr"] == 1.5
    assert m["rsum"] == pytest.approx(50 + 100 + 100 + 50 + 100 + 100)


def test_ties_count_against_the_query() -> None:
    """A collapsed embedding (everything identical) gets the worst rank, never the best."""
    im = np.ones((4, 3), dtype=np.float32)
    tx = np.ones((8, 3), dtype=np.float32)
    r = retrieval_ranks(im, tx, np.repeat(np.arange(4), 2))
    assert r.t2i_ranks.tolist() == [4] * 8  # 3 wrong images tie with the correct one
    assert r.i2t_ranks.tolist() == [7] * 4  # 6 wrong captions tie
    assert r.metrics()["t2i_r1"] == 0.0


def test_similarities_are_float32_whatever_the_input_dtype() -> None:
    rng = np.random.default_rng(0)
    im, tx = rng.standard_normal((20, 8)), rng.standard_normal((40, 8))
    pairs = np.repeat(np.arange(20), 2)
    a = retrieval_ranks(im.astype(np.float16), tx.astype(np.float16), pairs)
    b = retrieval_ranks(im.astype(np.float16).astype(np.float32), tx.astype(np.float16).astype(np.float32), pairs)
    assert np.array_equal(a.t2i_ranks, b.t2i_ranks) and np.array_equal(a.i2t_ranks, b.i2t_ranks)


@pytest.fixture(scope="module")
def retrieval_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.cli import main

    out = tmp_path_factory.mktemp("results")
    suite = out / "retrieval.yaml"  # the shipped suite on its first 200 scenes (the full one takes ~15 s)
    suite.write_text((ROOT / "suites/retrieval.yaml").read_text().replace("batch_size: 500", "batch_size: 500\n    n: 200"))
    assert main(["run", str(suite), "--out", str(out), "--quiet", "--no-cache"]) == 0
    (run,) = (out / "retrieval").iterdir()
    return run


def test_shapes_clip_beats_random_on_every_metric(retrieval_run: Path) -> None:
    rows = RunDir(retrieval_run).rows()
    v = {(r["model"], r["metric"]): r for r in rows}
    metrics = {r["metric"] for r in rows}
    assert len(metrics) == 11
    for m in metrics:
        good, bad = v[("shapes-clip", m)], v[("random", m)]
        assert (good["value"] > bad["value"]) if good["higher_is_better"] else (good["value"] < bad["value"]), m
    assert v[("shapes-clip", "t2i_r1")]["value"] > 45 and v[("shapes-clip", "i2t_r10")]["value"] > 95
    assert v[("random", "t2i_r10")]["value"] < 12  # chance is 10/200 = 5 %
    per = json.loads((retrieval_run / v[("shapes-clip", "rsum")]["extras"]["per_sample_file"]).read_text())
    assert len(per["t2i_rank"]) == 1000 and len(per["i2t_rank"]) == 200


def _embeddings(tmp_path: Path, n: int = 60) -> tuple[Path, Path, Path]:
    from bench.backbones.textimage import ShapesClipBackbone
    from bench.shapes import world

    test = world.load("test")
    bb = ShapesClipBackbone()
    np.save(tmp_path / "img.npy", bb.embed_images(test.images[:n]))
    np.save(tmp_path / "txt.npy", bb.embed_texts([c for cs in test.captions[:n] for c in cs]))
    (tmp_path / "pairs.json").write_text(json.dumps([i for i in range(n) for _ in range(5)]))
    return tmp_path / "img.npy", tmp_path / "txt.npy", tmp_path / "pairs.json"


def test_score_retrieval_cli_equals_the_task(tmp_path: Path, capsys: pytest.CaptureFixture[str], write_suite) -> None:
    img, txt, pairs = _embeddings(tmp_path)
    code, out, _ = run_cli(["score", "retrieval", "--images", str(img), "--texts", str(txt), "--pairs", str(pairs), "--json"], capsys)
    assert code == 0
    cli = json.loads(out)
    assert cli["n_images"] == 60 and cli["n_texts"] == 300
    suite = write_suite(f"""
datasets: {{shapes: {{kind: shapes, split: test}}}}
models:
  sub: {{adapter: npy-embeddings, args: {{images: {img}, texts: {txt}}}}}
  live: {{adapter: shapes-clip}}
tasks:
  - {{name: r, kind: retrieval, reference: shapes, n: 60, metrics: [retrieval_recall]}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "res"), "--quiet"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "res" / "suite").iterdir()
    rows = RunDir(run).rows()
    for model in ("sub", "live"):  # the data-only submission and the live model give the CLI's numbers
        got = {r["metric"]: r["value"] for r in rows if r["model"] == model}
        assert got == pytest.approx(cli["metrics"], abs=1e-9)


@pytest.mark.parametrize("pairs,message", [
    ([0] * 299 + [60], "text 299 points at image 60"),
    ([0] * 300, "image 1 has no caption"),
    ([0, 1], "need one image index per text"),
    ("[oops", "invalid JSON"),
])
def test_score_retrieval_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], pairs, message) -> None:
    img, txt, p = _embeddings(tmp_path)
    p.write_text(pairs if isinstance(pairs, str) else json.dumps(pairs))
    code, _, err = run_cli(["score", "retrieval", "--images", str(img), "--texts", str(txt), "--pairs", str(p)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
