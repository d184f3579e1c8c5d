"""METEOR 1.5 through pycocoevalcap's jar: same classes, same options, same numbers, a fraction of the time.

pycocoevalcap's ``Meteor`` starts ``java -jar -Xmx2G meteor-1.5.jar - - -stdio -l en -norm``, which parses the
whole 5.3-million-entry English paraphrase table (~8.5 s of CPU) before it answers, then aligns one image per
round trip on one core (~2 ms each) and finally replays every statistics line in one ``EVAL``. Measured on 5,000
COCO-style images (``scripts/bench_captions.py``), start-up and alignment are the whole cost; the round trips are
not.

Here (:class:`MeteorProcess`):

* **Only the paraphrases that can match are loaded.** A paraphrase entry ``p1 → p2`` can only produce a match
  when every word of ``p1`` occurs in one sentence and every word of ``p2`` in the other
  (``ParaphraseMatcher`` looks ``p1`` up in the transducer along the sentence's words and then compares ``p2``
  word by word). The driver reports every token the scorer can see (raw, normalised both ways, lower-cased:
  a superset of what the aligner gets), and the table is cut to the entries whose words all lie in that set,
  kept in their original order (so the transducer emits the surviving entries in the same order); the jar loads
  the cut table with its own ``-a`` option. This is what the jar's own ``FilterParaphrase`` tool is for; the
  scores are identical (tests/test_text_scoring.py compares with pycocoevalcap per image and corpus). To find
  those entries without reading 270 MB per run, the table is indexed once into genbench's cache
  (:func:`paraphrase_index`, ~1 min the first time): each entry is filed under its rarest word.
* **Alignment runs in parallel** in one JVM (``threads``, default ``os.cpu_count()``), each thread with a
  ``MeteorScorer(MeteorScorer)`` copy (the jar's constructor for multi-threaded use); statistics are independent
  per segment.
* **Plain lines skip the jar's normaliser.** ``Normalizer.normalizeLine`` (``-norm``) runs a dozen regular
  expressions over large Unicode classes, ~75 µs a line: as much CPU as aligning. On a line of only ``[a-z0-9]``
  and spaces (most PTB output) none of them can match, and the driver only joins the tokens with single spaces;
  other lines go through the jar (see ``GenbenchMeteor.java``, which also checks the two agree at start-up).
* **The caller works while the JVM aligns**: :meth:`MeteorProcess.start` returns once the segments and the cut
  table are sent, :meth:`MeteorProcess.result` collects the scores.
* **EVAL is replayed in the driver** exactly as ``Meteor.scoreStdio`` does it: each statistics line parsed back
  from its text form, scored, and summed in image order; the corpus METEOR is the score of that sum (not a mean
  of the per-image scores).

The driver is ``GenbenchMeteor.java`` (next to this file), compiled once with ``javac`` into the cache. Without a
JDK, or if the cache cannot be written, the jar's own ``-stdio`` mode is used, fed in one batch (same numbers,
pycocoevalcap's speed).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NoReturn

from bench.text.ptb import JavaUnavailable, java_executable

#: pycocoevalcap's METEOR options (``Meteor.meteor_cmd``), never changed.
METEOR_OPTIONS = ("-", "-", "-stdio", "-l", "en", "-norm")
JAVA_MEMORY = "-Xmx2G"
#: JIT flags for the driver: the client compiler only (C1). The run is too short for C2 to pay for its compile
#: time (measured: alignment of 5,000 images 6.3 s → 5.0 s); Java arithmetic is strict, so scores do not change.
DRIVER_JVM_FLAGS = ("-XX:TieredStopAtLevel=1",)
#: Bumped when the index layout changes.
_INDEX_VERSION = 1
#: java.util.StringTokenizer's default delimiters: the paraphrase table's word separator.
_WORD_SPLIT = re.compile("[ \t\n\r\f]+")
_DRIVER = Path(__file__).with_name("GenbenchMeteor.java")


def meteor_jar() -> Path:
    import pycocoevalcap.meteor.meteor as m

    return Path(m.__file__).with_name(m.METEOR_JAR)


def paraphrase_table() -> Path:
    """The English paraphrase table the jar loads by default (``data/paraphrase-en.gz`` beside it)."""
    return meteor_jar().parent / "data" / "paraphrase-en.gz"


def default_threads() -> int:
    """Alignment threads: ``GENBENCH_METEOR_THREADS`` or the number of CPUs (at most 16)."""
    env = os.environ.get("GENBENCH_METEOR_THREADS")
    if env and env.strip().isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(16, os.cpu_count() or 1))


def _cache_dir() -> Path:
    from bench.weights import cache_root

    return cache_root() / "meteor"


def _words(phrase: str) -> list[str]:
    return [w for w in _WORD_SPLIT.split(phrase) if w]


def _read_table(path: Path) -> Iterable[tuple[str, str, str]]:
    """(probability line, phrase, paraphrase) triples, split into lines as Java's ``BufferedReader`` does."""
    with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=None) as f:
        it = (line.rstrip("\r\n") for line in f)
        for prob in it:
            yield prob, next(it, ""), next(it, "")


def _table_key(table: Path) -> str:
    st = table.stat()
    return hashlib.sha256(f"{table.resolve()}|{st.st_size}|{st.st_mtime_ns}|{_INDEX_VERSION}".encode()).hexdigest()[:16]


def paraphrase_index(table: Path | None = None, *, build: bool = True) -> Path | None:
    """The SQLite index of ``table`` in the cache (built now when missing and ``build``), or ``None``.

    Each entry is stored, as ``index<TAB>prob<TAB>phrase<TAB>paraphrase``, under the rarest of its words: an
    entry whose words all lie in a vocabulary is found by looking up only that vocabulary's words.
    """
    table = table or paraphrase_table()
    out = _cache_dir() / f"paraphrase-{_table_key(table)}.sqlite"
    if out.is_file():
        return out
    if not build:
        return None
    import sys
    import time

    t0 = time.time()
    print(f"genbench: building the METEOR paraphrase index in {out.parent} (once per machine: about a minute, "
          "~350 MB)...", file=sys.stderr, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    freq: Counter[str] = Counter()
    for _, p1, p2 in _read_table(table):
        freq.update(set(_words(p1)) | set(_words(p2)))
    groups: dict[str, list[str]] = {}
    for k, (prob, p1, p2) in enumerate(_read_table(table)):
        ws = set(_words(p1)) | set(_words(p2))
        key = min(ws, key=lambda w: (freq[w], w)) if ws else ""
        groups.setdefault(key, []).append(f"{k}\t{prob}\t{p1}\t{p2}")
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        con.execute("CREATE TABLE groups (word TEXT PRIMARY KEY, data BLOB) WITHOUT ROWID")
        con.executemany("INSERT INTO groups VALUES (?, ?)",
                        ((w, "\n".join(lines).encode()) for w, lines in groups.items()))
        con.commit()
        con.close()
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"genbench: METEOR paraphrase index built in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    return out


def filter_paraphrases(index: Path, vocab: set[str], dest: Path) -> int:
    """Write to ``dest`` (gzip, the jar's format) the entries whose words all lie in ``vocab``, in table order."""
    con = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    try:
        words = sorted(vocab)
        kept: list[tuple[int, str]] = []
        for s in range(0, len(words), 500):
            chunk = words[s:s + 500]
            rows = con.execute(f"SELECT data FROM groups WHERE word IN ({','.join('?' * len(chunk))})", chunk)
            for (data,) in rows:
                for entry in data.decode().split("\n"):
                    k, prob, p1, p2 = entry.split("\t", 3)
                    if all(w in vocab for w in _words(p1)) and all(w in vocab for w in _words(p2)):
                        kept.append((int(k), f"{prob}\n{p1}\n{p2}\n"))
    finally:
        con.close()
    kept.sort()
    with gzip.open(dest, "wt", encoding="utf-8", compresslevel=1, newline="\n") as f:
        f.write("".join(t for _, t in kept))
    return len(kept)


def _javac(java: str) -> str | None:
    sibling = Path(java).resolve().parent / "javac"
    if sibling.is_file():
        return str(sibling)
    return shutil.which("javac")


def driver_classes(java: str) -> Path | None:
    """Folder holding the compiled ``GenbenchMeteor`` driver (compiled now if needed), or ``None`` (no JDK...)."""
    jar = meteor_jar()
    src = _DRIVER.read_bytes()
    key = hashlib.sha256(src + str(jar.resolve()).encode() + str(jar.stat().st_size).encode()).hexdigest()[:16]
    out = _cache_dir() / f"driver-{key}"
    if (out / "GenbenchMeteor.class").is_file():
        return out
    javac = _javac(java)
    if javac is None:
        return None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="driver-", dir=out.parent))
        proc = subprocess.run([javac, "-nowarn", "--release", "8", "-cp", str(jar), "-d", str(tmp), str(_DRIVER)],
                              capture_output=True)
        if proc.returncode != 0 or not (tmp / "GenbenchMeteor.class").is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        try:
            os.replace(tmp, out)
        except OSError:  # another process got there first
            shutil.rmtree(tmp, ignore_errors=True)
        return out if (out / "GenbenchMeteor.class").is_file() else None
    except OSError:
        return None


def _score_lines(refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> list[str]:
    """pycocoevalcap's ``Meteor._stat`` lines: ``|||`` removed from the hypothesis only, double spaces once."""
    return [" ||| ".join(("SCORE", " ||| ".join(rs), h.replace("|||", "").replace("  ", " "))) + "\n"
            for rs, h in zip(refs, hyps, strict=True)]


class MeteorProcess:
    """A running METEOR JVM; create it early (its start-up overlaps the caller's work), :meth:`score` once.

    ``threads``: alignment threads (default :func:`default_threads`); ``fast=False`` runs the jar's own
    ``-stdio`` mode exactly as pycocoevalcap does (the driver is also skipped when it cannot be compiled).
    """

    def __init__(self, threads: int | None = None, *, fast: bool = True) -> None:
        java = java_executable()
        jar = meteor_jar()
        if not jar.is_file():
            raise JavaUnavailable(f"{jar}: METEOR jar missing from the pycocoevalcap install")
        self.threads = threads if threads and threads > 0 else default_threads()
        classes = driver_classes(java) if fast else None
        self.fast = classes is not None
        if classes is not None:
            cmd = [java, *DRIVER_JVM_FLAGS, JAVA_MEMORY, "-cp", os.pathsep.join((str(classes), jar.name)), "GenbenchMeteor",
                   str(self.threads), *METEOR_OPTIONS]
        else:  # pycocoevalcap.meteor.meteor.Meteor's command line
            cmd = [java, "-jar", JAVA_MEMORY, jar.name, *METEOR_OPTIONS]
        # GENBENCH_METEOR_TIMING=1: the driver prints its stage times on the terminal (stderr not captured).
        timing = bool(os.environ.get("GENBENCH_METEOR_TIMING"))
        self._p = subprocess.Popen(cmd, cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=None if timing else subprocess.PIPE)
        self._tmp: Path | None = None
        #: Paraphrase entries loaded (fast mode with the index; ``None`` when the whole table was loaded).
        self.paraphrases_loaded: int | None = None
        self._n = 0
        self._stdio: threading.Thread | None = None
        self._stdio_out: tuple[float, list[float]] | BaseException | None = None

    def score(self, refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> tuple[float, list[float]]:
        """Corpus METEOR and per-image METEOR for tokenised captions, as ``Meteor().compute_score``."""
        self.start(refs, hyps)
        return self.result()

    def start(self, refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> None:
        """Send the segments and, in fast mode, the cut paraphrase table: on return the JVM is aligning.

        Split from :meth:`result` so that the caller computes its other metrics while the JVM aligns (a separate
        process: truly in parallel), instead of making the JVM wait for Python work done in a thread under the GIL.
        """
        try:
            lines = _score_lines(refs, hyps)
            if self.fast:
                self._n = len(lines)
                self._send_fast(lines)
            else:  # the jar prints a statistics line per segment as it goes: read them in a thread
                self._stdio = threading.Thread(target=self._run_stdio, args=(lines,), daemon=True)
                self._stdio.start()
        except (OSError, ValueError, JavaUnavailable) as exc:  # a dead JVM or garbage on its stdout
            self._fail(exc)

    def result(self) -> tuple[float, list[float]]:
        """Wait for the scores of the segments sent by :meth:`start`; stops the JVM."""
        try:
            if self.fast:
                per = [float(self._readline()) for _ in range(self._n)]
                return float(self._readline()), per
            assert self._stdio is not None
            self._stdio.join()
            if isinstance(self._stdio_out, BaseException):
                raise self._stdio_out
            assert self._stdio_out is not None
            return self._stdio_out
        except (OSError, ValueError) as exc:
            self._fail(exc)
        finally:
            self.close()

    def _fail(self, exc: Exception) -> NoReturn:
        """Raise ``exc`` as :class:`JavaUnavailable` (with the JVM's last words) after stopping the JVM."""
        try:
            if isinstance(exc, JavaUnavailable):
                raise exc
            raise JavaUnavailable(f"METEOR failed: {self._stderr_tail() or exc}") from exc
        finally:
            self.close()

    def _write_async(self, data: bytes) -> threading.Thread:
        def write() -> None:
            try:
                assert self._p.stdin is not None
                self._p.stdin.write(data)
                self._p.stdin.flush()
            except OSError:  # a dead JVM: reported by the reader
                pass

        th = threading.Thread(target=write, daemon=True)
        th.start()
        return th

    def _readline(self) -> bytes:
        assert self._p.stdout is not None
        line = self._p.stdout.readline()
        if not line:
            raise JavaUnavailable(f"METEOR jar exited: {self._stderr_tail()}")
        return line

    def _send_fast(self, lines: list[str]) -> None:
        """Segments in, vocabulary out, the paraphrase entries within it back in (``PARA``)."""
        writer = self._write_async(("".join(lines) + "VOCAB\n").encode())
        vocab: set[str] = set()
        while True:
            w = self._readline().decode().rstrip("\n")
            if w == "END":
                break
            vocab.add(w)
        writer.join()
        para = "-"
        index = None
        try:
            index = paraphrase_index()
        except (OSError, sqlite3.Error, EOFError) as exc:  # unreadable table or unwritable cache: load it whole
            print(f"genbench: METEOR paraphrase index unavailable ({exc}); loading the whole table", file=sys.stderr)
        if index is not None:
            fd, tmp = tempfile.mkstemp(prefix="genbench-meteor-para-", suffix=".gz")
            os.close(fd)
            self._tmp = Path(tmp)
            self.paraphrases_loaded = filter_paraphrases(index, vocab, self._tmp)
            para = str(self._tmp)
        assert self._p.stdin is not None
        self._p.stdin.write(f"PARA {para}\n".encode())
        self._p.stdin.flush()

    def _run_stdio(self, lines: list[str]) -> None:
        """The jar's own protocol (thread body): SCORE lines, their statistics back, one EVAL of them all."""
        try:
            writer = self._write_async("".join(lines).encode())
            stats = [self._readline().decode().strip() for _ in lines]
            writer.join()
            assert self._p.stdin is not None
            self._p.stdin.write(("EVAL" + "".join(f" ||| {s}" for s in stats) + "\n").encode())
            self._p.stdin.flush()
            per = [float(self._readline()) for _ in lines]
            self._stdio_out = (float(self._readline()), per)
        except Exception as exc:  # handed to result()
            self._stdio_out = exc

    def _stderr_tail(self) -> str:
        if self._p.poll() is None:
            self._p.kill()
        self._p.wait()
        err = self._p.stderr.read().decode(errors="replace").strip().splitlines() if self._p.stderr else []
        return "; ".join(x.strip() for x in err[-3:]) if err else f"exit code {self._p.returncode}"

    def close(self) -> None:
        """Stop the JVM (also called after :meth:`score`) and remove the cut paraphrase table."""
        try:
            if self._p.stdin:
                self._p.stdin.close()
        except OSError:
            pass
        if self._p.poll() is None:
            self._p.kill()
        self._p.wait()
        for stream in (self._p.stdout, self._p.stderr):
            if stream:
                stream.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
