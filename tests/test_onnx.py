"""ONNX generators and translators through onnxruntime: the same outputs as the PyTorch modules they were exported
from (to a quantization level), class labels fed as int64, the latent size read from the graph, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")  # the exporter needs it (users bring their own .onnx files)

from bench.adapters import AdapterContext, GenerationRequest, build_adapter  # noqa: E402
from bench.adapters.translators import TranslationRequest  # noqa: E402

from tests.conftest import run_cli  # noqa: E402


class Gen(torch.nn.Module):
    latent_dim = 16

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(16, 64, generator=g) * 0.4)
        self.emb = torch.nn.Parameter(torch.randn(10, 64, generator=g) * 0.4)

    def forward(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        h = z @ self.w
        if classes is not None:
            h = h + self.emb[classes]
        return torch.tanh(h).view(-1, 1, 8, 8)


class Trans(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(1.5 * x.flip(-1))


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], names: list[str], path: Path) -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter: no onnxscript needed
        torch.onnx.export(module.eval(), args, str(path), input_names=names, output_names=["out"], dynamo=False,
                          dynamic_axes={**{n: {0: "n"} for n in names}, "out": {0: "n"}})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("onnx")
    g = Gen()
    return {"gen": _export(g, (torch.randn(2, 16),), ["z"], root / "gen.onnx"),
            "cond": _export(g, (torch.randn(2, 16), torch.tensor([1, 2])), ["z", "classes"], root / "cond.onnx"),
            "a2b": _export(Trans(), (torch.rand(2, 3, 8, 8),), ["x"], root / "a2b.onnx"),
            "a2b.ts": _save_script(Trans(), root / "a2b.pt")}


def _save_script(module: torch.nn.Module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    return path


def test_an_onnx_generator_gives_the_samples_of_its_pytorch_module(files: dict[str, Path], tmp_path: Path) -> None:
    onnx = build_adapter("onnx", {"path": str(files["gen"])}, AdapterContext())
    assert onnx.latent_dim == 16  # read from the graph's input [n, 16]
    req = GenerationRequest(indices=range(6), seeds=[3, 4, 5, 6, 7, 8])
    mine = onnx.generate(req)
    ref = (Gen()(req.latents(16)).detach().clamp(-1, 1) + 1) * 127.5
    assert mine.dtype == torch.uint8 and mine.shape == (6, 1, 8, 8)
    assert (mine.float() - ref.round()).abs().max() <= 1  # float32 round-off across runtimes: one level at most
    cond = build_adapter("onnx", {"path": str(files["cond"]), "conditional": True}, AdapterContext())
    a = cond.generate(GenerationRequest(indices=range(4), seeds=[1, 2, 3, 4], classes=[0, 1, 2, 3]))
    b = cond.generate(GenerationRequest(indices=range(4), seeds=[1, 2, 3, 4], classes=[9, 9, 9, 9]))
    assert not torch.equal(a, b)  # the labels reach the graph


def test_an_onnx_translator_equals_its_torchscript_twin(files: dict[str, Path]) -> None:
    x = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    req = TranslationRequest(images=x, direction="a2b", seeds=[0, 1, 2, 3, 4])
    onnx = build_adapter("onnx-translator", {"a2b": str(files["a2b"])}, AdapterContext())
    ts = build_adapter("torchscript-translator", {"a2b": str(files["a2b.ts"])}, AdapterContext())
    assert onnx.directions() == ("a2b",)
    assert (onnx.translate(req).int() - ts.translate(req).int()).abs().max() <= 1


def test_onnx_models_in_a_suite_and_their_errors(files: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "broken.onnx").write_bytes(b"not a graph")
    suite = tmp_path / "s.yaml"
    suite.write_text(f"""name: ox
datasets: {{train: {{kind: digits, split: train}}}}
models:
  mine: {{adapter: onnx, args: {{path: "{files['gen']}"}}}}
  broken: {{adapter: onnx, args: {{path: broken.onnx}}}}
output: {{grid: 0}}
tasks: [{{name: u, reference: train, n: 40, batch_size: 16, metrics: [fid]}}]
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet", "--no-cache"], capsys)
    assert code == 2 and f"{tmp_path / 'broken.onnx'}: cannot load ONNX (" in err and "Traceback" not in err
    (run,) = list((tmp_path / "o" / "ox").iterdir())
    rows = [json.loads(x) for x in (run / "rows.jsonl").read_text().splitlines()]
    assert [r["model"] for r in rows] == ["mine"] and rows[0]["value"] > 0
    missing = tmp_path / "m.yaml"
    missing.write_text(suite.read_text().replace("broken.onnx", "nowhere.onnx"))
    code, _, err = run_cli(["validate", str(missing), "--no-weights"], capsys)
    assert code == 2 and "m.yaml:5: models.broken.args.path:" in err and "ONNX file does not exist" in err
