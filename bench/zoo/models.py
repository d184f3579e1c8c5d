"""The reference generators of the digits zoo: small networks that train on one CPU core in about a minute.

Every generator maps a standard-normal latent ``z`` (and, when class-conditional, a class label) to an image in
[-1, 1] through :meth:`ZooModel.decode`; :meth:`ZooModel.generate_from_latents` maps that to float [0, 1]. Float
output (not uint8) is what latent-space metrics need: PPL's epsilon steps are far below one grey level.
None of the generators uses batch normalisation, so a sample depends only on its own latent (batch-size
invariance holds by construction, not only in eval mode).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn


class ZooModel(nn.Module):
    """Base of the zoo generators: ``latent_dim``, ``num_classes`` (0 = unconditional) and ``decode``."""

    arch: ClassVar[str] = ""
    #: False for an autoencoder without a prior (the VQ-VAE): it reconstructs images but cannot sample them, so the
    #: ``zoo`` generator adapter refuses it (``zoo-autoencoder`` serves it)
    generator: ClassVar[bool] = True
    latent_dim: int
    num_classes: int = 0

    def decode(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """Latents ``[n, latent_dim]`` (and labels ``[n]``) → images ``[n, 1, 8, 8]`` in [-1, 1]."""
        raise NotImplementedError

    @torch.no_grad()
    def generate_from_latents(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """Float images in [0, 1], ``[n, 1, 8, 8]``; ``classes`` is required iff the model is conditional."""
        if self.num_classes and classes is None:
            raise ValueError(f"{self.arch} is class-conditional: pass classes")
        if not self.num_classes:
            classes = None
        return ((self.decode(z, classes) + 1) / 2).clamp(0, 1)


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


# ---------------------------------------------------------------------------------------------------- VAE
class ConvVAE(ZooModel):
    """Convolutional VAE (8x8 → 4x4 → latent), Gaussian decoder with tanh mean."""

    arch = "vae"

    def __init__(self, latent_dim: int = 16, ch: int = 32) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.enc = nn.Sequential(
            nn.Conv2d(1, ch, 3, padding=1), nn.SiLU(),
            nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1), nn.SiLU(),  # 4x4
            nn.Flatten(), nn.Linear(2 * ch * 16, 2 * latent_dim),
        )
        self.dec_fc = nn.Linear(latent_dim, 2 * ch * 16)
        self.dec = nn.Sequential(
            nn.SiLU(), nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1), nn.SiLU(),  # 8x8
            nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(), nn.Conv2d(ch, 1, 3, padding=1), nn.Tanh(),
        )
        self.ch = ch

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.enc(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        return self.dec(self.dec_fc(z).view(-1, 2 * self.ch, 4, 4))


# ---------------------------------------------------------------------------------------------------- GANs
class MLPGenerator(ZooModel):
    """Fully connected GAN generator (also the architecture of the collapsed GAN)."""

    arch = "mlp-gan"

    def __init__(self, latent_dim: int = 32, hidden: int = 256) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), _lrelu(), nn.Linear(hidden, hidden), _lrelu(),
                                 nn.Linear(hidden, 64), nn.Tanh())

    def decode(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, 1, 8, 8)


class MLPDiscriminator(nn.Module):
    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), _lrelu(), nn.Linear(hidden, hidden), _lrelu(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class DCGenerator(ZooModel):
    """DCGAN generator: linear → 2x2 → transposed convolutions to 4x4 and 8x8. With ``num_classes`` > 0 a
    learned class embedding is concatenated to ``z`` (the class-conditional GAN)."""

    arch = "dcgan"

    def __init__(self, latent_dim: int = 32, ch: int = 32, num_classes: int = 0, embed_dim: int = 16) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.ch = ch
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.fc = nn.Linear(latent_dim + (embed_dim if num_classes else 0), 4 * ch * 4)
        self.net = nn.Sequential(
            _lrelu(), nn.ConvTranspose2d(4 * ch, 2 * ch, 4, stride=2, padding=1), _lrelu(),  # 4x4
            nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1), _lrelu(),  # 8x8
            nn.Conv2d(ch, 1, 3, padding=1), nn.Tanh(),
        )

    def decode(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            assert classes is not None
            z = torch.cat([z, self.embed(classes.long())], dim=1)
        return self.net(self.fc(z).view(-1, 4 * self.ch, 2, 2))


class DCDiscriminator(nn.Module):
    """Convolutional discriminator; with ``num_classes`` > 0 it adds a projection term (Miyato & Koyama) and an
    auxiliary classifier head (AC-GAN), which together make the conditional generator honour its labels."""

    def __init__(self, ch: int = 32, num_classes: int = 0) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm  # keeps D from overpowering G (without it, G collapsed)
        self.trunk = nn.Sequential(
            sn(nn.Conv2d(1, ch, 3, padding=1)), _lrelu(),
            sn(nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1)), _lrelu(),  # 4x4
            sn(nn.Conv2d(2 * ch, 4 * ch, 4, stride=2, padding=1)), _lrelu(),  # 2x2
            nn.Flatten(),
        )
        self.adv = sn(nn.Linear(16 * ch, 1))
        self.proj = nn.Embedding(num_classes, 16 * ch) if num_classes else None
        self.cls = nn.Linear(16 * ch, num_classes) if num_classes else None

    def forward(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.trunk(x)
        out = self.adv(h).squeeze(1)
        if self.proj is not None and classes is not None:
            out = out + (self.proj(classes) * h).sum(1)
        return out, (self.cls(h) if self.cls is not None else None)


# ---------------------------------------------------------------------------------------------------- DDPM
def _timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class _ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.t = nn.Linear(tdim, cout)
        self.n2, self.c2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x))) + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class TinyUNet(nn.Module):
    """A two-resolution U-Net (8x8, 4x4) predicting the noise ε."""

    def __init__(self, ch: int = 32, tdim: int = 64) -> None:
        super().__init__()
        self.tdim = tdim
        self.temb = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inp = nn.Conv2d(1, ch, 3, padding=1)
        self.d1 = _ResBlock(ch, ch, tdim)
        self.down = nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1)
        self.d2 = _ResBlock(2 * ch, 2 * ch, tdim)
        self.mid = _ResBlock(2 * ch, 2 * ch, tdim)
        self.up = nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1)
        self.u1 = _ResBlock(2 * ch, ch, tdim)
        self.out = nn.Sequential(nn.GroupNorm(8, ch), nn.SiLU(), nn.Conv2d(ch, 1, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        e = self.temb(_timestep_embedding(t, self.tdim))
        h1 = self.d1(self.inp(x), e)
        h2 = self.mid(self.d2(self.down(h1), e), e)
        return self.out(self.u1(torch.cat([self.up(h2), h1], dim=1), e))


def cosine_alpha_bar(T: int, s: float = 0.008) -> torch.Tensor:
    """ᾱ_t for t = 0..T (Nichol & Dhariwal's cosine schedule), ᾱ_0 = 1."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (f / f[0]).clamp(min=1e-5).float()


class DDPM(ZooModel):
    """Denoising diffusion (ε-prediction, cosine schedule, ``T`` training steps), sampled with deterministic
    DDIM (η = 0) in ``sample_steps`` steps. The latent is the initial noise x_T, flattened (64-d): DDIM with
    η = 0 is a deterministic map from it, so the model has a latent space for interpolation metrics."""

    arch = "ddpm"
    alpha_bar: torch.Tensor

    def __init__(self, ch: int = 32, T: int = 200, sample_steps: int = 20) -> None:
        super().__init__()
        self.latent_dim = 64
        self.T = T
        self.sample_steps = sample_steps
        self.unet = TinyUNet(ch)
        self.register_buffer("alpha_bar", cosine_alpha_bar(T), persistent=False)

    def loss(self, x0: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        t = torch.randint(1, self.T + 1, (x0.shape[0],), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        return F.mse_loss(self.unet(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t), eps)

    def decode(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        x = z.view(-1, 1, 8, 8)
        ts = torch.linspace(self.T, 0, self.sample_steps + 1).round().long().tolist()
        for t, t_next in zip(ts[:-1], ts[1:], strict=True):
            ab, ab_next = self.alpha_bar[t], self.alpha_bar[t_next]
            eps = self.unet(x, torch.full((x.shape[0],), t, dtype=torch.long))
            x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
            eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()  # consistent with the clipped x0
            x = ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps
        return x.clamp(-1, 1)


# ---------------------------------------------------------------------------------------------------- VQ-VAE
class VQVAE(ZooModel):
    """VQ-VAE (van den Oord et al. 2017): 8x8 image → a 4x4 grid of ``dim``-d vectors, each replaced by its nearest
    of ``codebook_size`` code vectors (16 discrete codes per image), decoded back to 8x8 in [-1, 1]. An autoencoder,
    not a generator: without a prior over codes it cannot sample (``generator = False``)."""

    arch = "vqvae"
    generator = False

    def __init__(self, codebook_size: int = 64, dim: int = 16, ch: int = 32) -> None:
        super().__init__()
        self.latent_dim = 0
        self.codebook_size, self.dim = codebook_size, dim
        self.enc = nn.Sequential(
            nn.Conv2d(1, ch, 3, padding=1), nn.SiLU(),
            nn.Conv2d(ch, ch, 4, stride=2, padding=1), nn.SiLU(),  # 4x4
            nn.Conv2d(ch, dim, 1),
        )
        self.codebook = nn.Parameter(torch.zeros(codebook_size, dim))
        self.dec = nn.Sequential(
            nn.Conv2d(dim, ch, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1), nn.SiLU(),  # 8x8
            nn.Conv2d(ch, 1, 3, padding=1), nn.Tanh(),
        )

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] → the encoder's output ``[n, dim, 4, 4]`` before quantization."""
        return self.enc(x)

    def quantize(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(nearest code vectors ``[n, dim, 4, 4]``, their indices ``[n, 4, 4]``) of encoder outputs ``h``."""
        flat = h.permute(0, 2, 3, 1).reshape(-1, self.dim)
        d = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None])
        idx = d.argmin(1)
        return self.lookup(idx.view(h.shape[0], *h.shape[2:])), idx.view(h.shape[0], *h.shape[2:])

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Code indices ``[n, 4, 4]`` → code vectors ``[n, dim, 4, 4]``."""
        return self.codebook[codes].permute(0, 3, 1, 2)

    def decode(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        return self.dec(z)


ARCHS: dict[str, type[ZooModel]] = {c.arch: c for c in (ConvVAE, MLPGenerator, DCGenerator, DDPM, VQVAE)}
