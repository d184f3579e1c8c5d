"""Reference baselines that give every metric a known ordering: real data, a simple fitted model, noise."""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import ClassVar, TypeVar

import numpy as np
import torch
from pydantic import Field

from bench.adapters.base import Adapter, AdapterArgs, AdapterContext, GenerationRequest, keyed, source_digest
from bench.errors import ConfigError, InputError
from bench.seeding import derive_seed


class DatasetArgs(AdapterArgs):
    dataset: str
    classes: list[int] | None = Field(default=None, description="keep only these labels (mode-dropping baseline)")
    replace: bool = Field(default=False, description="sample with replacement when the task asks for more")


DatasetArgsT = TypeVar("DatasetArgsT", bound=DatasetArgs)


class DatasetSampler(Adapter[DatasetArgsT]):
    """Real images from a suite dataset: held-out real data, or a class subset (mode dropping).

    Sample ``i`` is ``images[perm[i]]`` for a permutation seeded by the suite seed (without replacement), or an
    index drawn from sample ``i``'s own seed (with replacement).
    """

    Args: ClassVar[type[AdapterArgs]] = DatasetArgs
    data_only = True

    @classmethod
    def accepts_classes(cls, args: DatasetArgsT) -> bool:
        return True  # real images of the requested class (the conditional real-data baseline)

    def _pool(self, with_labels: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        a = self.args
        if self.ctx.datasets is None:
            raise ConfigError("the dataset adapter needs the suite's datasets")
        ds = self.ctx.datasets(a.dataset)
        images, labels = ds.images, ds.labels
        if (a.classes is not None or with_labels) and labels is None:
            raise ConfigError(f"dataset '{a.dataset}' has no labels; 'classes' cannot be used")
        if a.classes is not None:
            keep = torch.isin(labels, torch.tensor(a.classes))
            images, labels = images[keep], labels[keep]
        if images.shape[0] == 0:
            raise InputError(f"dataset '{a.dataset}': no images left after filtering classes {a.classes}")
        return images, labels

    def model_key(self) -> str | None:
        # the dataset's content, the arguments and this module's code (and a subclass's)
        a = self.args
        if self.ctx.datasets is None:
            return None
        return keyed(type(self).__name__, a.model_dump(mode="json"), self.ctx.datasets(a.dataset).hash,
                     source_digest(sys.modules[__name__], sys.modules[type(self).__module__]))

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        a = self.args
        if request.classes is not None:
            # class-conditional: sample i is an image of class classes[i], drawn with sample i's own seed
            pool, labels = self._pool(with_labels=True)
            assert labels is not None
            out = []
            for c, s in zip(request.classes, request.seeds, strict=True):
                idx = torch.nonzero(labels == int(c)).flatten()
                if idx.numel() == 0:
                    raise InputError(f"dataset '{a.dataset}' holds no image of requested class {c}")
                out.append(pool[int(idx[np.random.default_rng(s).integers(idx.numel())])])
            return torch.stack(out)
        pool, _ = self._pool()
        n = pool.shape[0]
        if a.replace:
            picks = [int(np.random.default_rng(s).integers(n)) for s in request.seeds]
        else:
            if max(request.indices) >= n:
                raise InputError(
                    f"dataset '{a.dataset}' holds {n} images but the task asks for {max(request.indices) + 1}; "
                    "lower n or set replace: true"
                )
            perm = _permutation(n, a.dataset)
            picks = [int(perm[i]) for i in request.indices]
        return pool[picks]


@lru_cache(maxsize=32)
def _permutation(n: int, name: str) -> np.ndarray:
    return np.random.default_rng(derive_seed("dataset-permutation", name, n)).permutation(n)


class BlurArgs(DatasetArgs):
    sigma: float = Field(default=1.0, gt=0, description="Gaussian blur standard deviation in pixels")


class BlurredReal(DatasetSampler[BlurArgs]):
    """Real images passed through a Gaussian blur (kernel radius ceil(3 sigma), reflect padding): every mode is
    present, the detail is gone. The baseline a blurry generator (a VAE) resembles: recall holds, FID suffers."""

    Args = BlurArgs

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        return gaussian_blur(super().generate(request), self.args.sigma)


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of uint8 NCHW images, rounded back to uint8."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64) / sigma) ** 2)
    k = (k / k.sum()).float()
    x = images.float()
    c = x.shape[1]
    pad = min(r, x.shape[-1] - 1, x.shape[-2] - 1)
    x = torch.nn.functional.pad(x, (r, r, r, r), mode="reflect") if pad == r else \
        torch.nn.functional.pad(x, (r, r, r, r), mode="replicate")
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x.round().clamp(0, 255).to(torch.uint8)


class CopierArgs(DatasetArgs):
    dataset: str = "digits-train"


class TrainingCopier(DatasetSampler[CopierArgs]):
    """A "generator" that returns training images verbatim: perfect FID against its own training set, and the
    case memorization metrics (nearest training neighbour) must flag. Give it the suite's training dataset."""

    Args = CopierArgs


class NoiseArgs(AdapterArgs):
    shape: list[int] = Field(default_factory=lambda: [1, 8, 8], min_length=3, max_length=3)


class UniformNoise(Adapter[NoiseArgs]):
    """Uniform random pixels: the floor every real model must beat."""

    Args = NoiseArgs

    def model_key(self) -> str | None:
        return keyed(type(self).__name__, self.args.model_dump(mode="json"), source_digest(sys.modules[__name__]))

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        shape = tuple(self.args.shape)
        out = torch.empty((request.n, *shape), dtype=torch.uint8)
        for i, s in enumerate(request.seeds):
            out[i] = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(s), dtype=torch.uint8)
        return out


class GMMArgs(AdapterArgs):
    components: int = Field(default=10, gt=0)
    covariance: str = Field(default="full", pattern="^(full|diag)$")
    seed: int = 0


class DigitsGMM(Adapter[GMMArgs]):
    """A Gaussian mixture fitted in pixel space on the digits train split (scikit-learn), sampled per seed."""

    Args = GMMArgs

    def __init__(self, args: GMMArgs, ctx: AdapterContext) -> None:
        super().__init__(args, ctx)
        a = args
        from bench.data import digits

        x, _ = digits.load("train")
        self.shape = tuple(x.shape[1:])
        self.params = _fit_gmm(a.components, a.covariance, a.seed, x.reshape(x.shape[0], -1).numpy().tobytes())

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        weights, means, chol = self.params
        d = means.shape[1]
        out = np.empty((request.n, d))
        for i, s in enumerate(request.seeds):
            rng = np.random.default_rng(s)
            k = rng.choice(len(weights), p=weights)
            out[i] = means[k] + chol[k] @ rng.standard_normal(d)
        imgs = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return torch.from_numpy(imgs.reshape(request.n, *self.shape))


@lru_cache(maxsize=8)
def _fit_gmm(components: int, covariance: str, seed: int, data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.mixture import GaussianMixture

    x = np.frombuffer(data, dtype=np.uint8).reshape(-1, 64).astype(np.float64)
    gmm = GaussianMixture(components, covariance_type=covariance, random_state=seed, reg_covar=1e-2).fit(x)
    covs = gmm.covariances_ if covariance == "full" else np.stack([np.diag(c) for c in gmm.covariances_])
    chol = np.linalg.cholesky(covs)
    w = gmm.weights_ / gmm.weights_.sum()
    return w, gmm.means_, chol
