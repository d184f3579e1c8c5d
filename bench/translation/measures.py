"""Per-image distances between two aligned uint8 image sets, shared by the translation metrics, the
``translation`` task kind and ``genbench score pairs|cycle`` (one implementation, one set of conventions).

Conventions (each tested equal to its reference on fixed inputs, tests/test_translation_measures.py):

- Data range: every measure works on the 0..255 scale (:func:`pixel_scale`): uint8 images have data range 255,
  floats must lie in [0, 1] (data range 1) and are scaled by 255, so both give the same PSNR and SSIM
  (tests/test_reconstruction_metrics.py checks both against torchmetrics with the matching ``data_range``).

- L1: mean absolute difference of pixel values scaled to [0, 1].
- PSNR: ``10 log10(255² / MSE)`` per image, as torchmetrics' ``peak_signal_noise_ratio(data_range=255,
  reduction='none', dim=(1, 2, 3))``. Identical images have infinite PSNR; we cap each image at
  ``PSNR_CAP`` = 100 dB so that a mean stays finite (the cap is recorded in the row's extras).
- SSIM: torchmetrics' ``structural_similarity_index_measure`` defaults: Gaussian window sigma 1.5 (size
  11), K1 = 0.01, K2 = 0.03, data range 255, reflection padding of 5 pixels, no border crop, mean over
  channels and pixels. On 8x8 digits the 11-pixel window is wider than the image, so every SSIM value leans on
  reflected pixels; scikit-image's default (7x7 uniform window, cropped) would give other numbers. Computed in
  float32 (torchmetrics' usual precision) by banded-matrix products (the separable Gaussian and the reflection
  folded into one matrix per axis), on planes centred on their mean: within 1e-6 of torchmetrics in float64,
  nearer to it than torchmetrics' own float32 result, and faster (scripts/bench_ssim.py); ``dtype=torch.float64``
  reproduces torchmetrics' float64 values to ~1e-15.
- MS-SSIM: torchmetrics' ``multiscale_structural_similarity_index_measure`` defaults (5 scales, its betas,
  "relu" normalisation). It needs images of at least 176x176 (torchmetrics' rule: side // 16 > 10) and is
  reported unavailable, with that reason, for smaller images: every embedded task (8x8) among them.
- Perceptual distance: ``lpips`` (the lpips package, AlexNet, v0.1 linear heads) when torchvision's AlexNet
  weights are in the torch hub cache, images resized to 64x64 (bilinear, align_corners=False: AlexNet's first
  layers need at least ~64 px) and mapped to [-1, 1]; otherwise ``perceptual_digits``: the LPIPS formula with
  uniform weights on the embedded digits classifier's conv1, conv2 and fc1 activations (unit-normalised over
  channels, squared difference summed over channels, averaged over positions, summed over layers). The two
  are different numbers and are never given the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import InputError, WeightsError
from bench.images import match_channels

PSNR_CAP = 100.0
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
MS_SSIM_MIN_SIZE = 176  # torchmetrics: side // 2**4 must exceed the window's 10


def check_aligned(out: torch.Tensor, gt: torch.Tensor, what: str = "outputs", names: list[str] | None = None) -> None:
    """Equal counts and sizes, or an InputError naming the first offending file when names are known."""
    if out.shape[0] != gt.shape[0]:
        raise InputError(f"{what}: {out.shape[0]} images vs {gt.shape[0]} ground-truth images")
    if out.shape[2:] != gt.shape[2:]:
        first = f" (first: {names[0]})" if names else ""
        raise InputError(f"{what}: images are {out.shape[-1]}x{out.shape[-2]} but the ground truth is "
                         f"{gt.shape[-1]}x{gt.shape[-2]}{first}; translation outputs must match their target size")


def pixel_scale(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """float64 pixel values on the 0..255 scale, whatever the input's data range: uint8 images are taken as they
    are (data range 255), floating-point images must lie in [0, 1] (data range 1) and are multiplied by 255. So
    PSNR and SSIM of an image are the same number as uint8 or as [0, 1] floats; the classic bug of tokenizer
    scripts, SSIM of [0, 1] floats with ``data_range=255`` (its constants C1, C2 then 255² times too large, every
    value close to 1), cannot happen here."""
    if images.dtype == torch.uint8:
        return images.double()
    if not images.is_floating_point():
        raise InputError(f"{what}: {images.dtype} pixels; give uint8 (0..255) or floats in [0, 1]")
    lo, hi = (float(images.min()), float(images.max())) if images.numel() else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        raise InputError(f"{what}: float pixels range over [{lo:.4g}, {hi:.4g}]; floats must lie in [0, 1] (data "
                         "range 1): rescale them, or convert to uint8 (data range 255)")
    return images.double() * 255.0


def _pair(out: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c = max(out.shape[1], gt.shape[1])
    return pixel_scale(match_channels(out, c), "outputs"), pixel_scale(match_channels(gt, c), "ground truth")


def l1(out: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
    o, g = _pair(out, gt)
    return ((o - g).abs().flatten(1).mean(1) / 255.0).numpy()


def psnr(out: torch.Tensor, gt: torch.Tensor, cap: float = PSNR_CAP) -> np.ndarray:
    o, g = _pair(out, gt)
    mse = ((o - g) ** 2).flatten(1).mean(1)
    with np.errstate(divide="ignore"):
        val = 10.0 * np.log10(255.0**2 / mse.numpy())
    return np.minimum(val, cap)


def _gaussian_1d(sigma: float) -> np.ndarray:
    """torchmetrics' normalised 1-D Gaussian (its 2-D window is the outer product of two of these), float64."""
    size = int(3.5 * sigma + 0.5) * 2 + 1  # torchmetrics' Gaussian window size for sigma
    dist = np.arange((1 - size) / 2, (1 + size) / 2, 1, dtype=np.float64)
    g = np.exp(-((dist / sigma) ** 2) / 2)
    return g / g.sum()


@lru_cache(maxsize=32)
def _blur_matrix(n: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """``n x n`` matrix ``M`` with ``(x @ M)[j] = sum_a g[a] x_pad[j + a]``: the 1-D Gaussian over a row of ``n``
    pixels reflection-padded by ``pad`` (torch's ``reflect``: the edge pixel is not repeated), folded into one
    banded matrix. Blurring by matrix products lets the BLAS do the work: ~10x faster than the depthwise 2-D
    convolution torchmetrics uses in float32, ~30x in float64 (scripts/bench_ssim.py)."""
    g = _gaussian_1d(sigma)
    pad = (len(g) - 1) // 2
    m = np.zeros((n, n), dtype=np.float64)
    for j in range(n):
        for a, w in enumerate(g):
            i = j + a - pad
            i = -i if i < 0 else (2 * (n - 1) - i if i >= n else i)
            m[i, j] += w
    return torch.from_numpy(m).to(dtype)


#: output columns (rows) blurred by one matrix product: the band of a tile is TILE + 2 * pad input pixels, so
#: the work per pixel stays ~TILE + 10 multiply-adds whatever the image size
_BLUR_TILE = 128


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(..., H, W)`` with reflection padding, output the input's size."""
    h, w = x.shape[-2:]
    pad = int(3.5 * sigma + 0.5)
    mw, mh = _blur_matrix(w, sigma, x.dtype), _blur_matrix(h, sigma, x.dtype)
    if w <= _BLUR_TILE:
        y = x @ mw
    else:
        y = torch.cat([x[..., max(0, lo - pad):min(w, lo + _BLUR_TILE + pad)]
                       @ mw[max(0, lo - pad):min(w, lo + _BLUR_TILE + pad), lo:lo + _BLUR_TILE]
                       for lo in range(0, w, _BLUR_TILE)], -1)
    if h <= _BLUR_TILE:
        return mh.T @ y
    return torch.cat([mh[max(0, lo - pad):min(h, lo + _BLUR_TILE + pad), lo:lo + _BLUR_TILE].T
                      @ y[..., max(0, lo - pad):min(h, lo + _BLUR_TILE + pad), :]
                      for lo in range(0, h, _BLUR_TILE)], -2)


#: pixels (per plane) of one chunk of images: 5 such float32 planes and their blurs stay in the heap and near
#: the caches (larger chunks were slower on 2 cores, scripts/bench_ssim.py), and memory is bounded whatever N
_SSIM_CHUNK_PIXELS = 1 << 19


def _ssim_and_cs(o: torch.Tensor, g: torch.Tensor, sigma: float,
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image SSIM (mean of the whole reflect-padded map) and contrast-structure term (mean of the map's
    interior, ``pad`` pixels in from each border) of NCHW pixels on the 0..255 scale, as torchmetrics computes
    them, in ``dtype`` (float32: torchmetrics' own precision), returned as float64.

    Why float32 is safe here although a plain float32 SSIM is not: the local variance ``E[x^2] - E[x]^2``
    cancels catastrophically on bright flat areas (torchmetrics in float32 is off by ~1e-5 on such images).
    Each (image, channel) pair of planes is first shifted by their common mean rounded to an integer (exact in
    float32 for 8-bit pixels), so the moments are those of deviations from it; the luminance term is computed as
    ``1 - (mu_o - mu_g)^2 / (mu_o^2 + mu_g^2 + C1)``, algebraically the textbook one. Then float32 stays within
    ~1e-7 of the float64 result (tests/test_translation_measures.py)."""
    pad = int(3.5 * sigma + 0.5)
    if min(o.shape[-2:]) <= pad:
        raise InputError(f"SSIM: images of {o.shape[-1]}x{o.shape[-2]} are too small for a Gaussian window of "
                         f"sigma {sigma} (reflection padding {pad} needs at least {pad + 1} pixels a side)")
    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2
    step = max(1, _SSIM_CHUNK_PIXELS // max(1, o[0].numel()))
    sims, css = [], []
    for lo in range(0, o.shape[0], step):
        oc, gc = o[lo:lo + step], g[lo:lo + step]
        n = oc.shape[0]
        centre = ((oc.mean((-2, -1), keepdim=True, dtype=torch.float64)
                   + gc.mean((-2, -1), keepdim=True, dtype=torch.float64)) / 2).round()
        planes = torch.empty((5, *oc.shape), dtype=dtype)
        torch.sub(oc, centre, out=planes[0])
        torch.sub(gc, centre, out=planes[1])
        torch.mul(planes[0], planes[0], out=planes[2])
        torch.mul(planes[1], planes[1], out=planes[3])
        torch.mul(planes[0], planes[1], out=planes[4])
        b = _blur(planes.view(5 * n, *oc.shape[1:]), sigma).view(planes.shape)
        mu_o, mu_g, var_o, var_g, cs = b.unbind(0)  # blurred: means, second moments, cross moment (in place)
        var_o.addcmul_(mu_o, mu_o, value=-1).clamp_min_(0)
        var_g.addcmul_(mu_g, mu_g, value=-1).clamp_min_(0)
        cs.addcmul_(mu_o, mu_g, value=-1).mul_(2).add_(c2).div_(var_o.add_(var_g).add_(c2))
        lum = torch.sub(mu_o, mu_g, out=var_g).square_()  # (mu_o - mu_g)^2, the centring cancels
        centre = centre.to(dtype)
        mu_o.add_(centre).square_()
        den = mu_g.add_(centre).square_().add_(mu_o).add_(c1)
        lum.div_(den).neg_().add_(1).mul_(cs)  # the SSIM map
        sims.append(lum.flatten(1).mean(1, dtype=torch.float64))
        css.append(cs[..., pad:-pad, pad:-pad].flatten(1).mean(1, dtype=torch.float64))
    return torch.cat(sims), torch.cat(css)


def ssim(out: torch.Tensor, gt: torch.Tensor, sigma: float = SSIM_SIGMA,
         dtype: torch.dtype = torch.float32) -> np.ndarray:
    """Per-image SSIM, computed in ``dtype`` (float32 by default: within 1e-6 of float64, see
    :func:`_ssim_and_cs`; float64 reproduces torchmetrics' float64 result to ~1e-15)."""
    o, g = _pair(out, gt)
    return _ssim_and_cs(o, g, sigma, dtype)[0].numpy()


MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_unavailable(images: torch.Tensor) -> str | None:
    """Why MS-SSIM cannot be computed on these images (torchmetrics' rule: side // 16 > 10), or None."""
    h, w = images.shape[-2:]
    if min(h, w) < MS_SSIM_MIN_SIZE:
        return (f"MS-SSIM needs images of at least {MS_SSIM_MIN_SIZE}x{MS_SSIM_MIN_SIZE} (5 scales, halving each time, "
                f"of an 11-pixel window); these are {w}x{h}")
    return None


def ms_ssim(out: torch.Tensor, gt: torch.Tensor, sigma: float = SSIM_SIGMA,
            dtype: torch.dtype = torch.float32) -> np.ndarray:
    """Multi-scale SSIM as torchmetrics' default: 5 scales (2x2 average pooling between them), weights
    ``MS_SSIM_BETAS``, negative terms clipped to 0 ("relu"), contrast-structure terms at the first four
    scales and the full SSIM at the last."""
    reason = ms_ssim_unavailable(out)
    if reason:
        raise InputError(reason)
    o, g = _pair(out, gt)
    terms = []
    for _ in MS_SSIM_BETAS:
        sim, cs = _ssim_and_cs(o, g, sigma, dtype)
        terms.append(cs.clamp_min(0))
        o, g = F.avg_pool2d(o, 2), F.avg_pool2d(g, 2)
    terms[-1] = sim.clamp_min(0)
    betas = torch.tensor(MS_SSIM_BETAS, dtype=torch.float64).view(-1, 1)
    return torch.prod(torch.stack(terms) ** betas, 0).numpy()


# ----------------------------------------------------------------------------------------- perceptual


def lpips_available() -> bool:
    """True when AlexNet-LPIPS can be built offline: torchvision's AlexNet file is in genbench's weights cache
    (``genbench weights path torchvision-alexnet``; resolved and hash-checked by bench.backbones.lpips_nets)."""
    from bench.backbones.lpips_nets import NETS
    from bench.weights import is_present

    return is_present(NETS["alex"][1])


@dataclass(frozen=True)
class Perceptual:
    """A perceptual distance: its value name (``lpips`` or ``perceptual_digits``) and its protocol record."""

    name: str
    protocol: dict[str, Any]

    def distance(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> np.ndarray:
        check_aligned(x, y, "perceptual distance")
        fn = _lpips_alex if self.name == "lpips" else _digits_perceptual
        return np.concatenate([fn(x[i: i + batch_size], y[i: i + batch_size]) for i in range(0, x.shape[0], batch_size)]) \
            if x.shape[0] else np.zeros(0)


def perceptual(net: str = "auto") -> Perceptual:
    """``net``: ``auto`` (lpips when its weights are present, else digits), ``lpips`` or ``digits``."""
    if net == "auto":
        net = "lpips" if lpips_available() else "digits"
        if net == "digits":
            import warnings

            warnings.warn("LPIPS is unavailable offline (torchvision's AlexNet file is not here: `genbench weights "
                          "fetch torchvision-alexnet`); the perceptual distance is the digits stand-in, reported as "
                          "perceptual_digits, not lpips", stacklevel=2)
    if net == "lpips":
        from bench.backbones.lpips_nets import NETS
        from bench.weights import missing_message

        if not lpips_available():
            raise WeightsError(f"LPIPS (AlexNet): {missing_message(NETS['alex'][1])}")
        return Perceptual("lpips", {"perceptual": "lpips 0.1 alex (lpips package)", "resize": "64x64 bilinear align_corners=False",
                                    "alexnet_sha256": _lpips_model().weights_sha256})
    if net == "digits":
        from bench.backbones.digits import bundled_sha256

        return Perceptual("perceptual_digits", {"perceptual": "digits classifier conv1+conv2+fc1, uniform LPIPS weights",
                                                "weights_sha256": bundled_sha256("digits_classifier.pt")})
    raise InputError(f"unknown perceptual network '{net}'; choose auto, lpips or digits")


@lru_cache(maxsize=1)
def _digits_net() -> Any:
    from bench.backbones.digits import DigitsBackbone

    b = DigitsBackbone()
    b.load()
    return b.net


def digits_activations(images: torch.Tensor) -> list[torch.Tensor]:
    """conv1, conv2 (8x8 maps) and fc1 (a 1x1 map) activations of the digits classifier."""
    from bench.backbones.digits import to_input

    net = _digits_net()
    with torch.no_grad():
        x = to_input(images)
        h1 = F.relu(net.conv1(x))
        h2 = F.relu(net.conv2(h1))
        pool = F.relu(net.fc1(F.max_pool2d(h2, 2).flatten(1)))
    return [h1, h2, pool[:, :, None, None]]


def _unit(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)  # lpips.normalize_tensor


def _digits_perceptual(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    total = torch.zeros(x.shape[0], dtype=torch.float64)
    for fx, fy in zip(digits_activations(x), digits_activations(y), strict=True):
        total += (_unit(fx) - _unit(fy)).pow(2).sum(1).mean((1, 2)).double()
    return total.numpy()


@lru_cache(maxsize=1)
def _lpips_model() -> Any:
    from bench.backbones.lpips_nets import load_lpips

    return load_lpips("alex")


def lpips_input(images: torch.Tensor) -> torch.Tensor:
    x = match_channels(images, 3).float() / 127.5 - 1.0
    return F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False) if x.shape[-1] < 64 or x.shape[-2] < 64 else x


def _lpips_alex(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return _lpips_model()(lpips_input(x), lpips_input(y)).flatten().double().numpy()


def summary(values: np.ndarray) -> tuple[float, float | None, float | None]:
    """Mean and a normal-approximation 95% interval (mean ± 1.96 standard errors) of per-image values."""
    v = np.asarray(values, dtype=np.float64)
    m = float(v.mean())
    if len(v) < 2:
        return m, None, None
    half = 1.96 * float(v.std(ddof=1)) / np.sqrt(len(v))
    return m, m - half, m + half

