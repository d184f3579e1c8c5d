"""In-process evaluation (bench.evaluate): tensors and modules in, typed rows out, the CLI's numbers, nothing written
but the content cache, a generator module taken as it is."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
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





# ------------------------------------------------ the other scoring functions and run_suite: the same in-process path


@contextlib.contextmanager
def _writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Inside the block, nothing may be written but the content cache (in the working folder or the temp root)."""
    import tempfile

    cache = tmp_path / "cache"
    monkeypatch.setenv("GENBENCH_CACHE", str(cache))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    monkeypatch.chdir(work)
    roots = [tmp_path, Path(tempfile.gettempdir())]
    before = {root: _files(root) for root in roots}
    yield cache
    for root in roots:
        # torch's own per-user compile cache folder, made once per process when the planner's imports reach
        # torch._inductor: torch's, not an output of genbench
        new = {p for p in _files(root) - before[root] if cache not in p.parents and p != cache
               and not any(part.startswith("torchinductor_") for part in p.parts)}
        assert not new, sorted(new)[:5]


def _cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def pair_folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from bench.images import save_png

    root = tmp_path_factory.mktemp("pairs")
    x, _ = digits.load("test")
    noisy = (x[:40].int() + torch.randint(-30, 31, x[:40].shape, generator=torch.Generator().manual_seed(1)))
    for name, part in (("out", noisy.clamp(0, 255).to(torch.uint8)), ("gt", x[:40])):
        (root / name).mkdir()
        for i, img in enumerate(part):
            save_png(img, root / name / f"{i:03d}.png")
    return root / "out", root / "gt"


def test_score_pairs_and_cycle_in_process_equal_the_cli_and_its_run_folder(
        pair_folders: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    out, gt = pair_folders
    with _writes_nothing(tmp_path, monkeypatch):
        got = bench.score_pairs(out, gt, ["l1", "psnr", "ssim"])
        cycle = bench.score_cycle(gt, out)
        cli = _cli_json(["score", "pairs", str(out), str(gt), "--l1", "--psnr", "--ssim"], capsys)
    assert got == {k: v["value"] for k, v in cli["metrics"].items()} and got["l1"] > 0
    assert len(cli["per_image"]) == 40 and cli["run_dir"] is None  # per-image values without a run folder
    # the Runner with a kept run folder (the suite engine): the same numbers and per-image values
    kept = _cli_json(["score", "pairs", str(out), str(gt), "--l1", "--psnr", "--ssim", "--out", str(tmp_path / "r")],
                     capsys)
    assert {k: v["value"] for k, v in kept["metrics"].items()} == got and kept["per_image"] == cli["per_image"]
    assert Path(kept["run_dir"]).is_dir()
    cli_cycle = _cli_json(["score", "cycle", str(gt), str(out)], capsys)
    assert cycle == {k: v["value"] for k, v in cli_cycle["metrics"].items()}


def test_score_images_of_files_writes_nothing(sets: tuple[torch.Tensor, torch.Tensor], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Statistics as the samples' side go through the command's engine (sides swapped): in process as well, no
    temporary run folder."""
    gen, ref = sets
    np.save(tmp_path / "a.npy", gen.numpy())
    np.save(tmp_path / "b.npy", ref.numpy())
    stats = tmp_path / "a-stats.npz"
    assert main(["ref", "build", "digits-a", "--from", str(tmp_path / "a.npy"), "--protocol", "digits",
                 "--out", str(stats)]) == 0
    with _writes_nothing(tmp_path, monkeypatch):
        swapped = bench.score_images(stats, tmp_path / "b.npy", ["fid"])
    cli = _cli_json(["score", "images", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--fid", "--protocol",
                     "digits"], capsys)
    assert swapped["fid"] == pytest.approx(cli["metrics"]["fid"]["value"], rel=1e-6)


def test_score_retrieval_arrays_equal_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    g = np.random.default_rng(0)
    im = g.standard_normal((30, 8)).astype(np.float32)
    pairs = [i for i in range(30) for _ in range(2)]
    tx = (np.repeat(im, 2, axis=0) + 0.8 * g.standard_normal((60, 8))).astype(np.float32)
    np.save(tmp_path / "im.npy", im)
    np.save(tmp_path / "tx.npy", tx)
    (tmp_path / "pairs.json").write_text(json.dumps(pairs))
    with _writes_nothing(tmp_path, monkeypatch):
        got = bench.score_retrieval(im, tx, pairs)
        by_pairs = bench.score_retrieval(im, tx, [[t, i] for t, i in enumerate(pairs)])
    cli = _cli_json(["score", "retrieval", "--images", str(tmp_path / "im.npy"), "--texts", str(tmp_path / "tx.npy"),
                     "--pairs", str(tmp_path / "pairs.json")], capsys)
    assert got == cli["metrics"] == by_pairs and 0 < got["t2i_r1"] < 100
    with pytest.raises(InputError, match="text 0 is paired twice"):
        bench.score_retrieval(im, tx, [[0, 0], [0, 1]])


def test_score_captions_dicts_equal_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    refs = {1: ["a red circle", "a circle that is red"], 2: ["two blue squares", "blue squares, two"],
            3: ["a green triangle above a square"]}
    hyps = {1: "a red circle", 2: "a green triangle", 3: "a green triangle over a square"}
    (tmp_path / "gt.json").write_text(json.dumps({
        "images": [{"id": i} for i in refs],
        "annotations": [{"image_id": i, "id": 10 * i + j, "caption": c} for i, cs in refs.items()
                        for j, c in enumerate(cs)]}))
    (tmp_path / "res.json").write_text(json.dumps([{"image_id": i, "caption": c} for i, c in hyps.items()]))
    with _writes_nothing(tmp_path, monkeypatch):
        got = bench.score_captions(refs, hyps, meteor=False, spice=False)
    cli = _cli_json(["score", "captions", "--gt", str(tmp_path / "gt.json"), "--res", str(tmp_path / "res.json"),
                     "--no-meteor", "--no-spice"], capsys)
    assert got == {k: v["value"] for k, v in cli["metrics"].items() if v["value"] is not None}
    assert got["BLEU-1"] > 0 and "CIDEr-D" in got


def test_run_suite_in_process_equals_the_run_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: api\ndatasets:\n  train: {kind: digits, split: train}\n  test: {kind: digits, split: test}\n"
                     "models:\n  real: {adapter: dataset, args: {dataset: test}}\n"
                     "  noise: {adapter: noise, args: {shape: [1, 8, 8]}}\noutput: {grid: 4}\n"
                     "tasks:\n  - {name: u, reference: train, n: 100, metrics: [fid, prc]}\n")
    with _writes_nothing(tmp_path, monkeypatch):
        df = bench.run_suite(suite)
    assert df.attrs["run_dir"] is None and df.attrs["errors"] == []
    assert all(isinstance(r, Row) for r in df.attrs["rows"]) and len(df) == 2 * 4
    kept = bench.run_suite(suite, out=tmp_path / "out")
    run = Path(kept.attrs["run_dir"])
    from bench.results import RunDir

    rows = RunDir(run).rows()  # typed, as the in-process rows
    assert all(isinstance(r, Row) for r in rows)
    assert {(r.model, r.metric): r.value for r in rows} == df.set_index(["model", "metric"])["value"].to_dict()
    assert {(r.model, r.metric): r.protocol_id for r in rows} == \
        {(r.model, r.metric): r.protocol_id for r in df.attrs["rows"]}


def test_run_folder_rows_are_typed_and_still_read_by_key(tmp_path: Path) -> None:
    """RunDir.rows() gives Rows (Row.from_json of each line); row_dicts() the JSON objects; a Row still answers
    row["metric"] / row.get(...) for code written when rows were dicts."""
    from bench.results import RunDir

    rows = [Row(run_id="r", suite="s", task="t", model=m, dataset="d", metric="fid", value=v, ci_low=None,
                ci_high=None, n=10, backbone="digits", higher_is_better=False, unit="", seconds=0.5,
                protocol={"name": "digits", "n": 10}, protocol_id="abc", extras={"warnings": []})
            for m, v in (("a", 1.25), ("b", 2.5))]
    rd = RunDir(tmp_path / "run")
    rd.append(*rows)
    back = rd.rows()
    assert back == rows and all(type(r) is Row for r in back)
    assert [Row.from_json(r.to_json()) for r in rows] == rows
    dicts = rd.row_dicts()
    assert [r.to_dict() for r in back] == [{k: v for k, v in d.items()} for d in dicts]
    r = back[0]
    assert r["metric"] == r.metric == "fid" and r.get("extras") == {"warnings": []} and r.get("nope", 3) == 3
    assert "value" in r and {**r}["value"] == 1.25
    with pytest.raises(KeyError):
        r["nope"]
