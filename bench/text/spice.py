"""SPICE through pycocoevalcap, only when its Stanford CoreNLP 3.6.0 jars are already in place.

pycocoevalcap's ``Spice()`` downloads ~385 MB from nlp.stanford.edu when the jars are missing, and offline that
exception kills the whole ``COCOEvalCap.evaluate()``. We check first and report SPICE unavailable, with the
path to place the jars, instead of trying the download.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.text.ptb import JavaUnavailable, java_executable

CORENLP_URL = "http://nlp.stanford.edu/software/stanford-corenlp-full-2015-12-09.zip"


def corenlp_for_spice() -> Path:
    import pycocoevalcap.spice.get_stanford_models as g

    return Path(g.__file__).parent / g.SPICELIB / f"{g.JAR}.jar"


def spice_unavailable_reason() -> str | None:
    """Why SPICE cannot run here, or ``None`` when it can."""
    try:
        java_executable()
    except JavaUnavailable as exc:
        return str(exc)
    jar = corenlp_for_spice()
    if not jar.is_file():
        return (f"SPICE needs Stanford CoreNLP 3.6.0 at {jar} (and its -models jar); pycocoevalcap downloads them "
                f"from {CORENLP_URL} (~385 MB), which is not done here")
    return None


def spice(refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> tuple[float, list[float]]:
    """Corpus and per-image SPICE F-score via pycocoevalcap's ``Spice`` (call only when available)."""
    from pycocoevalcap.spice.spice import Spice

    gts = {i: list(rs) for i, rs in enumerate(refs)}
    res = {i: [h] for i, h in enumerate(hyps)}
    score, scores = Spice().compute_score(gts, res)
    return float(score), [float(s["All"]["f"]) for s in scores]
