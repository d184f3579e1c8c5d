"""Stanford PTB tokenisation exactly as pycocoevalcap's ``PTBTokenizer`` does it, in one Java call, line-safe.

pycocoevalcap tokenises references and hypotheses in two JVM calls, one caption per line with ``-preserveLines``,
and maps output lines back to images by position. The Stanford lexer also ends a line at ``\\r``, ``\\v``, ``\\f``,
``\\u2028`` and ``\\u2029`` (found by feeding it every BMP character), so one such character inside a caption
silently moves every later caption onto the wrong image. We replace those (and ``\\n``, as pycocoevalcap does) by a
space first, check the line count, and otherwise run the very same jar with the very same options and the same
punctuation filter (``-LRB-`` stays, because the filter list is upper-case while the output is lower-cased; ``£``
becomes ``#``): parity with pycocoevalcap is the point.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.errors import GenbenchError

#: Characters the PTB lexer treats as a line end (besides ``\n``); each is replaced by a space before tokenising.
LINE_BREAKERS = "\n\r\v\f\u2028\u2029"
_LINE_BREAKS = re.compile(f"[{re.escape(LINE_BREAKERS)}]")


class JavaUnavailable(GenbenchError):
    """Java (or a jar it needs) is missing: the metrics that need it are reported unavailable with this reason."""


def corenlp_jar() -> Path:
    """The Stanford CoreNLP 3.4.1 jar shipped inside pycocoevalcap (the tokenizer pycocoevalcap uses)."""
    import pycocoevalcap.tokenizer.ptbtokenizer as ptb

    return Path(ptb.__file__).with_name(ptb.STANFORD_CORENLP_3_4_1_JAR)


def java_executable() -> str:
    """Path of ``java`` or :class:`JavaUnavailable`; ``GENBENCH_JAVA`` overrides (tests use it to simulate none)."""
    java = os.environ.get("GENBENCH_JAVA") or shutil.which("java")
    if not java or not (shutil.which(java) or Path(java).is_file()):
        raise JavaUnavailable("Java not found on PATH (install a JRE, e.g. `apt-get install default-jre-headless`)")
    return java


def normalise_line_breaks(caption: str) -> str:
    """``caption`` with every character the PTB lexer would treat as a line end replaced by a space."""
    return _LINE_BREAKS.sub(" ", caption)


def tokenize(captions: Sequence[str]) -> list[str]:
    """PTB-tokenise, lower-case and strip punctuation from each caption, in one JVM run.

    Returns one string per input caption, equal to what pycocoevalcap's ``PTBTokenizer`` returns for it.
    """
    from pycocoevalcap.tokenizer.ptbtokenizer import PUNCTUATIONS

    if not captions:
        return []
    java = java_executable()
    jar = corenlp_jar()
    if not jar.is_file():
        raise JavaUnavailable(f"{jar}: Stanford CoreNLP jar missing from the pycocoevalcap install")
    text = "\n".join(normalise_line_breaks(c) for c in captions)
    fd, tmp = tempfile.mkstemp(prefix="genbench-ptb-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode())
        proc = subprocess.run([java, "-cp", str(jar), "edu.stanford.nlp.process.PTBTokenizer",
                               "-preserveLines", "-lowerCase", tmp], capture_output=True)
    finally:
        os.remove(tmp)
    if proc.returncode != 0:
        raise JavaUnavailable(f"PTB tokenizer failed (exit {proc.returncode}): "
                              f"{proc.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    lines = proc.stdout.decode().split("\n")
    if len(lines) > len(captions) and all(not x for x in lines[len(captions):]):
        lines = lines[:len(captions)]
    if len(lines) != len(captions):
        raise RuntimeError(f"PTB tokenizer returned {len(lines)} lines for {len(captions)} captions")
    punct = set(PUNCTUATIONS)
    return [" ".join(w for w in line.rstrip().split(" ") if w not in punct) for line in lines]


def tokenize_sets(refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Tokenise references then hypotheses in one call, returning them in the same nesting.

    A blank line separates the two blocks so that the last reference is followed by a line end that carries no
    text, as it is followed by end-of-file in pycocoevalcap's separate call (the lexer looks ahead across lines,
    e.g. ``U.S.`` at a line end gains a ``.``).
    """
    flat = [c for rs in refs for c in rs]
    toks = tokenize([*flat, "", *hyps])
    out_refs: list[list[str]] = []
    k = 0
    for rs in refs:
        out_refs.append(toks[k:k + len(rs)])
        k += len(rs)
    return out_refs, toks[k + 1:]
