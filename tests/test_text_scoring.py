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


def test_paraphrase_filter_keeps_only_entries_within_the_vocabulary_in_table_order(tmp_path, monkeypatch) -> None:
    import gzip

    from bench.text.meteor import filter_paraphrases, paraphrase_index

    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    entries = [("0.5", "big dog", "large dog"), ("0.1", "dog", "puppy"), ("0.2", "the cat", "a cat"),
               ("0.3", "dog", "hound"), ("0.4", "sofa", "couch")]
    table = tmp_path / "para.gz"
    with gzip.open(table, "wt", encoding="utf-8") as f:
        f.write("".join(f"{p}\n{a}\n{b}\n" for p, a, b in entries))
    index = paraphrase_index(table)
    assert index is not None and index.is_file() and paraphrase_index(table, build=False) == index
    out = tmp_path / "cut.gz"
    assert filter_paraphrases(index, {"dog", "puppy", "big", "large", "hound", "cat", "the"}, out) == 3
    with gzip.open(out, "rt", encoding="utf-8") as f:
        assert f.read() == "0.5\nbig dog\nlarge dog\n0.1\ndog\npuppy\n0.3\ndog\nhound\n"


def test_meteor_jvm_failure_reported_unavailable_and_other_metrics_run(monkeypatch) -> None:
    import bench.text.meteor as m

    started: list = []
    real = m.MeteorProcess.__init__

    def init(self, *a, **k) -> None:
        real(self, *a, **k)
        started.append(self._p)

    monkeypatch.setattr(m.MeteorProcess, "__init__", init)
    monkeypatch.setattr(m, "DRIVER_JVM_FLAGS", ("-XX:+NoSuchJvmFlagForGenbench",))
    monkeypatch.setattr(m, "JAVA_MEMORY", "-XX:+NoSuchJvmFlagForGenbench")  # the plain-jar fallback fails too
    s = synthetic_captions(5, seed=1)
    with pytest.warns(CaptionMetricWarning):
        out = score_captions(s.refs, s.hyps, spice=False)
    met = out.metrics["METEOR"]
    assert not met.available and met.value is None and "NoSuchJvmFlagForGenbench" in met.reason
    assert out.metrics["BLEU-4"].available and out.metrics["CIDEr-D"].available
    assert started and all(p.poll() is not None for p in started)  # no JVM left behind


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("javac") is None, reason="the fast METEOR driver is compiled with javac (a JDK)")
def test_meteor_fast_driver_equals_the_jars_stdio_mode_with_any_thread_count() -> None:
    from bench.text.meteor import MeteorProcess

    s = synthetic_captions(200, seed=5)
    refs, hyps = tokenize_sets(list(s.refs.values()), [s.hyps[i] for i in s.refs])
    # the driver's plain-line shortcut past the jar's normaliser: extra spaces, its DOTMULTI markers, digits
    refs += [["a  dog runs ", "dotmulti dog 2"], ["the dog 's bone", "a b c 1 2"]]
    hyps += ["a dog  runs 3", "dotdotmulti dog . 7"]
    plain = MeteorProcess(fast=False)
    assert not plain.fast
    expected = plain.score(refs, hyps)
    for threads in (1, 3):
        p = MeteorProcess(threads=threads)
        assert p.fast and p.score(refs, hyps) == expected
        assert p.paraphrases_loaded is not None and p._p.poll() is not None
