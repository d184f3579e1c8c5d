"""Device placement: `--device` / `runtime.device`, clear errors where a device is missing, the manifest record,
and (on a machine with a GPU) how far features may drift between the CPU and the GPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.errors import ConfigError
from bench.runtime import resolve_device
from tests.conftest import run_cli

SUITE = """\
name: rt
datasets: {train: {kind: digits, split: train}}
models: {gmm: {adapter: digits-gmm, args: {components: 3}}}
tasks:
  - {name: t, reference: train, n: 60, batch_size: 25, metrics: [fid, kid]}
output: {grid: 8}
%s
"""


def test_device_specs_resolve_or_fail_in_one_line() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="device 'gpu': use auto, cpu, cuda or cuda:N"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="device 'cuda:1': no CUDA device is visible to torch"):
            resolve_device("cuda:1")


def test_run_records_the_device_and_the_device_does_not_change_the_run(write_suite, tmp_path: Path, capsys) -> None:
    rows = {}
    for label, runtime, flag in (("suite", "runtime: {device: cpu}", []), ("flag", "", ["--device", "cpu"])):
        suite = write_suite(SUITE % runtime, name=f"{label}.yaml")
        code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / label), "--quiet", *flag], capsys)
        assert code == 0, err
        (run,) = (tmp_path / label / "rt").iterdir()
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["runtime"]["device"] == "cpu" and manifest["runtime"]["dtype"] == "fp32"
        assert manifest["runtime"]["device_name"]
        rows[label] = ({(r["metric"]): r["value"] for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines())},
                       manifest["suite_hash"])
    assert rows["suite"] == rows["flag"]  # same numbers, same suite hash: the device is not part of what is computed


def test_a_missing_or_invalid_device_is_one_line_and_exit_2(write_suite, tmp_path: Path, capsys) -> None:
    suite = write_suite(SUITE % "runtime: {device: gpu}")
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 2 and f"{suite}:" in err and "runtime.device" in err and "use auto, cpu, cuda or cuda:N" in err
    if not torch.cuda.is_available():
        ok = write_suite(SUITE % "", name="ok.yaml")
        code, _, err = run_cli(["run", str(ok), "--device", "cuda", "--out", str(tmp_path / "o"), "--quiet"], capsys)
        assert code == 2 and "--device: device 'cuda': no CUDA device is visible" in err and "Traceback" not in err
        assert not (tmp_path / "o").exists()  # refused before anything ran


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_features_on_gpu_equal_cpu_to_round_off() -> None:
    """The protocol is the same on every device; features of the same uint8 images differ by float32 round-off only
    (backbones run with TF32 off). Documented bound: 1e-4 relative to the feature scale."""
    from bench.backbones import get_backbone
    from bench.data import digits

    x = digits.load("test")[0][:256]
    for name in ("digits", "shapes-clip"):
        cpu, gpu = get_backbone(name, device="cpu"), get_backbone(name, device="cuda")
        a, b = cpu.extract(x if name == "digits" else x.expand(-1, 3, -1, -1)), gpu.extract(
            x if name == "digits" else x.expand(-1, 3, -1, -1))
        for k in a:
            scale = float(np.abs(a[k]).max())
            assert float(np.abs(a[k] - b[k]).max()) <= 1e-4 * scale, (name, k)
