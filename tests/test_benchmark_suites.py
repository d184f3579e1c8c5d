"""Real-benchmark suites validate offline (weights not required) and `run --dry-run` lists exactly what a run
would download (URL, target path, sha256) and which local files it needs, without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

SUITES = ["cifar10-fid", "ffhq-fid", "imagenet-cond"]


@pytest.mark.parametrize("name", SUITES)
def test_benchmark_suites_validate_offline(name: str, empty_cache: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # without the user's samples a suite cannot run: validate says which file is missing, at its line
    code, out, err = run_cli(["validate", "--no-weights", str(ROOT / "suites" / f"{name}.yaml")], capsys)
    assert code == 2 and f"{name}.yaml:" in err and "models.samples.args.path: " in err and "does not exist" in err
    # with them in place (a copy of the suite beside placeholder samples) it validates offline
    (tmp_path / "suites").mkdir()
    suite = tmp_path / "suites" / f"{name}.yaml"
    suite.write_text((ROOT / "suites" / f"{name}.yaml").read_text())
    for p in ("samples/cifar10", "samples/ffhq256"):
        (tmp_path / p).mkdir(parents=True)
    (tmp_path / "samples" / "imagenet256_cond_50k.npz").write_bytes(b"")
    code, out, err = run_cli(["validate", "--no-weights", str(suite)], capsys)
    assert code == 0, err
    # published weights not downloaded yet: valid, with a warning naming the URL and the target path
    code, _, err = run_cli(["validate", str(suite)], capsys)
    assert code == 0 and "genbench: warning:" in err and "not found: download" in err


def test_dry_run_prints_downloads_and_targets(empty_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["run", "--dry-run", str(ROOT / "suites" / "cifar10-fid.yaml")], capsys)
    assert code == 2 and "1 file(s) the run needs are missing" in err  # the user's samples: listed below
    w = empty_cache / "weights"
    for expected in (
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        f"to   {w / 'weights-inception-2015-12-05-6726825d.pth'}",
        "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
        f"to   {w / 'dinov2_vitl14_pretrain.pth'}",
        f"to   {w / 'clip-openai-ViT-B-32.pt'}",
        "sha256 40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        f"to   {empty_cache / 'datasets' / 'torch-fidelity' / 'cifar-10-python.tar.gz'}",
        "samples/cifar10 [MISSING]",
    ):
        assert expected in out, expected
    assert not w.exists() and not (empty_cache / "datasets").exists()  # nothing fetched or created


def test_unknown_torch_fidelity_dataset_is_refused(write_suite, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    s = write_suite("datasets: {r: {kind: torch-fidelity, split: cifar10-trian}}\n"
                    "models: {m: {adapter: noise, args: {shape: [3, 32, 32]}}}\n"
                    "tasks: [{name: a, reference: r, n: 10, metrics: [fid]}]\n")
    code, _, err = run_cli(["validate", str(s)], capsys)
    assert code == 2 and "did you mean 'cifar10-train'" in err


def test_the_diffusers_suite_validates_offline_and_its_dry_run_names_the_hub_repository(
        empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("diffusers")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    suite = str(ROOT / "suites" / "ddpm-cifar10.yaml")
    code, out, err = run_cli(["validate", "--no-weights", suite], capsys)
    assert code == 0 and "4 models" in out, err  # ddpm + the DDIM sweep's three points
    code, out, err = run_cli(["run", "--dry-run", suite], capsys)  # offline (the tests' GENBENCH_OFFLINE=1)
    assert code == 2 and "1 file(s) the run needs are missing" in err
    assert ("model ddpm, ddim: diffusers hub google/ddpm-cifar10-32 [MISSING]\n"
            "      from https://huggingface.co/google/ddpm-cifar10-32\n"
            f"      to   {tmp_path / 'hub' / 'models--google--ddpm-cifar10-32'}") in out
    monkeypatch.setenv("GENBENCH_OFFLINE", "0")
    code, out, _ = run_cli(["run", "--dry-run", suite], capsys)
    assert code == 0 and "google/ddpm-cifar10-32 [would download]" in out
    assert not (tmp_path / "hub").exists()  # nothing fetched


def test_the_dit_suite_validates_offline_under_the_adm_protocol(
        empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("diffusers")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    suite = str(ROOT / "suites" / "dit-imagenet256.yaml")
    code, out, err = run_cli(["validate", "--no-weights", suite], capsys)
    assert code == 0 and "4 models" in out and "adm-eval: 4 models x 4 metrics, n=50000" in out, err
    code, out, err = run_cli(["run", "--dry-run", suite], capsys)
    assert code == 2 and "inception-v3-adm: weights-inception-2015-12-05-6726825d.pth" in out
    assert "VIRTUAL_imagenet256_labeled.npz [MISSING" in out
    assert "model dit-xl-2, dit-xl-2-cfg: diffusers hub facebook/DiT-XL-2-256 [MISSING]" in out


def test_the_stable_diffusion_coco30k_suite_validates_offline(
        empty_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("diffusers")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    suite = str(ROOT / "suites" / "sd-coco30k.yaml")
    code, out, err = run_cli(["validate", "--no-weights", suite], capsys)
    assert code == 0 and "4 models" in out and "coco30k-fid: 4 models x 1 metrics, n=30000" in out, err
    code, out, err = run_cli(["run", "--dry-run", suite], capsys)
    assert code == 2 and "inception-v3-compat: weights-inception" in out and "clip-vit-b32: clip-openai-ViT-B-32.pt" in out
    assert "model sd15: diffusers-t2i hub stable-diffusion-v1-5/stable-diffusion-v1-5 [MISSING]" in out
    assert "captions_val2014.json [MISSING]" in out
