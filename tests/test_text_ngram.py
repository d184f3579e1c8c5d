"""The fast BLEU / ROUGE-L / CIDEr-D equal pycocoevalcap's scorers bit for bit (no Java needed)."""

from __future__ import annotations

import random

import pytest
from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge, my_lcs

from bench.text.ngram_metrics import CaptionNgrams, bleu, cider_d, lcs_length, rouge_l
from bench.text.synthetic import synthetic_captions


@pytest.fixture(scope="module")
def tokenised() -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """A 300-image synthetic set, lower-cased and split like PTB output (no Java needed for these tests)."""
    s = synthetic_captions(300, seed=11)

    def tok(c: str) -> str:
        return " ".join(c.lower().replace(".", " ").replace(",", " ").split())

    return ({i: [tok(c) for c in rs] for i, rs in s.refs.items()}, {i: [tok(s.hyps[i])] for i in s.refs})


def test_lcs_equals_pycocoevalcap() -> None:
    rng = random.Random(0)
    for _ in range(500):
        a = [rng.choice("abcde") for _ in range(rng.randrange(0, 15))]
        b = [rng.choice("abcdef") for _ in range(rng.randrange(0, 15))]
        assert lcs_length(a, b) == my_lcs(a, b)


def test_bleu_identical(tokenised) -> None:
    gts, res = tokenised
    ref_corpus, ref_per = Bleu(4).compute_score(gts, res, verbose=0)
    corpus, per = bleu(list(gts.values()), [res[i][0] for i in gts])
    assert corpus == list(ref_corpus)
    assert per == [list(x) for x in ref_per]


def test_rouge_identical(tokenised) -> None:
    gts, res = tokenised
    ref_corpus, ref_per = Rouge().compute_score(gts, res)
    corpus, per = rouge_l(list(gts.values()), [res[i][0] for i in gts])
    assert corpus == ref_corpus and per == list(ref_per)


def test_cider_identical(tokenised) -> None:
    gts, res = tokenised
    ref_corpus, ref_per = Cider().compute_score(gts, res)
    corpus, per = cider_d(list(gts.values()), [res[i][0] for i in gts])
    assert corpus == ref_corpus and per == list(ref_per)
    assert len(set(per)) > 100  # scores spread: a degenerate set would prove little


def test_cider_single_image_is_zero_as_in_pycocoevalcap() -> None:
    corpus, per = cider_d([["a dog runs", "a dog is running"]], ["a dog runs"])
    assert corpus == Cider().compute_score({1: ["a dog runs", "a dog is running"]}, {1: ["a dog runs"]})[0] == 0.0


def test_corner_cases_identical_with_a_shared_table() -> None:
    """Empty and one-word captions, repeated n-grams, unequal reference counts: where array code can slip."""
    gts = {0: ["a a a a a", "a a"], 1: ["", "dog"], 2: ["the cat sat on the mat the cat", "a cat", "cat the"],
           3: ["x"], 4: ["a dog runs", "a dog is running", "dog"]}
    res = {0: ["a a a"], 1: [""], 2: ["the cat the cat sat"], 3: ["y y"], 4: ["a dog runs a dog"]}
    refs, hyps = list(gts.values()), [res[i][0] for i in gts]
    ngrams = CaptionNgrams.build(refs, hyps)
    b_corpus, b_per = Bleu(4).compute_score(gts, res, verbose=0)
    assert bleu(refs, hyps, ngrams=ngrams) == bleu(refs, hyps) == (list(b_corpus), [list(x) for x in b_per])
    c_corpus, c_per = Cider().compute_score(gts, res)
    assert cider_d(refs, hyps, ngrams=ngrams) == cider_d(refs, hyps) == (c_corpus, list(c_per))
