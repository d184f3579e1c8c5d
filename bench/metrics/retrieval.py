"""Text-image retrieval: recall@K in both directions, RSUM, median and mean rank.

Conventions (the 5-captions-per-image convention of COCO/Flickr30k, as in CLIP_benchmark and VSE++):

- similarities are cosine similarities of L2-normalised embeddings, computed in **float32** (in bf16 many
  queries tie at the correct score and RSUM moves by points between tie rules);
- text→image (CLIP_benchmark calls it "image_retrieval"): each caption has exactly one correct image;
- image→text: each image has several correct captions; its rank is the rank of the best-scored correct one;
- **ties count against the query**: rank = 1 + the number of wrong candidates whose similarity is >= the
  correct one's. An embedding that maps everything to one point therefore gets the worst rank, never the best;
- recall@K is in percent; RSUM is the sum of the six recalls (R@1/5/10, both directions); ranks are 1-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.errors import InputError

KS = (1, 5, 10)


@dataclass
class RetrievalResult:
    t2i_ranks: np.ndarray  # [n_texts], 1-based
    i2t_ranks: np.ndarray  # [n_images], 1-based

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for direction, ranks in (("t2i", self.t2i_ranks), ("i2t", self.i2t_ranks)):
            for k in KS:
                out[f"{direction}_r{k}"] = float(100.0 * np.mean(ranks <= k))
            out[f"{direction}_medr"] = float(np.median(ranks))
            out[f"{direction}_meanr"] = float(np.mean(ranks))
        out["rsum"] = sum(out[f"{d}_r{k}"] for d in ("t2i", "i2t") for k in KS)
        return out


def normalise(x: np.ndarray, what: str) -> np.ndarray:
    """float32 rows of unit L2 norm; NaN/inf or all-zero rows are bad input."""
    a = np.asarray(x)
    if a.ndim != 2 or a.shape[0] == 0:
        raise InputError(f"{what}: expected a 2-d array [N, D] of embeddings, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise InputError(f"{what}: expected numbers, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise InputError(f"{what}: row {int(np.where(~np.isfinite(a).all(1))[0][0])} contains NaN or inf")
    n = np.linalg.norm(a, axis=1, keepdims=True)
    if (n == 0).any():
        raise InputError(f"{what}: row {int(np.where(n[:, 0] == 0)[0][0])} is all zeros (cannot be normalised)")
    return a / n


def check_pairs(text_to_image: Sequence[int] | np.ndarray, n_images: int, n_texts: int) -> np.ndarray:
    t2i = np.asarray(text_to_image)
    if t2i.ndim != 1 or len(t2i) != n_texts:
        raise InputError(f"pairs: need one image index per text ({n_texts} texts), got {len(t2i)}")
    if not np.issubdtype(t2i.dtype, np.integer):
        raise InputError("pairs: image indices must be integers")
    if len(t2i) and (t2i.min() < 0 or t2i.max() >= n_images):
        bad = int(np.where((t2i < 0) | (t2i >= n_images))[0][0])
        raise InputError(f"pairs: text {bad} points at image {int(t2i[bad])}, but there are {n_images} images")
    missing = np.setdiff1d(np.arange(n_images), t2i)
    if len(missing):
        raise InputError(f"pairs: image {int(missing[0])} has no caption ({len(missing)} images without one)")
    return t2i.astype(np.int64)


def retrieval_ranks(image_emb: np.ndarray, text_emb: np.ndarray, text_to_image: Sequence[int] | np.ndarray,
                    chunk: int = 1024) -> RetrievalResult:
    """Ranks of the correct items for every text query and every image query (see the module conventions)."""
    im = normalise(image_emb, "image embeddings")
    tx = normalise(text_emb, "text embeddings")
    if im.shape[1] != tx.shape[1]:
        raise InputError(f"image embeddings have dimension {im.shape[1]}, text embeddings {tx.shape[1]}")
    t2i = check_pairs(text_to_image, im.shape[0], tx.shape[0])
    n_img, n_txt = im.shape[0], tx.shape[0]
    t2i_ranks = np.empty(n_txt, dtype=np.int64)
    i2t_ranks = np.empty(n_img, dtype=np.int64)
    for s in range(0, n_txt, chunk):  # texts as queries: sim [n_img, chunk]
        sim = im @ tx[s: s + chunk].T
        correct = sim[t2i[s: s + chunk], np.arange(sim.shape[1])]
        # >= counts the correct image itself once: rank = 1 + wrong images scoring >= the correct one
        t2i_ranks[s: s + chunk] = (sim >= correct[None, :]).sum(0)
    for s in range(0, n_img, chunk):  # images as queries: sim [chunk, n_txt]
        sim = im[s: s + chunk] @ tx.T
        own = t2i[None, :] == np.arange(s, s + sim.shape[0])[:, None]
        best = np.where(own, sim, -np.inf).max(1)
        i2t_ranks[s: s + chunk] = 1 + ((sim >= best[:, None]) & ~own).sum(1)
    return RetrievalResult(t2i_ranks, i2t_ranks)
