"""Bad input never gets a traceback: one line naming the file or item, exit code 2, other results kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.results import RunDir
from tests.conftest import run_cli


def _png(path: Path, size: int = 8, mode: str = "L", value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    if mode == "L":
        arr = rng.integers(0, 256, (size, size), dtype=np.uint8)
    elif mode == "RGB":
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    elif mode == "RGBA":
        arr = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
        arr[..., 3] = value
    elif mode == "I;16":
        Image.fromarray(rng.integers(0, 65535, (size, size), dtype=np.uint16)).save(path)
        return
    Image.fromarray(arr).save(path)


SUITE = """
name: bad
datasets:
  ref: {{kind: digits, split: train}}
models:
  good: {{adapter: noise}}
  bad: {model}
tasks:
  - name: t
    reference: ref
    n: 20
    batch_size: 10
    metrics: [fid]
"""


def _run_with_bad_model(tmp_path: Path, capsys, model_yaml: str) -> tuple[str, list[dict]]:
    suite = tmp_path / "bad.yaml"
    suite.write_text(SUITE.format(model=model_yaml))
    code, out, err = run_cli(["run", str(suite), "--out", str(tmp_path / "res"), "--quiet"], capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    run = next((tmp_path / "res" / "bad").iterdir())
    rows = RunDir(run).rows()
    assert {r["model"] for r in rows} == {"good"}  # the good model's results are kept
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and len(manifest["errors"]) == 1
    assert (run / "table.md").exists()
    return err, rows


def test_empty_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: folder, args: {path: empty}}")
    assert "empty: no image files" in err


def test_missing_folder(tmp_path: Path, capsys) -> None:
    """A model folder that does not exist is caught before anything runs, at its suite line."""
    suite = tmp_path / "bad.yaml"
    suite.write_text(SUITE.format(model="{adapter: folder, args: {path: nowhere}}"))
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "res"), "--quiet"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "bad.yaml:" in err and "models.bad.args.path: " in err and "nowhere does not exist" in err
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("kind", ["corrupt", "truncated"])
def test_corrupt_or_truncated_image(tmp_path: Path, capsys, kind: str) -> None:
    for i in range(25):
        _png(tmp_path / "imgs" / f"{i:03d}.png")
    bad = tmp_path / "imgs" / "007.png"
    if kind == "corrupt":
        bad.write_bytes(b"not an image at all")
    else:
        bad.write_bytes(bad.read_bytes()[:40])
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: folder, args: {path: imgs}}")
    assert "imgs/007.png: cannot decode image" in err


def test_mixed_sizes(tmp_path: Path, capsys) -> None:
    for i in range(25):
        _png(tmp_path / "imgs" / f"{i:03d}.png", size=9 if i == 12 else 8)
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: folder, args: {path: imgs}}")
    assert "imgs/012.png: image is 9x9 but 000.png is 8x8" in err


def test_sixteen_bit_pngs_are_scaled_and_transparent_images_refused(tmp_path: Path, capsys) -> None:
    from bench.images import ImageFiles

    # a 16-bit PNG has a defined scale (0..65535): converted to 8 bits, rounded like any float output
    wide = np.array([[0, 128, 129, 257], [32767, 32768, 65407, 65535]], dtype=np.uint16)
    (tmp_path / "w").mkdir()
    Image.fromarray(wide).save(tmp_path / "w" / "a.png")
    got = ImageFiles([tmp_path / "w" / "a.png"]).read([0])[0, 0].numpy()
    np.testing.assert_array_equal(got, np.rint(wide / 257.0).astype(np.uint8))
    assert got.tolist() == [[0, 0, 1, 1], [127, 128, 255, 255]]
    for i in range(25):
        _png(tmp_path / "rgba" / f"{i:03d}.png", mode="RGBA", value=100 if i == 5 else 255)
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: folder, args: {path: rgba}}")
    assert "rgba/005.png: image has transparent pixels" in err


def test_grayscale_rgb_and_opaque_rgba_mix_is_accepted(tmp_path: Path) -> None:
    from bench.images import load_folder

    _png(tmp_path / "a.png", mode="L")
    _png(tmp_path / "b.png", mode="RGB")
    _png(tmp_path / "c.png", mode="RGBA", value=255)
    x = load_folder(tmp_path)
    assert x.shape == (3, 3, 8, 8) and x.dtype.is_floating_point is False
    assert (x[0, 0] == x[0, 1]).all() and (x[0, 1] == x[0, 2]).all()  # grey expanded to RGB


def test_nan_in_npz(tmp_path: Path, capsys) -> None:
    arr = np.random.default_rng(0).uniform(-1, 1, (30, 1, 8, 8)).astype(np.float32)
    arr[4, 0, 2, 2] = np.nan
    np.savez(tmp_path / "s.npz", samples=arr)
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: npz, args: {path: s.npz, range: '-1,1'}}")
    assert "s.npz: sample 4 contains NaN or inf" in err


def test_npz_too_few_samples_and_unreadable(tmp_path: Path, capsys) -> None:
    np.savez(tmp_path / "s.npz", samples=np.zeros((5, 8, 8, 1), np.uint8))
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: npz, args: {path: s.npz}}")
    assert "s.npz: holds 5 samples but the task asks for at least 10" in err
    (tmp_path / "t.npz").write_bytes(b"garbage")
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: npz, args: {path: t.npz}}")
    assert "t.npz: cannot read" in err


def test_crashing_python_model_keeps_other_results(tmp_path: Path, capsys) -> None:
    err, _ = _run_with_bad_model(tmp_path, capsys, "{adapter: python, args: {target: 'tests.models:Crashing'}}")
    assert "model 'bad' (task t): RuntimeError: boom" in err


def test_missing_weights_fail_before_sampling(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "w.yaml"
    suite.write_text(SUITE.format(model="{adapter: noise}").replace("metrics: [fid]", "metrics: [fid]\n    weights: gone.pt"))
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "res"), "--quiet"], capsys)
    assert code == 2 and "gone.pt: digits backbone weights file does not exist" in err
    assert not (tmp_path / "res").exists()  # nothing started
