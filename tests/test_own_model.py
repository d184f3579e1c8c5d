"""A researcher's own model (issue: bring your own model): a module beside the suite imports under the installed
`genbench` command, a factory function is called, and missing modules or files are caught by `validate` (and make
`run --dry-run` fail) at their file:line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main

MODULE = '''
import torch
from torch import nn

class Tiny(nn.Module):
    latent_dim = 16
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(16, 64, generator=g) * 0.3)
    def forward(self, z):
        return torch.tanh(z @ self.w).view(-1, 1, 8, 8)

def make():
    """a factory without arguments: genbench calls it for the model"""
    return Tiny()

class ZeroOne(Tiny):
    """the same model with outputs in [0, 1] (a sigmoid), the common case the [-1, 1] default gets wrong"""
    def forward(self, z):
        return torch.sigmoid(3 * (z @ self.w)).view(-1, 1, 8, 8)
'''

SUITE = """name: own
datasets:
  train: {kind: digits, split: train}
models:
  mine: {adapter: python, args: {target: "%s"}}
output: {grid: 0}
tasks:
  - {name: u, reference: train, n: 40, batch_size: 20, metrics: [fid]}
"""


def _write(tmp_path: Path, target: str, module: str = "beside_suite_gen") -> Path:
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    (folder / f"{module}.py").write_text(MODULE)
    (folder / "suite.yaml").write_text(SUITE % target)
    return folder / "suite.yaml"


def test_module_beside_the_suite_imports_under_the_installed_command(tmp_path: Path) -> None:
    """The console script (sys.path[0] is its bin folder, not the suite's nor the working directory)."""
    suite = _write(tmp_path, "beside_suite_gen_cli:make", module="beside_suite_gen_cli")
    exe = Path(sys.executable).parent / "genbench"
    if not exe.exists():
        pytest.skip("the genbench console script is not installed next to this interpreter")
    out = subprocess.run([str(exe), "run", str(suite), "--out", str(tmp_path / "out"), "--quiet", "--no-cache"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for p in (tmp_path / "out").rglob("rows.jsonl") for x in p.read_text().splitlines()]
    assert rows and rows[0]["model"] == "mine" and rows[0]["value"] > 0


def test_factory_function_is_called_and_equals_the_class(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = {}
    for target in ("beside_suite_gen:make", "beside_suite_gen:Tiny"):
        suite = _write(tmp_path, target)
        out = tmp_path / target.replace(":", "-")
        assert main(["run", str(suite), "--out", str(out), "--quiet", "--no-cache"]) == 0, capsys.readouterr().err
        (rows,) = list(out.rglob("rows.jsonl"))
        values[target] = json.loads(rows.read_text().splitlines()[0])["value"]
    assert values["beside_suite_gen:make"] == values["beside_suite_gen:Tiny"]


@pytest.mark.parametrize(("model", "message"), [
    ('{adapter: python, args: {target: "no_such_module_xyz:make"}}',
     "models.mine.args.target: cannot import module 'no_such_module_xyz'"),
    ('{adapter: python, args: {target: "beside_suite_gen:nope"}}',
     "models.mine.args.target: module 'beside_suite_gen' has no attribute 'nope'"),
    ("{adapter: torchscript, args: {path: missing.pt}}", "models.mine.args.path: "),
    ("{adapter: folder, args: {path: no-such-folder}}", "models.mine.args.path: "),
])
def test_validate_refuses_missing_modules_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str,
                                                    message: str) -> None:
    suite = _write(tmp_path, "x:y")
    suite.write_text(suite.read_text().replace('{adapter: python, args: {target: "x:y"}}', model))
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert f"suite.yaml:5: {message}" in err and len(err.strip().splitlines()) == 1


def test_dry_run_fails_when_a_file_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = _write(tmp_path, "x:y")
    text = suite.read_text()
    suite.write_text(text.replace('{adapter: python, args: {target: "x:y"}}', "{adapter: npz, args: {path: gone.npz}}"))
    assert main(["run", str(suite), "--dry-run"]) == 2  # lists what is missing, then fails
    captured = capsys.readouterr()
    assert "gone.npz [MISSING]" in captured.out and "1 file(s) the run needs are missing" in captured.err
    assert main(["validate", str(suite)]) == 2
    assert "suite.yaml:5: models.mine.args.path: " in capsys.readouterr().err
    # an explicit weights file the run would read: listed [MISSING], and the dry run fails
    suite.write_text(text.replace("metrics: [fid]", "weights: nope.pt, metrics: [fid]")
                     .replace('"x:y"', '"beside_suite_gen:make"'))
    assert main(["run", str(suite), "--dry-run"]) == 2
    captured = capsys.readouterr()
    assert "nope.pt [MISSING]" in captured.out and "1 file(s) the run needs are missing" in captured.err


def test_task_with_no_model_to_evaluate_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A conditional task left without `models:` where no model is conditional used to validate as "0 models"."""
    suite = _write(tmp_path, "beside_suite_gen:make")
    suite.write_text(suite.read_text().replace("metrics: [fid]", "args: {classes: 10}, metrics: [cond_acc]"))
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "suite.yaml:8: tasks.0: task 'u' has no model to evaluate (none of the suite's models fits it: 'mine' is " \
           "unconditional" in err


def _png_folder(folder: Path, n: int, seed: int) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_score_images_defaults_to_the_standard_protocol_and_flags_the_digits_net_on_other_images(
        tmp_path: Path, empty_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _png_folder(tmp_path / "a", 12, 0), _png_folder(tmp_path / "b", 12, 1)
    # no protocol given: tf-compat, whose weights are not here: one clear error saying what to do
    assert main(["score", "images", str(a), str(b), "--fid"]) == 2
    err = capsys.readouterr().err
    assert "weights 'inception-v3-compat' not found: download" in err and "--protocol digits" in err
    assert "Traceback" not in err
    # the digits network on 32x32 colour images: computed, but warned about and flagged in every row
    with pytest.warns(UserWarning) as warned:  # printed by the CLI as one "genbench: warning: ..." line
        assert main(["score", "images", str(a), str(b), "--fid", "--kid", "--protocol", "digits", "--json"]) == 0
    captured = capsys.readouterr()
    assert any("model 'input1': the digits protocol's network was trained on 8x8 grey digits; these images are "
               "32x32 with 3 channel(s)" in str(w.message) for w in warned)
    res = json.loads(captured.out)
    assert all("8x8 grey digits" in m["extras"]["backbone_warning"] for m in res["metrics"].values())


def test_wrong_value_range_is_warned_flagged_and_not_ranked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A [0, 1] model left on the default range [-1, 1]: the numbers are computed (nothing is lost), a warning
    names the observed range, the rows carry it, and the table does not rank the model; declared right, silence."""
    suite = _write(tmp_path, "beside_suite_gen:ZeroOne")
    text = suite.read_text().replace(
        'mine: {adapter: python, args: {target: "beside_suite_gen:ZeroOne"}}',
        'mine: {adapter: python, args: {target: "beside_suite_gen:ZeroOne"}}\n'
        '  right: {adapter: python, args: {target: "beside_suite_gen:ZeroOne", range: "0,1"}}')
    suite.write_text(text)
    with pytest.warns(UserWarning) as warned:  # printed by the CLI as one "genbench: warning: ..." line
        assert main(["run", str(suite), "--out", str(tmp_path / "out"), "--quiet", "--no-cache"]) == 0
    said = [str(w.message) for w in warned]
    assert any("model 'mine': outputs never use the lower half of the declared range [-1, 1] (observed min " in m
               for m in said)
    assert not any("model 'right'" in m for m in said)
    (run,) = (tmp_path / "out" / "own").iterdir()
    rows = {r["model"]: r for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines())}
    assert "set args.range: 0,1" in rows["mine"]["extras"]["output_warning"]
    assert "output_warning" not in rows["right"]["extras"]
    table = (run / "table.md").read_text()
    assert "suspect outputs" in table and table.index("| right") < table.index("| mine")  # unranked: listed last


def test_clipped_values_are_counted() -> None:
    import torch

    from bench.images import RangeMonitor, to_uint8

    m = RangeMonitor((0.0, 1.0))
    to_uint8(torch.linspace(-0.5, 1.0, 3 * 8 * 8).reshape(3, 1, 8, 8), (0.0, 1.0), monitor=m)
    assert m.total == 192 and m.clipped == 64 and m.min == -0.5  # a third of the values below 0 (step 1.5/191)
    assert "64 of 192 output values (33.33%) fell outside the declared range [0, 1]" in str(m.problem())


@pytest.mark.parametrize("content", ["random", "other-net"])
def test_corrupt_or_foreign_weights_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     content: str) -> None:
    import os

    import torch

    a, b = _png_folder(tmp_path / "a", 4, 0), _png_folder(tmp_path / "b", 4, 1)
    w = tmp_path / "w.pth"
    if content == "random":
        w.write_bytes(os.urandom(50_000))
    else:
        torch.save({"a": torch.zeros(3)}, w)
    assert main(["score", "images", str(a), str(b), "--fid", "--protocol", "tf-compat", "--weights", str(w),
                 "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"{w}: cannot load weights for backbone 'inception-v3-compat' (" in err
    assert "is not the published file's 6726825d0af5f729" in err


def test_float_arrays_are_scored_with_their_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A float .npy in [-1, 1] scores exactly like its uint8 version given --range; without it, one line saying how."""
    import numpy as np

    from bench.data import digits

    x, _ = digits.load("test")
    np.save(tmp_path / "a.npy", x[:50].numpy())
    np.save(tmp_path / "af.npy", x[:50].numpy().astype(np.float32) / 127.5 - 1)
    np.save(tmp_path / "bf.npy", x[50:150].numpy().astype(np.float32) / 127.5 - 1)
    np.save(tmp_path / "b.npy", x[50:150].numpy())
    base = ["--fid", "--protocol", "digits", "--no-cache", "--json"]
    assert main(["score", "images", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), *base]) == 0
    want = json.loads(capsys.readouterr().out)["metrics"]["fid"]["value"]
    assert main(["score", "images", str(tmp_path / "af.npy"), str(tmp_path / "bf.npy"), *base, "--range=-1,1"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["fid"]["value"] == want
    assert main(["score", "images", str(tmp_path / "af.npy"), str(tmp_path / "b.npy"), *base]) == 2
    assert "float images need an explicit value range" in capsys.readouterr().err


def test_ls_protocols_lists_the_presets_without_loading_and_ls_suites_works_anywhere(
        tmp_path: Path, empty_cache: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["ls", "protocols"]) == 0
    out = capsys.readouterr().out
    for preset in ("tf-compat", "clean", "legacy-tf", "legacy-pytorch", "tm-antialias", "digits", "clip-fd", "fd-dinov2"):
        assert f"\n{preset} " in f"\n{out}"
    assert "weights missing: genbench weights fetch inception-v3-compat" in out and "[weights present]" in out
    assert not (empty_cache / "weights").exists()  # nothing downloaded or created
    monkeypatch.chdir(tmp_path)  # outside the checkout: the shipped suites are still listed
    assert main(["ls", "suites"]) == 0
    assert "quickstart.yaml" in capsys.readouterr().out


COND_MODULE = '''
import torch
from torch import nn

class CondTiny(nn.Module):
    """class-conditional: the class shifts the image, detected from forward(z, classes)"""
    latent_dim = 16
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = nn.Parameter(torch.randn(16, 64, generator=g) * 0.3)
        self.e = nn.Parameter(torch.randn(10, 64, generator=g))
    def forward(self, z, classes):
        return torch.tanh(z @ self.w + self.e[classes]).view(-1, 1, 8, 8)
'''


def test_own_class_conditional_model_python_and_torch_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A conditional Python model (detected from forward(z, classes)) takes part in a conditional task; the same
    network as a torch.export .pt2 (conditional: true) gives the same numbers; left unconditional without
    num_classes it is one clear error."""
    import sys

    import torch

    folder = tmp_path / "cond"
    folder.mkdir()
    (folder / "own_cond_gen.py").write_text(COND_MODULE)
    sys.path.insert(0, str(folder))
    try:
        from own_cond_gen import CondTiny  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(folder))
    batch = torch.export.Dim("batch", min=1, max=4096)
    prog = torch.export.export(CondTiny().eval(), (torch.zeros(4, 16), torch.zeros(4, dtype=torch.long)),
                               dynamic_shapes=({0: batch}, {0: batch}))
    torch.export.save(prog, str(folder / "cond.pt2"))
    head = "name: cond\ndatasets:\n  train: {kind: digits, split: train}\nmodels:\n"
    tail = ("output: {grid: 0}\ntasks:\n  - {name: c, reference: train, n: 100, batch_size: 50, args: {classes: 10}, "
            "metrics: [cond_acc, fid]}\n")
    values = []
    for i, model in enumerate(("{adapter: python, args: {target: 'own_cond_gen:CondTiny'}}",
                               "{adapter: export, args: {path: cond.pt2, latent_dim: 16, conditional: true}}")):
        (folder / "s.yaml").write_text(head + f"  mine: {model}\n" + tail)  # one name: the same seeds
        assert main(["run", str(folder / "s.yaml"), "--out", str(tmp_path / f"out{i}"), "--quiet", "--no-cache"]) == 0, \
            capsys.readouterr().err
        rows = [json.loads(x) for p in (tmp_path / f"out{i}").rglob("rows.jsonl") for x in p.read_text().splitlines()]
        values.append({r["metric"]: r["value"] for r in rows})
    assert values[0]["cond_acc"] == values[1]["cond_acc"] and values[0]["cond_acc"] > 0.05
    assert values[0]["fid"] == pytest.approx(values[1]["fid"], rel=1e-6)
    # in an unconditional task without num_classes: one line naming what to do
    (folder / "s.yaml").write_text((folder / "s.yaml").read_text().replace("args: {classes: 10}, ", "")
                                   .replace("metrics: [cond_acc, fid]", "metrics: [fid]"))
    assert main(["run", str(folder / "s.yaml"), "--out", str(tmp_path / "out2"), "--quiet", "--no-cache"]) == 2
    assert "is class-conditional: evaluate it in a task with args.classes, or give num_classes" in capsys.readouterr().err


def test_long_one_time_waits_and_stand_ins_are_announced(tmp_path: Path, empty_cache: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The METEOR paraphrase index build (~1 min on the real table) says so when it starts and ends; LPIPS falling
    back to the digits stand-in offline warns that the value is perceptual_digits, not lpips."""
    import gzip

    from bench.text.meteor import paraphrase_index
    from bench.translation.measures import lpips_available, perceptual

    table = tmp_path / "paraphrase-en.gz"
    with gzip.open(table, "wt", encoding="utf-8") as f:
        f.write("0.5\nbig dog\nlarge dog\n0.25\nred\ncrimson\n")
    out = paraphrase_index(table)
    assert out is not None and out.is_file()
    err = capsys.readouterr().err
    assert "building the METEOR paraphrase index" in err and "index built in" in err
    if not lpips_available():
        with pytest.warns(UserWarning, match="perceptual distance is the digits stand-in, reported as perceptual_digits"):
            assert perceptual("auto").name == "perceptual_digits"


def test_long_steps_are_announced_and_short_ones_are_silent() -> None:
    import time

    from bench.progress import announce

    said: list[str] = []
    with announce("fitting prc on reference 'train'", after=0.05, log=said.append):
        time.sleep(0.3)
    assert said[0] == "genbench: fitting prc on reference 'train' ..." and said[1].endswith("done in 0 s")
    said.clear()
    with announce("quick", after=1.0, log=said.append):
        pass
    assert said == []
