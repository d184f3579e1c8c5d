"""Reference baselines that give every metric a known ordering: real data, a simple fitted model, noise."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from bench.adapters.base import Adapter, AdapterArgs, GenerationRequest
from pydantic import Field

from bench.errors import ConfigError, InputError
from bench.seeding import derive_seed


class DatasetArgs(AdapterArgs):
    dataset: str
    classes: list[int] | None = Field(default=None, description="keep only these labels (mode-dropping baseline)")
    replace: bool = Field(default=False, description="sample with replacement when the task asks for more")


class DatasetSampler(Adapter):
    """Real images from a suite dataset: held-out real data, or a class subset (mode dropping).

    Sample ``i`` is ``images[perm[i]]`` for a permutation seeded by the suite seed (without replacement), or an
    index drawn from sample ``i``'s own seed (with replacement).
    """

    Args = DatasetArgs
    data_only = True

    def _pool(self) -> torch.Tensor:
        a: DatasetArgs = self.args  # type: ignore[assignment]
        if self.ctx.datasets is None:
            raise ConfigError("the dataset adapter needs the suite's datasets")
        ds = self.ctx.datasets(a.dataset)
        images = ds.images
        if a.classes is not None:
            if ds.labels is None:
                raise ConfigError(f"dataset '{a.dataset}' has no labels; 'classes' cannot be used")
            images = images[torch.isin(ds.labels, torch.tensor(a.classes))]
        if images.shape[0] == 0:
            raise InputError(f"dataset '{a.dataset}': no images left after filtering classes {a.classes}")
        return images

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        a: DatasetArgs = self.args  # type: ignore[assignment]
        pool = self._pool()
        n = pool.shape[0]
        if a.replace:
            idx = [np.random.default_rng(s).integers(n) for s in request.seeds]
        else:
            if max(request.indices) >= n:
                raise InputError(
                    f"dataset '{a.dataset}' holds {n} images but the task asks for {max(request.indices) + 1}; "
                    "lower n or set replace: true"
                )
            perm = _permutation(n, a.dataset)
            idx = [int(perm[i]) for i in request.indices]
        return pool[idx]


@lru_cache(maxsize=32)
def _permutation(n: int, name: str) -> np.ndarray:
    return np.random.default_rng(derive_seed("dataset-permutation", name, n)).permutation(n)


class NoiseArgs(AdapterArgs):
    shape: list[int] = Field(default_factory=lambda: [1, 8, 8], min_length=3, max_length=3)


class UniformNoise(Adapter):
    """Uniform random pixels: the floor every real model must beat."""

    Args = NoiseArgs

    def generate(self, request: GenerationRequest) -> torch.Tensor:
        shape = tuple(self.args.shape)  # type: ignore[attr-defined]
        out = torch.empty((request.n, *shape), dtype=torch.uint8)
        for i, s in enumerate(request.seeds):
            out[i] = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(s), dtype=torch.uint8)
        return out


class GMMArgs(AdapterArgs):
    components: int = Field(default=10, gt=0)
    covariance: str = Field(default="full", pattern="^(full|diag)$")
    dataset: str = "digits-train"
    seed: int = 0


class DigitsGMM(Adapter):
    """A Gaussian mixture fitted in pixel space on the digits train split (scikit-learn), sampled per seed."""

    Args = GMMArgs

    def __init__(self, args: AdapterArgs, ctx) -> None:  # type: ignore[no-untyped-def]
        super().__init__(args, ctx)
        a: GMMArgs = args  # type: ignore[assignment]
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
