"""Caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE) with pycocoevalcap's exact numbers.

pycocoevalcap is the reference every captioning paper reports against, so these modules either call its code or
reimplement it faster with tests proving equality (``tests/test_text_*.py``). What they add: PTB tokenisation once
for all captions, one batched METEOR JVM, vectorised CIDEr-D / BLEU, input guards pycocoevalcap lacks, and
per-metric availability so that a missing Java or an offline SPICE does not take the other metrics down.
"""
