"""What an autoencoder's discrete codes and likelihood say, as plain functions (shared by the reconstruction metrics
and the zoo's training scripts, so a manifest's quality and a suite's rows are one computation).

- Codebook usage: the share of the ``K`` codebook entries that occur at least once among all code positions of all
  images, in (0, 1]. A tokenizer whose codebook collapsed uses few entries.
- Code entropy: the Shannon entropy, in bits, of the empirical distribution of codes over all positions
  (``-sum p_k log2 p_k``); at most ``log2 K`` (every entry equally often).
- Codebook perplexity: ``2 ** entropy`` (= ``exp`` of the entropy in nats, as VQ-VAE papers and taming-transformers
  report it): the number of equally used entries with the same entropy, between 1 and K.
- Bits per dimension: a negative log-likelihood bound of the 8-bit image in nats (for a VAE: minus its ELBO),
  divided by ``C * H * W * ln 2``. A uniform model of 8-bit pixels has exactly 8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CodebookStats:
    usage: float  #: share of codebook entries used, in (0, 1]
    entropy_bits: float  #: entropy of the empirical code distribution, bits
    perplexity: float  #: 2 ** entropy_bits
    used: int  #: entries used
    size: int  #: codebook size K
    positions: int  #: code positions counted (images x codes per image)


def codebook_stats(codes: np.ndarray, size: int) -> CodebookStats:
    """Usage, entropy and perplexity of integer ``codes`` (any shape; every entry one code position) from a codebook
    of ``size`` entries. Codes outside ``0..size-1`` are an error: they mean the size is wrong."""
    c = np.asarray(codes).reshape(-1)
    if size < 1:
        raise ValueError(f"codebook size must be positive (got {size})")
    if c.size == 0:
        raise ValueError("no codes to count")
    if not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"codes must be integers (got {c.dtype})")
    if c.min() < 0 or c.max() >= size:
        raise ValueError(f"codes range over {int(c.min())}..{int(c.max())}, outside a codebook of {size} entries")
    counts = np.bincount(c.astype(np.int64), minlength=size).astype(np.float64)
    p = counts[counts > 0] / c.size
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: -0.0 for a single code becomes 0.0
    used = int((counts > 0).sum())
    return CodebookStats(usage=used / size, entropy_bits=entropy, perplexity=float(2.0**entropy), used=used,
                         size=size, positions=int(c.size))


def bits_per_dim(nll_nats: np.ndarray, dims: int) -> np.ndarray:
    """Per-image bits per dimension of negative log-likelihoods (nats) of images of ``dims`` = C * H * W values."""
    return np.asarray(nll_nats, dtype=np.float64) / (dims * math.log(2.0))
