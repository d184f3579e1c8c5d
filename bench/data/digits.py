"""scikit-learn's bundled handwritten digits, as uint8 images, with a fixed train/test split.

The 1,797 images are 8x8 with 17 grey levels (0..16); they are scaled to uint8 with ``round(v * 255 / 16)``.
The split is fixed and documented: a ``numpy.random.RandomState(20261124)`` permutation of the indices, the first
1,200 are ``train`` and the remaining 597 are ``test`` (RandomState's stream is stable across NumPy versions).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

SPLIT_SEED = 20261124
N_TRAIN = 1200
VERSION = "sklearn-digits/v1"


@lru_cache(maxsize=1)
def _all() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    return torch.from_numpy(imgs), torch.from_numpy(d.target.astype(np.int64))


def load(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Images (uint8 [N, 1, 8, 8]) and labels for ``split`` in {train, test, all}."""
    images, labels = _all()
    if split == "all":
        return images, labels
    perm = torch.from_numpy(np.random.RandomState(SPLIT_SEED).permutation(images.shape[0]))
    idx = perm[:N_TRAIN] if split == "train" else perm[N_TRAIN:]
    if split not in ("train", "test"):
        raise ValueError(f"unknown digits split '{split}'")
    idx = idx.sort().values
    return images[idx], labels[idx]
