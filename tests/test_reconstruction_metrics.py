"""Reconstruction numbers against hand computation and their reference library: PSNR and SSIM (and their data
range: uint8 images at 255, [0, 1] floats at 1, against torchmetrics with the matching ``data_range``), codebook
usage, entropy and perplexity, bits per dimension, and rFID (0 for a perfect reconstruction)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from bench.errors import InputError
from bench.metrics import ArtifactSink, Codes, Reference, SampleSet
from bench.metrics.codes import bits_per_dim, codebook_stats
from bench.metrics.reconstruction import RFID, BitsPerDim, Codebook
from bench.translation import measures


def _noisy(shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    return (x.int() + torch.randint(-30, 31, shape, generator=g)).clamp(0, 255).to(torch.uint8), x


# ---------------------------------------------------------------------------------------- PSNR and SSIM by hand
def test_psnr_by_hand() -> None:
    a = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    b = a.clone()
    b[0] += 10  # every pixel off by 10: MSE 100
    b[1, 0, 0, 0] = 255  # one pixel of 16 off by 255: MSE 255^2 / 16
    got = measures.psnr(b, a)
    assert got[0] == pytest.approx(10 * math.log10(255**2 / 100))  # 28.1308 dB
    assert got[1] == pytest.approx(10 * math.log10(16))  # 12.0412 dB
    assert measures.psnr(a, a).tolist() == [measures.PSNR_CAP] * 2 == [100.0, 100.0]  # identical: the cap


def test_ssim_of_constant_images_by_hand() -> None:
    """Two constant images (no variance, no covariance): SSIM = (2ab + C1) / (a² + b² + C1), C1 = (0.01 * 255)²."""
    a = torch.full((1, 1, 16, 16), 100, dtype=torch.uint8)
    b = torch.full((1, 1, 16, 16), 110, dtype=torch.uint8)
    c1 = (0.01 * 255) ** 2
    want = (2 * 100 * 110 + c1) / (100**2 + 110**2 + c1)
    assert measures.ssim(b, a)[0] == pytest.approx(want, rel=1e-7)  # float32, the default
    assert measures.ssim(b, a, dtype=torch.float64)[0] == pytest.approx(want, rel=1e-12)
    assert measures.ssim(a, a)[0] == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------------------- the data range
@pytest.mark.parametrize("shape", [(5, 1, 8, 8), (3, 3, 24, 20)])
def test_data_range_uint8_is_255_and_unit_floats_is_1(shape: tuple[int, ...]) -> None:
    """genbench's SSIM/PSNR of uint8 images equal torchmetrics at data_range=255, and of the same images as [0, 1]
    floats equal torchmetrics at data_range=1: the same numbers. The classic bug (floats in [0, 1] with
    data_range=255) gives SSIM near 1 whatever the images; genbench cannot be called that way."""
    out, gt = _noisy(shape)
    u8 = measures.ssim(out, gt)
    unit = measures.ssim(out.double() / 255, gt.double() / 255)
    tm_255 = structural_similarity_index_measure(out.double(), gt.double(), data_range=255.0, reduction="none")
    tm_1 = structural_similarity_index_measure(out.double() / 255, gt.double() / 255, data_range=1.0, reduction="none")
    np.testing.assert_allclose(u8, tm_255.numpy(), atol=1e-6)  # float32, the default
    np.testing.assert_allclose(unit, tm_1.numpy(), atol=1e-6)
    np.testing.assert_allclose(u8, unit, atol=1e-6)
    u8_64, unit_64 = (measures.ssim(x, y, dtype=torch.float64) for x, y in ((out, gt), (out.double() / 255, gt.double() / 255)))
    np.testing.assert_allclose(u8_64, tm_255.numpy(), atol=1e-12)
    np.testing.assert_allclose(unit_64, tm_1.numpy(), atol=1e-12)
    bug = structural_similarity_index_measure(out.double() / 255, gt.double() / 255, data_range=255.0, reduction="none")
    assert float(bug.min()) > 0.99 > float(u8.max())  # the wrong data range flatters every model
    psnr_tm = peak_signal_noise_ratio(out.double() / 255, gt.double() / 255, data_range=1.0, reduction="none",
                                      dim=(1, 2, 3))
    np.testing.assert_allclose(measures.psnr(out.float() / 255, gt.float() / 255), psnr_tm.numpy(), rtol=1e-6)
    np.testing.assert_allclose(measures.psnr(out, gt), psnr_tm.numpy(), rtol=1e-7)


def test_floats_outside_the_unit_range_are_refused() -> None:
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(InputError, match=r"floats must lie in \[0, 1\]"):
        measures.ssim(x + 255.0, x)
    with pytest.raises(InputError, match=r"floats must lie in \[0, 1\]"):
        measures.psnr(x - 1.0, x)


# ---------------------------------------------------------------------------------------- codes
@pytest.mark.parametrize(("codes", "size", "usage", "entropy"), [
    ([0, 0, 1, 1], 4, 0.5, 1.0),
    ([0, 1, 2, 3], 8, 0.5, 2.0),
    ([3, 3, 3, 3], 4, 0.25, 0.0),
    ([0, 0, 0, 1], 2, 1.0, -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))),  # 0.8113 bits
])
def test_codebook_stats_by_hand(codes: list[int], size: int, usage: float, entropy: float) -> None:
    st = codebook_stats(np.array(codes), size)
    assert st.usage == usage and 0 < st.usage <= 1
    assert st.entropy_bits == pytest.approx(entropy, abs=1e-15)
    assert st.perplexity == pytest.approx(2**entropy)
    # perplexity is exp of the entropy in nats, as VQ-VAE code computes it
    p = np.bincount(codes, minlength=size) / len(codes)
    p = p[p > 0]
    assert st.perplexity == pytest.approx(math.exp(-(p * np.log(p)).sum()))


def test_codebook_stats_refuse_codes_outside_the_codebook() -> None:
    with pytest.raises(ValueError, match="outside a codebook of 4"):
        codebook_stats(np.array([0, 4]), 4)


def test_codebook_metric_on_images_of_codes_and_on_a_continuous_model() -> None:
    codes = np.array([[0, 1], [1, 1], [2, 1]])  # 3 images x 2 positions: code 1 four times of six
    vals = {v.metric: v for v in Codebook().compute(SampleSet(name="m", codes=Codes(codes, 8)), Reference())}
    assert vals["codebook_usage"].value == 3 / 8
    h = -(4 / 6 * math.log2(4 / 6) + 2 * (1 / 6) * math.log2(1 / 6))
    assert vals["code_entropy"].value == pytest.approx(h) and vals["codebook_perplexity"].value == pytest.approx(2**h)
    assert vals["codebook_usage"].extras["codes_per_input"] == 2
    none = Codebook().compute(SampleSet(name="ae"), Reference())
    assert [v.value for v in none] == [None] * 3 and "no discrete codes" in none[0].extras["reason"]


def test_bits_per_dim_by_hand() -> None:
    """A uniform model of 8-bit pixels: log p = -D ln 256 per image, exactly 8 bits per dimension."""
    dims = 1 * 8 * 8
    ll = np.full(3, -dims * math.log(256.0))
    assert bits_per_dim(-ll, dims).tolist() == pytest.approx([8.0] * 3)
    sink = ArtifactSink()
    (v,) = BitsPerDim().compute(SampleSet(name="m", log_likelihood=ll, item_shape=(1, 8, 8)), Reference(), sink=sink)
    assert v.value == pytest.approx(8.0) and sink.per_sample_values["bits_per_dim"] == pytest.approx([8.0] * 3)
    (none,) = BitsPerDim().compute(SampleSet(name="m", item_shape=(1, 8, 8)), Reference())
    assert none.value is None and "reports no likelihood" in none.extras["reason"]


# ---------------------------------------------------------------------------------------- rFID
def test_rfid_is_zero_for_identical_features_and_equals_fid_otherwise() -> None:
    from bench.metrics.distribution import FID

    rng = np.random.default_rng(0)
    f = rng.standard_normal((300, 8))
    g = f + 0.3 * rng.standard_normal((300, 8))
    ref = Reference("r", features={"pool": f}, layer="pool")
    (same,) = RFID().compute(SampleSet(features={"pool": f.copy()}, layer="pool"), ref, seed=0)
    assert same.metric == "rfid" and same.value is not None and 0.0 <= same.value < 1e-9
    (other,) = RFID().compute(SampleSet(features={"pool": g}, layer="pool"), ref, seed=0)
    (fid,) = FID().compute(SampleSet(features={"pool": g}, layer="pool"), ref, seed=0)
    assert other.value == fid.value and other.value > 0.01
