"""Time genbench's caption scoring against pycocoevalcap on the same synthetic set and check identical scores.

usage: .venv/bin/python scripts/bench_captions.py [--images 5000] [--repeat 3] [--threads N] [--no-meteor]

Each repeat runs pycocoevalcap (as ``COCOEvalCap.evaluate()`` runs it: PTBTokenizer twice, then Bleu(4), Meteor,
Rouge, Cider; SPICE cannot run offline) and then genbench's ``score_captions`` on the same captions, in the same
process, alternately, and reports the fastest of each: wall seconds and CPU seconds (this process plus its JVMs).
The machine is shared: the load average is printed before and after. Before timing, genbench's one-time set-up
(compiling its METEOR driver and indexing the paraphrase table into the cache, like installing the jar) is done
and timed separately; no scores are cached.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import time
import warnings

from bench.text.caption_scores import PYCOCOEVALCAP_NAMES, score_captions
from bench.text.reference import pycocoevalcap_scores
from bench.text.synthetic import synthetic_captions


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="METEOR alignment threads (default: CPU count)")
    ap.add_argument("--no-meteor", action="store_true")
    a = ap.parse_args()
    if a.threads:
        os.environ["GENBENCH_METEOR_THREADS"] = str(a.threads)
    meteor = not a.no_meteor
    print(f"{a.images} images x 5 refs, meteor={meteor}, cpus={os.cpu_count()}, load before: {os.getloadavg()}")
    if meteor:
        from bench.text.meteor import driver_classes, paraphrase_index
        from bench.text.ptb import java_executable

        t = time.perf_counter()
        ready = driver_classes(java_executable()) is not None and paraphrase_index() is not None
        print(f"one-time set-up (driver + paraphrase index in the cache): {time.perf_counter() - t:.1f} s, ok={ready}")
    s = synthetic_captions(a.images, n_refs=5, seed=0)
    theirs_t: list[tuple[float, float]] = []
    ours_t: list[tuple[float, float]] = []
    identical = True
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), _cpu()
        with contextlib.redirect_stdout(io.StringIO()):
            corpus, per = pycocoevalcap_scores(s.refs, s.hyps, meteor=meteor)
        t1, c1 = time.perf_counter(), _cpu()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = score_captions(s.refs, s.hyps, meteor=meteor, spice=False)
        t2, c2 = time.perf_counter(), _cpu()
        theirs_t.append((t1 - t0, c1 - c0))
        ours_t.append((t2 - t1, c2 - c1))
        same_corpus = all(m.value == corpus[PYCOCOEVALCAP_NAMES[n]] for n, m in ours.metrics.items() if m.available)
        same_per = all(ours.per_image[i] == {k: per[i][PYCOCOEVALCAP_NAMES[k]] for k in ours.per_image[i]}
                       for i in per)
        available = {n for n, m in ours.metrics.items() if m.available}
        identical = identical and same_corpus and same_per and ("METEOR" in available) == meteor
        print(f"  pycocoevalcap {t1 - t0:6.2f} s (cpu {c1 - c0:6.2f})   genbench {t2 - t1:6.2f} s "
              f"(cpu {c2 - c1:6.2f})   identical: {same_corpus and same_per}")
    tw, tc = min(x[0] for x in theirs_t), min(x[1] for x in theirs_t)
    ow, oc = min(x[0] for x in ours_t), min(x[1] for x in ours_t)
    print(f"pycocoevalcap: {tw:.2f} s (cpu {tc:.2f} s)   [fastest of {a.repeat}]")
    print(f"genbench:      {ow:.2f} s (cpu {oc:.2f} s)   speed-up {tw / ow:.2f}x wall, {tc / oc:.2f}x cpu")
    print(f"scores identical per image and corpus in every repeat: {identical}; load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
