"""BLEU-1..4, ROUGE-L and CIDEr-D on PTB-tokenised captions, equal to pycocoevalcap's to the last bit.

pycocoevalcap spends most of its non-Java time here in interpreter overhead: a dict of word tuples per sentence,
built twice (once by ``Bleu``, once by ``Cider``), numpy scalar ``np.log`` per n-gram per reference, an O(m·n)
list-of-lists LCS per reference pair. Here every sentence's n-grams are extracted once (:class:`CaptionNgrams`,
shared by BLEU and CIDEr-D), as integer ids in numpy arrays, and the counting is done on whole arrays. Integer
results (clipped counts, lengths, document frequencies) are exact whatever the method; every floating-point value
is computed with the same IEEE operations in the same order as pycocoevalcap (sums of several terms through
``np.bincount``, which adds its weights one by one in array order; the arrays are laid out in pycocoevalcap's
iteration order), so per-image values are identical (``tests/test_text_ngram.py``,
``tests/test_text_scoring.py``). ROUGE-L uses a bit-parallel LCS (integer-exact).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _word_ids(sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Word ids of all sentences' ``split()`` words concatenated, words per sentence, and the vocabulary size.

    ``str.split()`` is what pycocoevalcap's ``precook`` uses for both BLEU and CIDEr; equal words get equal ids,
    so equal n-grams get equal ids below.
    """
    words = [s.split() for s in sentences]
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    flat = list(itertools.chain.from_iterable(words))
    index = {w: i for i, w in enumerate(dict.fromkeys(flat))}
    ids = np.fromiter(map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
    return ids, lengths, len(index)


@dataclass(frozen=True)
class CaptionNgrams:
    """The distinct 1..n-grams of every reference and hypothesis, with their counts, in ``precook`` order.

    Sentences are numbered references first (image by image, in order), then hypotheses (one per image). One
    entry per (sentence, distinct n-gram), ordered by sentence, then as pycocoevalcap's ``precook`` inserts them
    into its dict: all 1-grams by first occurrence, then 2-grams, ... Built once by :meth:`build` and shared by
    :func:`bleu` and :func:`cider_d` (pycocoevalcap extracts them separately for each, with the same ``split()``).
    """

    n: int
    n_images: int
    #: Image of each sentence (references of one image are consecutive; hypothesis i is image i's).
    sent_image: np.ndarray
    #: Number of words of each sentence (references, then hypotheses).
    lengths: np.ndarray
    #: Per entry: sentence, n-gram id (equal ids ⇔ equal word tuples), order (n-gram length - 1), count.
    sent: np.ndarray
    gram: np.ndarray
    order: np.ndarray
    count: np.ndarray
    #: Number of distinct n-gram ids (ids are 0..n_grams-1).
    n_grams: int

    @classmethod
    def build(cls, refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int = 4) -> CaptionNgrams:
        """Extract the n-grams of ``refs`` (per image) and ``hyps`` (one per image)."""
        if len(refs) != len(hyps):
            raise ValueError(f"{len(refs)} reference sets for {len(hyps)} hypotheses")
        if not refs or any(len(rs) == 0 for rs in refs):
            raise ValueError("every image needs at least one reference")
        images = np.arange(len(refs), dtype=np.int64)
        ref_image = np.repeat(images, np.fromiter(map(len, refs), dtype=np.int64, count=len(refs)))
        ids, lengths, vocab = _word_ids([*itertools.chain.from_iterable(refs), *hyps])
        sent, gram, order, n_grams = _occurrences(ids, lengths, vocab, n)
        sent, gram, order, count = _distinct_in_precook_order(sent, gram, order, n_grams)
        return cls(n, len(refs), np.concatenate([ref_image, images]), lengths, sent, gram, order, count, n_grams)

    @property
    def n_refs(self) -> int:
        return len(self.sent_image) - self.n_images

    @property
    def ref_image(self) -> np.ndarray:
        """Image of each reference sentence."""
        return self.sent_image[:self.n_refs]

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """Index arrays of the reference entries and of the hypothesis entries (each in table order)."""
        is_ref = self.sent < self.n_refs
        return np.flatnonzero(is_ref), np.flatnonzero(~is_ref)

    def image_keys(self, entries: np.ndarray) -> np.ndarray:
        """``image * n_grams + gram`` for the given entries: one key per (image, n-gram)."""
        return self.sent_image[self.sent[entries]] * max(self.n_grams, 1) + self.gram[entries]


def _occurrences(ids: np.ndarray, lengths: np.ndarray, vocab: int, n: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Sentence, n-gram id and order of every n-gram occurrence (orders 1..n), order by order, in text order.

    A k-gram's id is interned from (its first k-1 words' id, its last word's id), so ids stay below
    (occurrences x vocabulary) whatever k, and each order gets its own id range.
    """
    total = len(ids)
    sent_of = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    remaining = np.repeat(np.cumsum(lengths), lengths) - np.arange(total, dtype=np.int64)  # words from here on
    sents, grams, orders = [], [], []
    offset = 0
    cur = ids
    for k in range(n):
        at = np.flatnonzero(remaining > k)  # k-gram (0-based order) starts that stay inside their sentence
        if k == 0:
            local = ids
            distinct = vocab
        else:
            uniq, inv = np.unique(cur[at] * vocab + ids[at + k], return_inverse=True)
            local = np.full(total, -1, dtype=np.int64)
            local[at] = inv.reshape(-1)
            distinct = len(uniq)
        sents.append(sent_of[at])
        grams.append(local[at] + offset)
        orders.append(np.full(len(at), k, dtype=np.int64))
        offset += distinct
        cur = local
    return np.concatenate(sents), np.concatenate(grams), np.concatenate(orders), offset


def _distinct_in_precook_order(sent: np.ndarray, gram: np.ndarray, order: np.ndarray, n_grams: int
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One entry per (sentence, n-gram) with its count, ordered by sentence and first occurrence.

    Occurrences come order by order, each in text order, so within one sentence "first occurrence" order is
    ``precook``'s dict insertion order.
    """
    key = sent * max(n_grams, 1) + gram
    _, first, count = np.unique(key, return_index=True, return_counts=True)  # stable: first = first occurrence
    perm = np.lexsort((first, sent[first]))
    first, count = first[perm], count[perm]
    return sent[first], gram[first], order[first], count.astype(np.int64)


def _table(refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int, ngrams: CaptionNgrams | None
           ) -> CaptionNgrams:
    """``ngrams`` (built from these ``refs`` and ``hyps`` by the caller, to share it) or a fresh table."""
    if ngrams is None:
        return CaptionNgrams.build(refs, hyps, n)
    if ngrams.n != n or ngrams.n_images != len(hyps):
        raise ValueError(f"n-gram table for {ngrams.n_images} images up to n={ngrams.n}, "
                         f"not {len(hyps)} images up to n={n}")
    return ngrams


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` at the positions of ``query`` in the sorted unique ``keys``; 0 where a key is absent."""
    if len(keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    pos = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[pos] == query, values[pos], 0)


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Index where each run of equal values starts in a sorted (or grouped) array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _clipped_matches(ng: CaptionNgrams) -> np.ndarray:
    """BLEU's matches per image and order: each hypothesis n-gram count clipped to its largest reference count."""
    ref, hyp = ng.split()
    keys = ng.image_keys(ref)
    o = np.argsort(keys, kind="stable")
    keys = keys[o]
    starts = _group_starts(keys)
    maxcount = np.maximum.reduceat(ng.count[ref][o], starts) if len(starts) else np.zeros(0, dtype=np.int64)
    clipped = np.minimum(_lookup(keys[starts], maxcount, ng.image_keys(hyp)), ng.count[hyp])
    group = ng.sent_image[ng.sent[hyp]] * ng.n + ng.order[hyp]
    correct = np.bincount(group, weights=clipped, minlength=ng.n_images * ng.n)  # integers: exact in float64
    return correct.astype(np.int64).reshape(ng.n_images, ng.n)


def _closest_ref_lengths(ng: CaptionNgrams) -> np.ndarray:
    """Per image, the reference length closest to the hypothesis's, the shorter on ties (BLEU's ``closest``)."""
    reflen = ng.lengths[:ng.n_refs]
    diff = np.abs(reflen - ng.lengths[ng.n_refs:][ng.ref_image])
    big = int(reflen.max()) + 1
    # min over (|reflen - testlen|, reflen) pairs, as pycocoevalcap's min over tuples
    return np.minimum.reduceat(diff * big + reflen, _group_starts(ng.ref_image)) % big


def bleu(refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int = 4, *, ngrams: CaptionNgrams | None = None
         ) -> tuple[list[float], list[list[float]]]:
    """Corpus BLEU-1..n and per-image BLEU-1..n as pycocoevalcap's ``Bleu(4)`` (``closest`` reference length).

    Returns ``(corpus[k], per_image[k][i])``. Brevity penalty only when the length ratio is below 1; the 1e-9 and
    1e-15 smoothing constants are pycocoevalcap's. ``ngrams``: the table of these captions, when already built.
    The counts are integers (computed on arrays); the floating-point part is pycocoevalcap's loop, per image.
    """
    ng = _table(refs, hyps, n, ngrams)
    small, tiny = 1e-9, 1e-15
    per: list[list[float]] = [[] for _ in range(n)]
    tot_guess = [0] * n
    tot_correct = [0] * n
    tot_test = tot_ref = 0
    for correct, testlen, reflen in zip(_clipped_matches(ng).tolist(), ng.lengths[ng.n_refs:].tolist(),
                                        _closest_ref_lengths(ng).tolist(), strict=True):
        guess = [max(0, testlen - k) for k in range(n)]
        tot_test += testlen
        tot_ref += reflen
        b = 1.0
        for k in range(n):
            tot_guess[k] += guess[k]
            tot_correct[k] += correct[k]
            b *= (float(correct[k]) + tiny) / (float(guess[k]) + small)
            per[k].append(b ** (1.0 / (k + 1)))
        ratio = (testlen + tiny) / (reflen + small)
        if ratio < 1:
            for k in range(n):
                per[k][-1] *= math.exp(1 - 1 / ratio)
    corpus = []
    b = 1.0
    for k in range(n):
        b *= float(tot_correct[k] + tiny) / (tot_guess[k] + small)
        corpus.append(b ** (1.0 / (k + 1)))
    ratio = (tot_test + tiny) / (tot_ref + small)
    if ratio < 1:
        for k in range(n):
            corpus[k] *= math.exp(1 - 1 / ratio)
    return corpus, per


def _match_masks(a: Sequence[str]) -> dict[str, int]:
    """Per token of ``a``, the bit mask of its positions (the bit-parallel LCS's only per-sequence set-up)."""
    masks: dict[str, int] = {}
    for i, t in enumerate(a):
        masks[t] = masks.get(t, 0) | (1 << i)
    return masks


def _lcs_with_masks(masks: dict[str, int], len_a: int, b: Sequence[str]) -> int:
    """LCS length of ``a`` (given by its :func:`_match_masks` and length) and ``b`` (Hyyrö's bit-parallel algorithm)."""
    if not len_a or not b:
        return 0
    full = (1 << len_a) - 1
    v = full
    for t in b:
        u = v & masks.get(t, 0)
        v = ((v + u) | (v - u)) & full
    return len_a - bin(v).count("1")


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (Hyyrö's bit-parallel algorithm).

    O(len(b)) big-integer operations instead of pycocoevalcap's O(len(a)·len(b)) table; the result is an integer,
    so it is exactly ``pycocoevalcap.rouge.rouge.my_lcs``.
    """
    return _lcs_with_masks(_match_masks(a), len(a), b)


def rouge_l(refs: Sequence[Sequence[str]], hyps: Sequence[str], beta: float = 1.2) -> tuple[float, list[float]]:
    """Mean and per-image ROUGE-L (max precision and max recall over references, F with β = 1.2), as pycocoevalcap.

    The LCS length is symmetric (an integer), so the hypothesis's bit masks are built once per image and each
    reference is run through them.
    """
    scores = []
    for rs, hyp in zip(refs, hyps, strict=True):
        tc = hyp.split(" ")
        masks = _match_masks(tc)
        prec, rec = [], []
        for r in rs:
            tr = r.split(" ")
            lcs = _lcs_with_masks(masks, len(tc), tr)
            prec.append(lcs / float(len(tc)))
            rec.append(lcs / float(len(tr)))
        pm, rm = max(prec), max(rec)
        scores.append(((1 + beta ** 2) * pm * rm) / float(rm + beta ** 2 * pm) if pm != 0 and rm != 0 else 0.0)
    return float(np.mean(np.array(scores))), scores


def _tfidf(ng: CaptionNgrams, ref: np.ndarray) -> np.ndarray:
    """CIDEr's ``float(tf) * (ref_len - log(max(1, df)))`` for every entry (df: images whose references hold it).

    ``np.log`` is called on scalars, once per distinct df value, exactly as pycocoevalcap calls it; the
    subtraction and product are single IEEE operations, the same on arrays as on numpy scalars.
    """
    g = max(ng.n_grams, 1)
    df = np.bincount(np.unique(ng.image_keys(ref)) % g, minlength=g)
    values, inv = np.unique(df, return_inverse=True)
    logs = np.array([np.log(max(1.0, float(d))) for d in values.tolist()], dtype=np.float64)
    weight = np.log(float(ng.n_images)) - logs[inv.reshape(-1)]
    return ng.count.astype(np.float64) * weight[ng.gram]


def _sentence_sums(ng: CaptionNgrams, values: np.ndarray) -> np.ndarray:
    """Per sentence and order, ``values`` summed one by one in table (``precook``) order (bincount is sequential)."""
    sums = np.bincount(ng.sent * ng.n + ng.order, weights=values, minlength=len(ng.lengths) * ng.n)
    return sums.reshape(len(ng.lengths), ng.n)


def _clipped_dots(ng: CaptionNgrams, x: np.ndarray, ref: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """Per reference and order, CIDEr-D's sum of ``min(x_hyp, x_ref) * x_ref`` over the hypothesis's n-grams.

    pycocoevalcap loops over the hypothesis's n-grams in its ``precook`` order, adding 0 for n-grams the reference
    lacks; the common ones are summed here in that order (table order of the hypothesis entries).
    """
    hkeys = ng.image_keys(hyp)
    o = np.argsort(hkeys)
    hkeys = hkeys[o]
    rkeys = ng.image_keys(ref)
    if len(hkeys) == 0:
        return np.zeros((ng.n_refs, ng.n))
    pos = np.minimum(np.searchsorted(hkeys, rkeys), len(hkeys) - 1)
    match = hkeys[pos] == rkeys
    r_entry, h_entry = ref[match], hyp[o[pos[match]]]
    xr = x[r_entry]
    term = np.minimum(x[h_entry], xr) * xr
    r_sent = ng.sent[r_entry]
    seq = np.lexsort((h_entry, r_sent))
    acc = np.bincount((r_sent * ng.n + ng.order[r_entry])[seq], weights=term[seq], minlength=ng.n_refs * ng.n)
    return acc.reshape(ng.n_refs, ng.n)


def _length_penalties(delta: np.ndarray, sigma: float) -> np.ndarray:
    """CIDEr-D's Gaussian length penalty ``e ** (-(delta ** 2) / (2 sigma ** 2))``, Python floats as pycocoevalcap."""
    denom = 2 * sigma ** 2
    values, inv = np.unique(delta, return_inverse=True)
    pens = np.array([math.e ** (-(float(d) ** 2) / denom) for d in values.tolist()], dtype=np.float64)
    return pens[inv.reshape(-1)]


def cider_d(refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int = 4, sigma: float = 6.0, *,
            ngrams: CaptionNgrams | None = None) -> tuple[float, list[float]]:
    """Corpus and per-image CIDEr-D as pycocoevalcap's ``Cider()`` (idf from these images' references only).

    Same operations in the same order as ``CiderScorer.compute_cider``, on arrays: tf-idf vectors, their norms,
    the clipped dot product of the hypothesis with each reference, divided by the norms (when both are
    non-zero), times the length penalty, summed over references in order, averaged over orders, divided by the
    number of references, times 10. ``ngrams``: the table of these captions, when already built.
    """
    ng = _table(refs, hyps, n, ngrams)
    ref, hyp = ng.split()
    x = _tfidf(ng, ref)
    norm = np.sqrt(_sentence_sums(ng, x * x))
    bigrams = ng.order == 1
    length = np.bincount(ng.sent[bigrams], weights=ng.count[bigrams], minlength=len(ng.lengths)).astype(np.int64)
    hyp_of_ref = ng.n_refs + ng.ref_image
    nh, nr = norm[hyp_of_ref], norm[:ng.n_refs]
    acc = _clipped_dots(ng, x, ref, hyp)
    val = np.divide(acc, nh * nr, out=acc.copy(), where=(nh != 0) & (nr != 0))
    val = val * _length_penalties(length[hyp_of_ref] - length[:ng.n_refs], sigma)[:, None]
    score = np.zeros(ng.n_images)
    for k in range(n):  # np.mean over n < 8 values: a left-to-right sum, then a division
        score = score + np.bincount(ng.ref_image, weights=val[:, k], minlength=ng.n_images)
    score = score / n
    score = score / np.bincount(ng.ref_image, minlength=ng.n_images).astype(np.float64)
    score = score * 10.0
    return float(np.mean(score)), score.tolist()
