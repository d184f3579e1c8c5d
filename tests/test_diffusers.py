"""The diffusers adapter on tiny random-weight pipelines built from configs and saved with ``save_pretrained`` (as
diffusers' own fast tests do; no hub access): samples independent of batch size, class labels reaching a DiT
pipeline, a suite and a sweep over sampling steps, and one clear line for a hub id that is not here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("diffusers")

from bench.adapters import AdapterContext, GenerationRequest, build_adapter  # noqa: E402

from tests.conftest import run_cli  # noqa: E402


@pytest.fixture(scope="module")
def pipes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.hf_tiny import tiny_ddpm_and_dit

    return tiny_ddpm_and_dit(tmp_path_factory.mktemp("pipes"))


@pytest.mark.parametrize("name", ["ddpm", "dit"])
def test_samples_do_not_depend_on_the_batch(pipes: dict[str, Path], name: str) -> None:
    a = build_adapter("diffusers", {"pretrained": str(pipes[name]), "num_inference_steps": 4}, AdapterContext())
    seeds, classes = [11, 12, 13, 14], ([0, 1, 2, 3] if name == "dit" else None)
    four = a.generate(GenerationRequest(indices=range(4), seeds=seeds, classes=classes))
    ones = torch.cat([a.generate(GenerationRequest(indices=range(i, i + 1), seeds=[s],
                                                   classes=None if classes is None else [classes[i]]))
                      for i, s in enumerate(seeds)])
    assert four.dtype == torch.uint8 and four.shape == (4, 3, 8, 8)
    assert (four.int() - ones.int()).abs().max() <= 1  # float round-off of a batched network, at most one level
    assert torch.equal(a.generate(GenerationRequest(indices=range(4), seeds=seeds, classes=classes)), four)
    assert not torch.equal(four[0], four[1])  # one generator per sample: different seeds, different samples


def test_class_labels_reach_the_pipeline_and_an_unconditional_one_is_refused(pipes: dict[str, Path]) -> None:
    from bench.adapters.hf import DiffusersArgs, DiffusersGenerator

    dit = build_adapter("diffusers", {"pretrained": str(pipes["dit"]), "num_inference_steps": 4,
                                      "guidance_scale": 2.0}, AdapterContext())
    seeds = [1, 2, 3, 4]
    a = dit.generate(GenerationRequest(indices=range(4), seeds=seeds, classes=[0, 1, 2, 3]))
    b = dit.generate(GenerationRequest(indices=range(4), seeds=seeds, classes=[7, 7, 7, 7]))
    assert (a != b).float().mean() > 0.5
    # validate knows from model_index.json which pipelines take class labels
    assert DiffusersGenerator.accepts_classes(DiffusersArgs(pretrained=str(pipes["dit"])))
    assert not DiffusersGenerator.accepts_classes(DiffusersArgs(pretrained=str(pipes["ddpm"])))


SUITE = """name: hf
seed: 1
datasets: {{train: {{kind: digits, split: train}}}}
models:
  ddpm:
    adapter: diffusers
    args: {{pretrained: "{ddpm}"}}
    sweep: {{num_inference_steps: [2, 4]}}
  dit: {{adapter: diffusers, args: {{pretrained: "{dit}", num_inference_steps: 3, guidance_scale: 1.5}}}}
output: {{grid: 4}}
tasks:
  - {{name: u, reference: train, n: 12, batch_size: {bs}, models: [ddpm], metrics: [fid, kid]}}
  - {{name: c, reference: train, n: 12, batch_size: {bs}, models: [dit], args: {{classes: 3}}, metrics: [fid]}}
"""


def test_a_suite_with_a_sweep_over_steps_and_a_class_conditional_pipeline(pipes: dict[str, Path], tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    values = []
    for bs in (3, 12):  # the rows do not depend on the batch size either
        suite = tmp_path / f"hf{bs}.yaml"
        suite.write_text(SUITE.format(ddpm=pipes["ddpm"], dit=pipes["dit"], bs=bs))
        code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / f"o{bs}"), "--quiet", "--no-cache"], capsys)
        assert code == 0, err
        (run,) = list((tmp_path / f"o{bs}" / "hf").iterdir())
        values.append({(r["task"], r["model"], r["metric"]): r["value"]
                       for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines())})
    assert set(values[0]) == {("u", "ddpm[num_inference_steps=2]", "fid"), ("u", "ddpm[num_inference_steps=2]", "kid"),
                              ("u", "ddpm[num_inference_steps=4]", "fid"), ("u", "ddpm[num_inference_steps=4]", "kid"),
                              ("c", "dit", "fid")}
    for k, v in values[0].items():
        assert values[1][k] == pytest.approx(v, rel=1e-4, abs=1e-3), k
    # a class-conditional task refuses the unconditional pipeline at validate time, at the model's line
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUITE.format(ddpm=pipes["ddpm"], dit=pipes["dit"], bs=4).replace("models: [dit]", "models: [ddpm]"))
    code, _, err = run_cli(["validate", str(bad), "--no-weights"], capsys)
    assert code == 2 and "a class-conditional task" in err and "Traceback" not in err


def test_a_hub_id_that_is_not_here_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    suite = tmp_path / "hub.yaml"
    suite.write_text("""name: hub
datasets: {train: {kind: digits, split: train}}
models: {ddpm: {adapter: diffusers, args: {pretrained: google/ddpm-cifar10-32}}}
tasks: [{name: u, reference: train, n: 8, metrics: [fid]}]
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2
    # said by validation, before any dataset or reference is loaded, naming the command huggingface_hub ships
    assert "hub.yaml:3: models.ddpm.args.pretrained:" in err
    assert (f"'google/ddpm-cifar10-32' is not in the Hugging Face cache ({tmp_path / 'hub'}) and "
            "genbench is offline: fetch it where there is network (hf download google/ddpm-cifar10-32)" in err)
    assert "Traceback" not in err
    (tmp_path / "local.yaml").write_text(suite.read_text().replace("google/ddpm-cifar10-32", "./no/such/folder"))
    code, _, err = run_cli(["validate", str(tmp_path / "local.yaml"), "--no-weights"], capsys)
    assert code == 2 and "local.yaml:3: models.ddpm.args.pretrained:" in err and "no such folder" in err


def test_a_text_to_image_pipeline_gets_the_prompts_and_runs_a_t2i_task(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")  # the pipeline's text encoder and tokenizer
    from tests.hf_tiny import tiny_stable_diffusion

    sd = tiny_stable_diffusion(tmp_path / "sd-root")
    a = build_adapter("diffusers-t2i", {"pretrained": str(sd), "num_inference_steps": 3, "guidance_scale": 3.0},
                      AdapterContext())
    prompts = ["a red circle", "two blue squares", "a green triangle", "a red circle"]
    four = a.generate(GenerationRequest(indices=range(4), seeds=[1, 2, 3, 4], prompts=prompts))
    ones = torch.cat([a.generate(GenerationRequest(indices=range(i, i + 1), seeds=[s], prompts=[prompts[i]]))
                      for i, s in enumerate([1, 2, 3, 4])])
    assert four.shape == (4, 3, 16, 16) and (four.int() - ones.int()).abs().max() <= 1
    other = a.generate(GenerationRequest(indices=range(4), seeds=[1, 2, 3, 4], prompts=["x"] * 4))
    assert (other != four).float().mean() > 0.3  # the prompts reach the text encoder
    suite = tmp_path / "t2i.yaml"
    suite.write_text(f"""name: sdt
datasets: {{shapes-test: {{kind: shapes, split: test}}}}
models:
  sd:
    adapter: diffusers-t2i
    args: {{pretrained: "{sd}", num_inference_steps: 2}}
    sweep: {{guidance_scale: [1.0, 4.0]}}
output: {{grid: 4}}
tasks:
  - {{name: t, kind: text-to-image, reference: shapes-test, n: 8, batch_size: 4, backbone: shapes-clip,
      args: {{samples_per_prompt: 2}}, metrics: [fid, clipscore_torchmetrics]}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 0, err
    (run,) = list((tmp_path / "o" / "sdt").iterdir())
    rows = [json.loads(x) for x in (run / "rows.jsonl").read_text().splitlines()]
    assert {r["model"] for r in rows} == {"sd[guidance_scale=1.0]", "sd[guidance_scale=4.0]"}
    assert {r["metric"] for r in rows} >= {"fid", "clip_score_tm"}


def test_perf_reports_latency_and_per_step_time_for_each_sweep_point(pipes: dict[str, Path], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    suite = tmp_path / "perf.yaml"
    suite.write_text(f"""name: hfperf
datasets: {{ref: {{kind: digits, split: test}}}}
models:
  ddpm:
    adapter: diffusers
    args: {{pretrained: "{pipes['ddpm']}"}}
    sweep: {{num_inference_steps: [2, 8]}}
  dit: {{adapter: diffusers, args: {{pretrained: "{pipes['dit']}", num_inference_steps: 3}}}}
tasks:
  - {{name: speed, kind: perf, reference: ref, metrics: [perf], models: [ddpm],
     args: {{batch_sizes: [1], min_duration: 0.05, min_queries: 3, warmup: 1}}}}
  - {{name: speed-c, kind: perf, reference: ref, metrics: [perf], models: [dit],
     args: {{batch_sizes: [2], min_duration: 0.05, min_queries: 3, warmup: 1, classes: 1000}}}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 0, err
    (run,) = list((tmp_path / "o" / "hfperf").iterdir())
    rows = {(r["model"], r["metric"]): r for r in map(json.loads, (run / "rows.jsonl").read_text().splitlines())}
    for steps in (2, 8):
        m = f"ddpm[num_inference_steps={steps}]"
        step = rows[(m, "step_ms@bs1")]
        assert step["extras"]["steps"] == steps
        assert step["value"] == pytest.approx(rows[(m, "latency_p50@bs1")]["value"] / steps)
    # a class-conditional pipeline is timed with class labels (args.classes), 3 steps per call
    assert rows[("dit", "step_ms@bs2")]["extras"]["steps"] == 3
