"""pycocoevalcap itself, run the way ``COCOEvalCap.evaluate()`` runs it: the reference our numbers must equal.

``COCOEvalCap`` needs pycocotools COCO objects and dies offline in SPICE's set-up, so this replays its exact
sequence (PTBTokenizer on references, then on hypotheses; Bleu(4), Meteor, Rouge, Cider with their defaults)
on plain dicts. Used by the parity tests and the speed benchmark; never by ``genbench score``.
"""

from __future__ import annotations

from typing import Any


def pycocoevalcap_scores(refs: dict[Any, list[str]], hyps: dict[Any, str], *, meteor: bool = True
                         ) -> tuple[dict[str, float], dict[Any, dict[str, float]]]:
    """Corpus scores and per-image scores under pycocoevalcap's names (``Bleu_1`` ... ``CIDEr``)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = {i: [{"caption": c} for c in refs[i]] for i in refs}
    res = {i: [{"caption": hyps[i]}] for i in refs}
    tok = PTBTokenizer()
    gts_t = tok.tokenize(gts)
    res_t = tok.tokenize(res)
    scorers: list[tuple[Any, Any]] = [(Bleu(4), ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"])]
    if meteor:
        from pycocoevalcap.meteor.meteor import Meteor

        scorers.append((Meteor(), "METEOR"))
    scorers += [(Rouge(), "ROUGE_L"), (Cider(), "CIDEr")]
    corpus: dict[str, float] = {}
    per_image: dict[Any, dict[str, float]] = {i: {} for i in gts_t}
    for scorer, method in scorers:
        if isinstance(scorer, Bleu):
            score, scores = scorer.compute_score(gts_t, res_t, verbose=0)
        else:
            score, scores = scorer.compute_score(gts_t, res_t)
        if isinstance(method, list):
            for sc, scs, m in zip(score, scores, method, strict=True):
                corpus[m] = float(sc)
                for i, s in zip(gts_t.keys(), scs, strict=True):
                    per_image[i][m] = float(s)
        else:
            corpus[method] = float(score)
            for i, s in zip(gts_t.keys(), scores, strict=True):
                per_image[i][method] = float(s)
    return corpus, per_image
