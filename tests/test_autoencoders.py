"""The autoencoder adapter kind, source by source: Python, TorchScript, the digits zoo (vae, vqvae), diffusers
AutoencoderKL and VQModel (tiny random-weight models from configs, saved with save_pretrained), and the identity and
blur baselines. Each reconstructs uint8 images of its input's size, the same whatever the batch, with codes exactly
where the model is discrete and a likelihood exactly where it reports one; each equals the model's own forward."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from bench.adapters import AdapterContext, build_adapter
from bench.adapters.autoencoders import VAE_DECODER_SIGMA, discretized_gaussian_log_likelihood, to_float

from bench.data import digits
from tests.conftest import run_cli


def _digits(n: int = 6) -> torch.Tensor:
    return digits.load("test")[0][:n]


def _ctx(root: Path) -> AdapterContext:
    return AdapterContext(resolve_path=lambda p: Path(p) if Path(p).is_absolute() else root / p)


@pytest.fixture(scope="module")
def diffusers_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("diffusers")
    from diffusers import AutoencoderKL, VQModel

    root = tmp_path_factory.mktemp("ae")
    blocks = {"down_block_types": ("DownEncoderBlock2D",) * 2, "up_block_types": ("UpDecoderBlock2D",) * 2,
              "block_out_channels": (8, 8), "norm_num_groups": 4, "sample_size": 8}
    torch.manual_seed(0)
    AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **blocks).save_pretrained(root / "kl")  # type: ignore[arg-type]
    VQModel(in_channels=3, out_channels=3, latent_channels=4, num_vq_embeddings=16, vq_embed_dim=4,
            **blocks).save_pretrained(root / "vq")  # type: ignore[arg-type]
    return {"kl": root / "kl", "vq": root / "vq"}


def _script(root: Path) -> str:
    from tests.models import TinyVQ

    torch.jit.save(torch.jit.script(TinyVQ()), str(root / "vq.pt"))
    return str(root / "vq.pt")


#: name → (adapter, args maker, codebook size or None, reports a likelihood)
SOURCES: dict[str, tuple[str, Any, int | None, bool]] = {
    "python-vq": ("python-autoencoder", lambda r, d: {"target": "tests.models:TinyVQ"}, 5, True),
    "python-continuous": ("python-autoencoder", lambda r, d: {"target": "tests.models:ContinuousAE"}, None, False),
    "torchscript-vq": ("torchscript-autoencoder", lambda r, d: {"path": _script(r)}, 5, True),
    "zoo-vae": ("zoo-autoencoder", lambda r, d: {"name": "vae", "elbo_samples": 4}, None, True),
    "zoo-vqvae": ("zoo-autoencoder", lambda r, d: {"name": "vqvae"}, 64, False),
    "identity": ("identity-autoencoder", lambda r, d: {}, None, False),
    "blur": ("blur-autoencoder", lambda r, d: {"sigma": 0.8}, None, False),
    "diffusers-kl": ("diffusers-autoencoder", lambda r, d: {"pretrained": str(d["kl"])}, None, False),
    "diffusers-vq": ("diffusers-autoencoder", lambda r, d: {"pretrained": str(d["vq"])}, 16, False),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_source_reconstructs_batch_invariantly_with_codes_and_likelihood_where_due(
        source: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    name, make, size, likelihood = SOURCES[source]
    models = request.getfixturevalue("diffusers_models") if name.startswith("diffusers") else {}
    ae = build_adapter(name, make(tmp_path, models), _ctx(tmp_path))
    assert ae.kind == "autoencoder"
    x, seeds = _digits(6), [101, 102, 103, 104, 105, 106]
    out, enc = ae.reconstruct(x, seeds)  # type: ignore[attr-defined]
    assert out.dtype == torch.uint8 and out.shape[0] == 6 and out.shape[2:] == x.shape[2:]
    parts = [ae.reconstruct(x[i:i + 3], seeds[i:i + 3]) for i in (0, 3)]  # type: ignore[attr-defined]
    assert (torch.cat([p[0] for p in parts]).int() - out.int()).abs().max() <= 1  # a batched network: one level at most
    assert ae.codebook_size == size  # type: ignore[attr-defined]
    assert (enc.codes is not None) == (size is not None)
    if size is not None:
        assert enc.codes.dtype == torch.int64 and enc.codes.shape[0] == 6
        assert 0 <= int(enc.codes.min()) and int(enc.codes.max()) < size
        assert torch.equal(torch.cat([p[1].codes.reshape(3, -1) for p in parts]), enc.codes.reshape(6, -1))
    assert (enc.log_likelihood is not None) == likelihood
    if likelihood:
        ll = enc.log_likelihood.double()
        assert ll.shape == (6,) and bool((ll < 0).all())  # a probability of an 8-bit image: below 1
        np.testing.assert_allclose(torch.cat([p[1].log_likelihood for p in parts]).numpy(), ll.numpy(), rtol=1e-6)  # float32 net
    again, _ = build_adapter(name, make(tmp_path, models), _ctx(tmp_path)).reconstruct(x, seeds)  # type: ignore[attr-defined]
    assert torch.equal(again, out)


def test_identity_and_blur_baselines() -> None:
    from bench.adapters.baselines import gaussian_blur

    x = _digits(8)
    ident = build_adapter("identity-autoencoder", {}, AdapterContext())
    assert torch.equal(ident.reconstruct(x)[0], x)  # type: ignore[attr-defined]
    blur = build_adapter("blur-autoencoder", {"sigma": 0.5}, AdapterContext())
    assert torch.equal(blur.reconstruct(x)[0], gaussian_blur(x, 0.5))  # type: ignore[attr-defined]


def test_zoo_autoencoders_equal_their_networks() -> None:
    from bench import zoo

    x = _digits(10)
    vq = build_adapter("zoo-autoencoder", {"name": "vqvae"}, AdapterContext())
    out, enc = vq.reconstruct(x)  # type: ignore[attr-defined]
    net: Any = zoo.load("vqvae")
    zq, codes = net.quantize(net.encode_continuous(to_float(x, (-1.0, 1.0))))
    assert torch.equal(enc.codes, codes) and enc.codes.shape == (10, 4, 4)
    assert torch.equal(out, torch.round((net.decode(zq) + 1) * 127.5).to(torch.uint8))  # to_uint8 of [-1, 1]
    vae = build_adapter("zoo-autoencoder", {"name": "vae"}, AdapterContext())
    out, enc = vae.reconstruct(x)  # type: ignore[attr-defined]
    net = zoo.load("vae")
    mu, _ = net.encode(to_float(x, (-1.0, 1.0)))
    assert torch.equal(out, torch.round((net.decode(mu) + 1) * 127.5).to(torch.uint8))  # from the posterior mean
    assert enc.log_likelihood is None  # no seeds, no ELBO samples


def test_vae_elbo_by_hand_and_its_decoder_is_a_distribution() -> None:
    """The discretized Gaussian gives the 256 values of a pixel probabilities summing to 1, and the VAE's ELBO is
    E_q[log p(x|z)] - KL recomputed here from the network with the same per-image noise."""
    from bench import zoo
    from bench.seeding import latents_from_seeds

    values = torch.arange(256, dtype=torch.uint8).view(256, 1, 1, 1)
    for mean in (-1.0, -0.3, 0.0, 0.9):
        p = discretized_gaussian_log_likelihood(values, torch.full((256, 1, 1, 1), mean), VAE_DECODER_SIGMA).exp()
        assert float(p.sum()) == pytest.approx(1.0, abs=1e-12)
    x, seeds = _digits(3), [7, 8, 9]
    vae = build_adapter("zoo-autoencoder", {"name": "vae", "elbo_samples": 2}, AdapterContext())
    ll = vae.encode(x, seeds).log_likelihood  # type: ignore[attr-defined]
    net: Any = zoo.load("vae")
    mu, logvar = net.encode(to_float(x, (-1.0, 1.0)))
    eps = latents_from_seeds(seeds, (2, 16))
    for i in range(3):
        z = mu[i] + (0.5 * logvar[i]).exp() * eps[i]  # [2, 16]
        rec = discretized_gaussian_log_likelihood(x[i:i + 1].expand(2, -1, -1, -1), net.decode(z), VAE_DECODER_SIGMA)
        kl = 0.5 * (mu[i].double() ** 2 + logvar[i].double().exp() - 1 - logvar[i].double()).sum()
        assert float(ll[i]) == pytest.approx(float(rec.mean() - kl), rel=1e-6)  # float32 network, other batch shape


def test_diffusers_autoencoders_equal_the_models_own_forward(diffusers_models: dict[str, Path]) -> None:
    from diffusers import AutoencoderKL, VQModel

    from bench.images import match_channels

    x = _digits(4)
    xf = to_float(match_channels(x, 3), (-1.0, 1.0))
    kl_model = AutoencoderKL.from_pretrained(str(diffusers_models["kl"])).eval()
    vq_model = VQModel.from_pretrained(str(diffusers_models["vq"])).eval()
    kl = build_adapter("diffusers-autoencoder", {"pretrained": str(diffusers_models["kl"])}, AdapterContext())
    vq = build_adapter("diffusers-autoencoder", {"pretrained": str(diffusers_models["vq"])}, AdapterContext())
    with torch.no_grad():
        want_kl = kl_model(xf, sample_posterior=False).sample  # decode(posterior mode)
        want_vq = vq_model(xf).sample  # encode, quantize inside decode
        _, _, (_, _, idx) = vq_model.quantize(vq_model.encode(xf).latents)
    u8 = lambda t: torch.round((t.clamp(-1, 1) + 1) * 127.5).to(torch.uint8)  # noqa: E731
    assert torch.equal(kl.reconstruct(x)[0], u8(want_kl))  # type: ignore[attr-defined]
    out, enc = vq.reconstruct(x)  # type: ignore[attr-defined]
    assert torch.equal(out, u8(want_vq))
    assert torch.equal(enc.codes, idx.reshape(4, -1))


def test_wrong_models_and_metrics_are_refused_at_validate(write_suite: Any, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_suite("""
datasets: {test: {kind: digits, split: test}}
models:
  gan-as-ae: {adapter: zoo-autoencoder, args: {name: gan}}
  vq-as-gen: {adapter: zoo, args: {name: vqvae}}
  dcgan: {adapter: zoo, args: {name: dcgan}}
  vq: {adapter: zoo-autoencoder, args: {name: vqvae}}
tasks:
  - {name: rec, kind: reconstruction, reference: test, models: [dcgan, vq], metrics: [psnr, codebook]}
  - {name: gen, reference: test, n: 20, models: [dcgan], metrics: [fid, codebook]}
""")
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "zoo model 'gan' is a generator without an encoder" in err
    assert "zoo model 'vqvae' is an autoencoder without a prior" in err
    assert "model 'dcgan' is a image-generator; a reconstruction task needs ['autoencoder']" in err
    assert "metric 'codebook' needs codes" in err


def test_an_autoencoder_that_changes_the_size_is_one_clear_line(write_suite: Any, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "shrink.py").write_text("""
import torch.nn.functional as F
class Shrink:
    def encode(self, x):
        return x
    def decode(self, z):
        return F.avg_pool2d(z, 2)
""")
    p = write_suite("""
datasets: {test: {kind: digits, split: test}}
models: {shrink: {adapter: python-autoencoder, args: {target: "shrink:Shrink"}}}
tasks: [{name: rec, kind: reconstruction, reference: test, n: 10, metrics: [psnr]}]
""")
    code, _out, err = run_cli(["run", str(p), "--out", str(tmp_path / "out"), "--quiet", "--no-cache"], capsys)
    assert code != 0 and "Traceback" not in err
    assert "model 'shrink': reconstructions are 4x4 but its inputs are 8x8" in err


def test_source_problems_are_reported_at_their_line(write_suite: Any, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text('{"_class_name": "UNet2DModel"}')
    p = write_suite("""datasets: {test: {kind: digits, split: test}}
models:
  a: {adapter: python-autoencoder, args: {target: "nowhere_module:Model"}}
  b: {adapter: torchscript-autoencoder, args: {path: missing.pt}}
  c: {adapter: diffusers-autoencoder, args: {pretrained: ./unet}}
tasks: [{name: rec, kind: reconstruction, reference: test, metrics: [psnr]}]
""")
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{p}:3: models.a.args.target: cannot import module 'nowhere_module'" in err
    assert f"{p}:4: models.b.args.path: {tmp_path / 'missing.pt'}: TorchScript file does not exist" in err
    assert f"{p}:5: models.c.args.pretrained: {tmp_path / 'unet'}: a UNet2DModel; diffusers-autoencoder runs" in err


def test_image_size_crops_and_resizes_the_inputs_every_metric_compares_with(
        write_suite: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With ``image_size`` the models encode the centre-cropped, PIL-bicubic-resized inputs and every metric (rFID's
    reference included) compares with those: identity stays perfect, and the protocol names the preprocessing."""
    from PIL import Image

    from bench.results import RunDir
    from bench.tasks.reconstruction import centre_crop_resize

    x = torch.randint(0, 256, (3, 3, 12, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    got = centre_crop_resize(x, 6)
    for i in range(3):  # the centre 12x12, then PIL's bicubic to 6x6
        want = Image.fromarray(x[i, :, :, 2:14].permute(1, 2, 0).numpy()).resize((6, 6), Image.Resampling.BICUBIC)
        assert np.array_equal(got[i].permute(1, 2, 0).numpy(), np.asarray(want))
    p = write_suite("""datasets: {test: {kind: digits, split: test}}
models:
  identity: {adapter: identity-autoencoder}
  vq: {adapter: python-autoencoder, args: {target: "tests.models:TinyVQ"}}
tasks:
  - {name: rec, kind: reconstruction, reference: test, n: 40, backbone: digits, args: {image_size: 6},
     metrics: [psnr, rfid, codebook, bits_per_dim]}
""")
    code, _out, err = run_cli(["run", str(p), "--out", str(tmp_path / "out"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    (folder,) = (tmp_path / "out").glob("*/*")
    rows = {(r["model"], r["metric"]): r for r in RunDir(folder).rows()}
    assert rows[("identity", "psnr")]["value"] == 100.0 and rows[("identity", "rfid")]["value"] == pytest.approx(0, abs=1e-6)
    assert rows[("identity", "rfid")]["protocol"]["reference"].endswith("#first40@6px-centre-crop-bicubic")
    assert rows[("vq", "codebook_usage")]["value"] == 1.0  # 5 levels, all used by 40 digits
    assert rows[("vq", "bits_per_dim")]["value"] == pytest.approx(np.log2(5))  # TinyVQ's uniform stand-in ELBO


def test_rfid_is_refused_where_the_reference_is_not_the_inputs(write_suite: Any, capsys: pytest.CaptureFixture[str]) -> None:
    p = write_suite("""datasets: {test: {kind: digits, split: test}}
models: {dcgan: {adapter: zoo, args: {name: dcgan}}}
tasks: [{name: gen, reference: test, n: 20, metrics: [rfid]}]
""")
    code, _out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2 and "metric 'rfid' needs reference.inputs" in err


def test_perf_times_an_autoencoder(write_suite: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.results import RunDir

    p = write_suite("""datasets: {test: {kind: digits, split: test}}
models: {vq: {adapter: zoo-autoencoder, args: {name: vqvae}}}
tasks: [{name: speed, kind: perf, reference: test, metrics: [perf], args: {batch_sizes: [1, 8], warmup: 1, min_duration: 0.05, min_queries: 3}}]
""")
    code, _out, err = run_cli(["run", str(p), "--out", str(tmp_path / "out"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    (folder,) = (tmp_path / "out").glob("*/*")
    rows = {r["metric"]: r["value"] for r in RunDir(folder).rows()}
    assert rows["throughput@bs8"] > 0 and rows["latency_p50@bs1"] > 0
