"""The ``genbench`` command line: one module per command group, each holding its parsers next to its handlers.

- :mod:`bench.cli.run`: ``run``, ``validate``
- :mod:`bench.cli.score`: ``score images|pairs|cycle|captions|retrieval|t2i``
- :mod:`bench.cli.results`: ``table``, ``report``, ``compare``, ``check``, ``baseline``
- :mod:`bench.cli.tools`: ``selftest``, ``ref``, ``weights``, ``ls``

One dispatch scheme: every (sub-)command's parser sets ``func``, and :func:`main` calls it. The handlers parse
and print; the work is in the library (bench.score, bench.runner, bench.check, ...). Every user-caused problem exits
with code 2 and one clear message per problem (no traceback); a regression found by ``check`` exits with 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import bench._openmp  # noqa: F401  (first, before torch: OMP_WAIT_POLICY=PASSIVE for the CLI, see its docstring)
from bench.cli import results, run, score, tools
from bench.errors import EXIT_BAD_INPUT, EXIT_OK, GenbenchError, RunInterrupted, os_error_line

EXAMPLES = """examples:
  genbench run suites/quickstart.yaml           run a suite, print the comparison table
  genbench run suites/quickstart.yaml --resume results/quickstart/<run-id>
  genbench validate suites/quickstart.yaml      check a suite without running it
  genbench table results/quickstart/<run-id>    print a run's table again
  genbench table RUN... --format latex          booktabs tables (also csv, html)
  genbench report RUN... --out site/            static HTML leaderboard (open index.html from disk)
  genbench compare RUN_A RUN_B                  per-metric deltas with bootstrap / paired significance
  genbench baseline save RUN quickstart         write results/baselines/quickstart.json
  genbench check suites/quickstart.yaml --baseline results/baselines/quickstart.json
  genbench ls metrics                           list adapters, metrics, backbones, suites, tasks, protocols
  genbench score images samples/ real/ --fid --kid --json
                                                FID/KID/IS/PR between two folders or .npz files
  genbench weights list                         third-party weights: URL, sha256, where they go
  genbench ref build cifar10-train --from real/ --protocol tf-compat
                                                reference statistics + protocol sidecar ($GENBENCH_CACHE/refs)
  genbench ref import ffhq ffhq_clean_trainval70k_1024.npz --protocol clean --tool clean-fid
  genbench score images samples/ cifar10-train  FID against a named reference
  genbench score captions --gt ann.json --res res.json --json
                                                score COCO-format captions (BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE)
  genbench score pairs translated/ truth/       paired translation metrics (L1, PSNR, SSIM, LPIPS)
  genbench score cycle inputs/ reconstructed/   cycle-consistency of reconstructions
  genbench run suites/translation.yaml          pix2pix/CycleGAN zoo vs identity, copier and oracle baselines
  genbench score retrieval --images img.npy --texts txt.npy --pairs pairs.json --json
                                                text-image recall@K, RSUM and ranks from embeddings
  genbench run suites/retrieval.yaml            shapes retrieval (also captioning.yaml, t2i.yaml), offline
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genbench", description="Evaluate and benchmark generative vision models.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"genbench {__import__('bench').__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (run, results, score, tools):  # the order of `genbench --help`
        group.add_parsers(sub)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # type: ignore[no-untyped-def]
    """genbench's own warnings as ``genbench: warning: ...``; another package's (torch's deprecations, a user's
    model) named as theirs, with the file they come from, so nobody reports torch's notice as genbench's."""
    root = Path(__file__).resolve().parent.parent.parent  # the checkout holding bench/
    try:
        ours = Path(filename).resolve().is_relative_to(root) and "site-packages" not in Path(filename).parts
    except (OSError, ValueError):
        ours = False
    if ours:
        return f"genbench: warning: {message}\n"
    where = next((f"{Path(*Path(filename).parts[i + 1:])}" for i, part in enumerate(Path(filename).parts)
                  if part == "site-packages"), str(filename))
    return f"warning from {where}:{lineno} ({category.__name__}, not genbench's): {message}\n"


#: commands that run as one job on every rank under torchrun (bench.distributed); the others run on rank 0 alone
DISTRIBUTED = {"run", "check", "score images", "score pairs", "score cycle"}


def _join_ranks(args: argparse.Namespace) -> bool:
    """Under torchrun: join the process group for a distributed command, and quiet every rank but 0 (rank 0
    prints the results; another rank speaks only when the run cannot go on). False: this rank has nothing to do."""
    from bench import distributed

    if not distributed.launched():
        return True
    name = args.command + (f" {args.score_kind}" if getattr(args, "score_kind", None) else "")
    if name not in DISTRIBUTED:
        return os.environ.get("RANK", "0") == "0"
    group = distributed.init_from_env(getattr(args, "device", None))
    if group is not None and not group.main:
        import warnings

        warnings.simplefilter("ignore")  # rank 0 warns (and flags the rows) for the run
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return True


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = _one_line_warning
    args = _parser().parse_args(argv)
    from bench import distributed

    try:
        if not _join_ranks(args):
            return EXIT_OK
        return int(args.func(args))
    except GenbenchError as exc:
        if distributed.is_main() or isinstance(exc, distributed.RanksLostError):
            for line in str(exc).splitlines():
                print(f"genbench: error: {line}", file=sys.stderr)
        if isinstance(exc, distributed.RanksLostError):
            distributed.abandon(exc.exit_code)
        return exc.exit_code
    except BrokenPipeError:  # `genbench ls metrics | head`: the reader left; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the environment: a read-only or full disk, a permission: one line naming the path
        print(f"genbench: error: {os_error_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        where = str(exc.run_dir) if isinstance(exc, RunInterrupted) else "RUN_DIR"
        print(f"genbench: interrupted; completed results are kept (resume with --resume {where})", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()
