"""suites/autoencoders.yaml through the real command line: identity reconstructs perfectly (rFID 0, PSNR at the cap,
SSIM 1), the VQ-VAE reports codebook usage in (0, 1] and its perplexity, the VAE bits per dimension from its ELBO,
rFID rows carry their protocol, and the models rank as they are built to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.results import RunDir
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[tuple[str, str], dict[str, Any]], str]:
    from bench.cli import main

    out = tmp_path_factory.mktemp("results")
    assert main(["run", str(ROOT / "suites/autoencoders.yaml"), "--out", str(out), "--quiet", "--no-cache"]) == 0
    (folder,) = sorted((out / "autoencoders").iterdir())
    rows = {(r["model"], r["metric"]): r for r in RunDir(folder).rows()}
    return rows, str(folder)


def _v(rows: dict[tuple[str, str], dict[str, Any]], model: str, metric: str) -> Any:
    return rows[(model, metric)]["value"]


def test_identity_is_perfect(run: tuple[dict[tuple[str, str], dict[str, Any]], str]) -> None:
    rows, _ = run
    assert _v(rows, "identity", "rfid") == pytest.approx(0.0, abs=1e-6)
    assert _v(rows, "identity", "psnr") == 100.0 and rows[("identity", "psnr")]["extras"]["cap_db"] == 100.0
    assert _v(rows, "identity", "ssim") == pytest.approx(1.0, abs=1e-12)


def test_vqvae_codebook_and_vae_bits_per_dim(run: tuple[dict[tuple[str, str], dict[str, Any]], str]) -> None:
    rows, _ = run
    usage, perplexity = _v(rows, "vqvae", "codebook_usage"), _v(rows, "vqvae", "codebook_perplexity")
    assert 0 < usage <= 1 and 1 < perplexity <= 64
    assert _v(rows, "vqvae", "code_entropy") == pytest.approx(__import__("math").log2(perplexity))
    assert rows[("vqvae", "codebook_usage")]["extras"]["codebook_size"] == 64
    assert 0 < _v(rows, "vae", "bits_per_dim") < 8  # better than a uniform model of 8-bit pixels
    for model in ("vae", "identity", "blur"):  # continuous: no codebook rows with numbers, the reason instead
        assert _v(rows, model, "codebook_usage") is None and "no discrete codes" in rows[(model, "codebook_usage")]["extras"]["reason"]
    for model in ("vqvae", "identity", "blur"):
        assert _v(rows, model, "bits_per_dim") is None


def test_rfid_protocol_and_orderings(run: tuple[dict[tuple[str, str], dict[str, Any]], str]) -> None:
    rows, _ = run
    proto = rows[("vqvae", "rfid")]["protocol"]
    assert proto["name"] == "digits" and proto["reference"].endswith(":test#first597") and proto["n"] == proto["n_ref"] == 597
    assert rows[("vqvae", "psnr")]["protocol"] is None  # pixel metrics read no network
    psnr = {m: _v(rows, m, "psnr") for m in ("identity", "vqvae", "blur", "vae")}
    assert psnr["identity"] > psnr["vqvae"] > psnr["blur"] > psnr["vae"]
    rfid = {m: _v(rows, m, "rfid") for m in ("identity", "vqvae", "vae", "blur")}
    assert rfid["identity"] < rfid["vqvae"] < rfid["vae"] < rfid["blur"]


def test_the_cli_prints_the_numbers(run: tuple[dict[tuple[str, str], dict[str, Any]], str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, folder = run
    code, out, _err = run_cli(["table", folder], capsys)
    assert code == 0
    assert "codebook_perplexity" in out and "bits_per_dim" in out and "protocol 'digits'" in out
    assert Path(folder, "samples", "reconstruction", "vqvae.png").is_file()  # inputs and reconstructions, row by row
