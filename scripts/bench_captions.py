"""Time genbench's caption scoring against pycocoevalcap on the same synthetic set and check equal scores.

usage: .venv/bin/python scripts/bench_captions.py [--images 5000] [--no-meteor]
Runs pycocoevalcap first (tokenizer twice, Bleu, Meteor, Rouge, Cider; SPICE cannot run offline) then ours.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

from bench.text.caption_scores import PYCOCOEVALCAP_NAMES, score_captions
from bench.text.reference import pycocoevalcap_scores
from bench.text.synthetic import synthetic_captions


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--no-meteor", action="store_true")
    a = ap.parse_args()
    s = synthetic_captions(a.images, n_refs=5, seed=0)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        corpus, per = pycocoevalcap_scores(s.refs, s.hyps, meteor=not a.no_meteor)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = score_captions(s.refs, s.hyps, meteor=not a.no_meteor, spice=False)
    t2 = time.perf_counter()
    worst = max(abs(m.value - corpus[PYCOCOEVALCAP_NAMES[n]]) for n, m in ours.metrics.items() if m.available)
    same_per = all(ours.per_image[i] == {k: per[i][PYCOCOEVALCAP_NAMES[k]] for k in ours.per_image[i]} for i in per)
    print(f"{a.images} images x 5 refs, meteor={not a.no_meteor}")
    print(f"pycocoevalcap: {t1 - t0:.2f} s")
    print(f"genbench:      {t2 - t1:.2f} s   speed-up {(t1 - t0) / (t2 - t1):.2f}x")
    print(f"max |corpus diff| = {worst:.3g}; per-image identical: {same_per}")


if __name__ == "__main__":
    main()
