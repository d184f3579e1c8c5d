"""METEOR 1.5 through pycocoevalcap's jar, one JVM started early and fed in one batch.

pycocoevalcap's ``Meteor`` starts the JVM (~8 s here, mostly parsing the paraphrase table) when the scorer is
built, then does one write/flush/read round trip per image. We start the same jar with the same arguments before
tokenising, so its start-up overlaps tokenisation and the Python metrics; a writer thread sends every ``SCORE``
line while the caller reads the statistics, then one ``EVAL`` line as pycocoevalcap builds it. The line format
(``|||`` removed from the hypothesis only, double spaces collapsed once) is pycocoevalcap's, so the scores are its.
Measured: the round trips are not the cost (batching alone saves ~nothing); the jar's per-segment alignment is.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from bench.text.ptb import JavaUnavailable, java_executable


def meteor_jar() -> Path:
    import pycocoevalcap.meteor.meteor as m

    return Path(m.__file__).with_name(m.METEOR_JAR)


class MeteorProcess:
    """A running METEOR jar in ``-stdio`` mode; create it early, call :meth:`score` once, then it exits."""

    def __init__(self) -> None:
        java = java_executable()
        jar = meteor_jar()
        if not jar.is_file():
            raise JavaUnavailable(f"{jar}: METEOR jar missing from the pycocoevalcap install")
        # Same command line as pycocoevalcap.meteor.meteor.Meteor.
        self._p = subprocess.Popen([java, "-jar", "-Xmx2G", jar.name, "-", "-", "-stdio", "-l", "en", "-norm"],
                                   cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)

    def score(self, refs: Sequence[Sequence[str]], hyps: Sequence[str]) -> tuple[float, list[float]]:
        """Corpus METEOR and per-image METEOR for tokenised captions, as ``Meteor().compute_score``."""
        p = self._p
        assert p.stdin is not None and p.stdout is not None
        lines = [" ||| ".join(("SCORE", " ||| ".join(rs), h.replace("|||", "").replace("  ", " "))) + "\n"
                 for rs, h in zip(refs, hyps, strict=True)]
        error: list[BaseException] = []

        def write() -> None:
            try:
                assert p.stdin is not None
                p.stdin.write("".join(lines).encode())
                p.stdin.flush()
            except BaseException as exc:  # a dead JVM: reported by the reader below
                error.append(exc)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        try:
            stats = []
            for _ in lines:
                line = p.stdout.readline()
                if not line:
                    raise JavaUnavailable(f"METEOR jar exited: {self._stderr_tail()}")
                stats.append(line.decode().strip())
            writer.join()
            p.stdin.write(("EVAL" + "".join(f" ||| {s}" for s in stats) + "\n").encode())
            p.stdin.flush()
            per = [float(p.stdout.readline().strip()) for _ in lines]
            corpus = float(p.stdout.readline().strip())
        finally:
            self.close()
        return corpus, per

    def _stderr_tail(self) -> str:
        self._p.kill()
        err = self._p.stderr.read().decode(errors="replace").strip().splitlines() if self._p.stderr else []
        return err[-1] if err else f"exit code {self._p.wait()}"

    def close(self) -> None:
        """Stop the JVM (also called after :meth:`score`)."""
        if self._p.poll() is None:
            try:
                if self._p.stdin:
                    self._p.stdin.close()
            except OSError:
                pass
            self._p.kill()
        self._p.wait()
