"""Tokenisation guards, availability and parity of ``score_captions`` with pycocoevalcap (PTB via Java)."""

from __future__ import annotations

import shutil

import pytest
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from bench.errors import InputError
from bench.text.caption_scores import PYCOCOEVALCAP_NAMES, CaptionMetricWarning, score_captions
from bench.text.ptb import tokenize, tokenize_sets
from bench.text.reference import pycocoevalcap_scores
from bench.text.synthetic import synthetic_captions

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for the PTB tokenizer")


def test_quirks_identical_to_pycocoevalcap() -> None:
    caps = ["The cost: £5 (approx.)", "A DOG'S bone -- isn't it?", "U.S. flag", "\u2026 \u00e9t\u00e9 caf\u00e9"]
    theirs = PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(caps)})
    ours = tokenize(caps)
    assert ours == [theirs[i][0] for i in range(len(caps))]
    assert "#" in ours[0] and "-lrb-" in ours[0]


@pytest.mark.parametrize("ch", ["\r", "\f", "\v", "\u2028", "\u2029"])
def test_line_breaking_characters_misalign_pycocoevalcap_but_not_us(ch: str) -> None:
    caps = {1: [{"caption": f"a red{ch}bus"}], 2: [{"caption": "a dog"}], 3: [{"caption": "a cat"}]}
    theirs = PTBTokenizer().tokenize(caps)
    assert theirs[2] == ["bus"]  # pycocoevalcap: image 2 gets the tail of image 1's caption
    assert tokenize([c[0]["caption"] for c in caps.values()]) == ["a red bus", "a dog", "a cat"]


def test_one_call_matches_two_calls() -> None:
    s = synthetic_captions(200, seed=2)
    refs = list(s.refs.values())
    hyps = [s.hyps[i] for i in s.refs]
    tok = PTBTokenizer()
    g = tok.tokenize({i: [{"caption": c} for c in rs] for i, rs in enumerate(refs)})
    r = tok.tokenize({i: [{"caption": h}] for i, h in enumerate(hyps)})
    assert tokenize_sets(refs, hyps) == (list(g.values()), [r[i][0] for i in range(len(hyps))])


def test_exactly_one_hypothesis_per_image() -> None:
    with pytest.raises(InputError, match="image id 7: exactly one hypothesis"):
        score_captions({7: ["a dog"]}, {7: ["a dog", "a cat"]}, meteor=False, spice=False)
    with pytest.raises(InputError, match="image id 9"):
        score_captions({7: ["a dog"]}, {9: "a dog"}, meteor=False, spice=False)


def test_cider_warns_on_few_images_and_spice_unavailable_reported() -> None:
    s = synthetic_captions(20, seed=4)
    with pytest.warns(CaptionMetricWarning, match="CIDEr-D on 20 images"):
        out = score_captions(s.refs, s.hyps, meteor=False)
    assert out.metrics["METEOR"].available is False and "disabled" in out.metrics["METEOR"].reason
    spice = out.metrics["SPICE"]
    assert spice.available or (spice.value is None and "CoreNLP" in spice.reason)
    assert out.metrics["BLEU-4"].available and out.metrics["CIDEr-D"].value is not None


def test_no_java_reports_every_metric_unavailable(monkeypatch) -> None:
    monkeypatch.setenv("GENBENCH_JAVA", "/nonexistent/java")
    s = synthetic_captions(5, seed=1)
    out = score_captions(s.refs, s.hyps)
    assert all(not m.available and "Java" in m.reason for m in out.metrics.values())


def test_parity_300_images_without_meteor() -> None:
    s = synthetic_captions(300, seed=3)
    corpus, per = pycocoevalcap_scores(s.refs, s.hyps, meteor=False)
    ours = score_captions(s.refs, s.hyps, meteor=False, spice=False)
    for name, m in ours.metrics.items():
        if m.available:
            assert m.value == pytest.approx(corpus[PYCOCOEVALCAP_NAMES[name]], abs=1e-12, rel=0)
    assert {n for n, m in ours.metrics.items() if m.available} == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4",
                                                                    "ROUGE-L", "CIDEr-D"}
    for i in s.refs:
        assert ours.per_image[i] == {k: per[i][PYCOCOEVALCAP_NAMES[k]] for k in ours.per_image[i]}


@pytest.mark.slow
def test_parity_300_images_with_meteor() -> None:
    s = synthetic_captions(300, seed=3)
    corpus, per = pycocoevalcap_scores(s.refs, s.hyps, meteor=True)
    ours = score_captions(s.refs, s.hyps, spice=False)
    assert ours.metrics["METEOR"].value == pytest.approx(corpus["METEOR"], abs=1e-12, rel=0)
    for i in s.refs:
        assert ours.per_image[i] == {k: per[i][PYCOCOEVALCAP_NAMES[k]] for k in ours.per_image[i]}
