"""BLEU-1..4, ROUGE-L and CIDEr-D on PTB-tokenised captions, equal to pycocoevalcap's to the last bit.

pycocoevalcap spends most of its non-Java time here in interpreter overhead: numpy scalar ``np.log`` per n-gram
per reference, an O(m·n) list-of-lists LCS per reference pair, dict-of-tuples bookkeeping for BLEU. These
versions keep every floating-point operation in the same order (so per-image values are identical, asserted in
``tests/test_text_parity.py``) and remove the overhead: idf computed once per distinct n-gram, a bit-parallel
LCS (integer-exact), one pass for all BLEU orders.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _ngrams(words: Sequence[str], n: int = 4) -> dict[tuple[str, ...], int]:
    """n-gram counts in pycocoevalcap's ``precook`` insertion order (all 1-grams, then 2-grams, ...)."""
    counts: dict[tuple[str, ...], int] = {}
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            g = tuple(words[i:i + k])
            counts[g] = counts.get(g, 0) + 1
    return counts


def bleu(refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int = 4) -> tuple[list[float], list[list[float]]]:
    """Corpus BLEU-1..n and per-image BLEU-1..n as pycocoevalcap's ``Bleu(4)`` (``closest`` reference length).

    Returns ``(corpus[k], per_image[k][i])``. Brevity penalty only when the length ratio is below 1; the 1e-9 and
    1e-15 smoothing constants are pycocoevalcap's.
    """
    small, tiny = 1e-9, 1e-15
    per: list[list[float]] = [[] for _ in range(n)]
    tot_guess = [0] * n
    tot_correct = [0] * n
    tot_test = tot_ref = 0
    for rs, hyp in zip(refs, hyps, strict=True):
        maxcounts: dict[tuple[str, ...], int] = {}
        reflens = []
        for r in rs:
            words = r.split()
            reflens.append(len(words))
            for g, c in _ngrams(words, n).items():
                if c > maxcounts.get(g, 0):
                    maxcounts[g] = c
        hw = hyp.split()
        testlen = len(hw)
        reflen = min((abs(rl - testlen), rl) for rl in reflens)[1]
        guess = [max(0, testlen - k + 1) for k in range(1, n + 1)]
        correct = [0] * n
        for g, c in _ngrams(hw, n).items():
            correct[len(g) - 1] += min(maxcounts.get(g, 0), c)
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


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (Hyyrö's bit-parallel algorithm).

    O(len(b)) big-integer operations instead of pycocoevalcap's O(len(a)·len(b)) table; the result is an integer,
    so it is exactly ``pycocoevalcap.rouge.rouge.my_lcs``.
    """
    if not a or not b:
        return 0
    masks: dict[str, int] = {}
    for i, t in enumerate(a):
        masks[t] = masks.get(t, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for t in b:
        u = v & masks.get(t, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - bin(v).count("1")


def rouge_l(refs: Sequence[Sequence[str]], hyps: Sequence[str], beta: float = 1.2) -> tuple[float, list[float]]:
    """Mean and per-image ROUGE-L (max precision and max recall over references, F with β = 1.2), as pycocoevalcap."""
    scores = []
    for rs, hyp in zip(refs, hyps, strict=True):
        tc = hyp.split(" ")
        prec, rec = [], []
        for r in rs:
            tr = r.split(" ")
            lcs = lcs_length(tr, tc)
            prec.append(lcs / float(len(tc)))
            rec.append(lcs / float(len(tr)))
        pm, rm = max(prec), max(rec)
        scores.append(((1 + beta ** 2) * pm * rm) / float(rm + beta ** 2 * pm) if pm != 0 and rm != 0 else 0.0)
    return float(np.mean(np.array(scores))), scores


def cider_d(refs: Sequence[Sequence[str]], hyps: Sequence[str], n: int = 4, sigma: float = 6.0
            ) -> tuple[float, list[float]]:
    """Corpus and per-image CIDEr-D as pycocoevalcap's ``Cider()`` (idf from these images' references only).

    Same operation order as ``CiderScorer.compute_cider``; the idf of each distinct n-gram is computed once with
    ``np.log`` over one array instead of once per occurrence.
    """
    crefs = [[_ngrams(r.split(), n) for r in rs] for rs in refs]
    ctest = [_ngrams(h.split(), n) for h in hyps]
    df: dict[tuple[str, ...], float] = {}
    for rs in crefs:
        for g in {g for r in rs for g in r}:
            df[g] = df.get(g, 0.0) + 1.0
    ref_len = np.log(float(len(crefs)))
    keys = list(df)
    logs = np.log(np.maximum(1.0, np.fromiter((df[k] for k in keys), dtype=np.float64, count=len(keys))))
    # Python floats hold the same IEEE doubles as numpy scalars, and +, *, /, sqrt are correctly rounded in both,
    # so the arithmetic below matches pycocoevalcap's numpy-scalar arithmetic bit for bit, without numpy overhead.
    weight = {k: float(ref_len - lg) for k, lg in zip(keys, logs, strict=True)}
    w0 = float(ref_len - np.log(1.0))  # n-grams absent from every reference: df 0 → max(1, 0) = 1

    def vec(cnts: dict[tuple[str, ...], int]) -> tuple[list[dict[tuple[str, ...], float]], list[float], int]:
        v: list[dict[tuple[str, ...], float]] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for g, tf in cnts.items():
            k = len(g) - 1
            x = float(tf) * weight.get(g, w0)
            v[k][g] = x
            norm[k] += x * x
            if k == 1:
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    denom = 2 * sigma ** 2
    scores = []
    for test, rs in zip(ctest, crefs, strict=True):
        vh, nh, lh = vec(test)
        score = [0.0] * n
        for r in rs:
            vr, nr, lr = vec(r)
            delta = float(lh - lr)
            pen = math.e ** (-(delta ** 2) / denom)
            for k in range(n):
                vrk = vr[k]
                acc = 0.0
                for g, x in vh[k].items():
                    y = vrk.get(g, 0.0)
                    acc += min(x, y) * y
                if nh[k] != 0 and nr[k] != 0:
                    acc /= nh[k] * nr[k]
                score[k] += acc * pen
        s = 0.0
        for x in score:  # np.mean over n < 8 values: a plain left-to-right sum, then a division
            s += x
        s = s / n
        s /= len(rs)
        s *= 10.0
        scores.append(s)
    arr = np.array(scores)
    return float(np.mean(arr)), [float(x) for x in arr]
