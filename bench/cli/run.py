"""``genbench run`` and ``genbench validate``: a suite, run or checked."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli._common import DEVICE_HELP, run_log
from bench.distributed import is_main
from bench.errors import EXIT_BAD_INPUT, EXIT_OK, GenbenchError


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``genbench run`` and ``genbench validate``."""
    r = sub.add_parser("run", help="run a suite and write results/<suite>/<run-id>/")
    r.add_argument("suite")
    r.add_argument("--out", help="results folder (default: the suite's output.dir, 'results')")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run in RUN_DIR")
    r.add_argument("--no-cache", action="store_true", help="do not read or write the on-disk feature cache")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--report", action="store_true", help="also write the HTML leaderboard to RUN_DIR/report/index.html")
    r.add_argument("--device", help=DEVICE_HELP)
    r.add_argument("--shard", metavar="I/N", type=_shard, help="compute only shard I of N (0 <= I < N) of the suite's "
                   "(task, model) pairs, dealt round-robin: one job of a job array (Slurm --array=0-3: --shard "
                   "$SLURM_ARRAY_TASK_ID/4); table/report/compare/check read the N run folders together as one run")
    r.add_argument("--dry-run", action="store_true", help="print the weights files and datasets a run would download "
                   "(URL, target path, sha256) and the local files it would read; run nothing")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="check a suite: fields, names, adapter × metric compatibility, weights")
    v.add_argument("suite")
    v.add_argument("--no-weights", action="store_true", help="do not require weights files to be present (a run would "
                   "download them; see `genbench run --dry-run`)")
    v.set_defaults(func=cmd_validate)


def _shard(text: str) -> tuple[int, int]:
    """``I/N`` → (I, N), 0 <= I < N (argparse reports a bad value as one usage line)."""
    i, sep, n = text.partition("/")
    if not sep or not i.strip().isdigit() or not n.strip().isdigit() or not 0 <= int(i) < int(n):
        raise argparse.ArgumentTypeError(f"'{text}': expected I/N with 0 <= I < N, e.g. 0/4 (the first of 4 shards)")
    return int(i), int(n)


def cmd_run(args: argparse.Namespace) -> int:
    from bench.features import FeatureStore
    from bench.plan import check_suite
    from bench.results import RunDir
    from bench.runner import Runner
    from bench.suite import load_suite

    loaded = load_suite(args.suite)
    if args.dry_run:
        from bench.plan import dry_run_lines

        lines = dry_run_lines(check_suite(loaded, check_weights=False, check_files=False))
        print("\n".join(lines))
        missing = sum("[MISSING]" in line for line in lines)
        if missing:
            print(f"genbench: error: {missing} file(s) the run needs are missing (marked [MISSING] above)", file=sys.stderr)
            return EXIT_BAD_INPUT
        return EXIT_OK
    plan = check_suite(loaded, device=args.device)
    run_dir = None
    if args.resume:
        run_dir = RunDir(args.resume)
        if not run_dir.path.is_dir():
            raise GenbenchError(f"{run_dir.path}: no such run folder to resume")
        if not run_dir.is_run():  # a resume never starts a run inside some other folder
            raise GenbenchError(f"{run_dir.path}: not a run folder (no manifest.json or rows.jsonl); nothing to resume")
    elif args.out:
        run_dir = RunDir(Path(args.out) / loaded.suite.name / RunDir.new_id(loaded.suite.spec_hash(), args.shard))
    store = FeatureStore(None if args.no_cache else "default", progress=not args.quiet)
    outcome = Runner(plan, run_dir=run_dir, store=store, progress=not args.quiet, log=run_log(args.quiet),
                     shard=args.shard).run(resume=bool(args.resume))
    if not is_main():  # rank 0 reports the run
        return EXIT_BAD_INPUT if outcome.errors else EXIT_OK
    print(f"# {loaded.suite.name} — {outcome.run_dir.path}\n")
    print(outcome.markdown)
    if args.report:
        from bench.report import build_report

        print(f"leaderboard: {build_report([outcome.run_dir.path], outcome.run_dir.path / 'report')}")
    if outcome.errors:  # each was printed as it happened (the run log): counted here, not repeated
        print(f"genbench: {len(outcome.errors)} error(s), each reported above; results computed so far are kept in "
              f"{outcome.run_dir.path}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.plan import check_suite
    from bench.suite import load_suite

    loaded = load_suite(args.suite)
    plan = check_suite(loaded, check_weights=False)
    if not args.no_weights:
        # an explicit weights path that does not exist is an error; a published file not downloaded yet is not:
        # `run` fetches it (or, offline, stops before sampling with the same message)
        missing_explicit: list[str] = []
        to_fetch: list[str] = []
        for bname, b in plan.backbones.items():
            for msg in b.check_weights():
                (missing_explicit if b.weights_arg else to_fetch).append(f"backbone '{bname.split('@')[0]}': {msg}")
        if missing_explicit:
            raise GenbenchError("\n".join(f"{loaded.path}: {m}" for m in missing_explicit))
        for m in to_fetch:
            print(f"genbench: warning: {loaded.path}: {m}", file=sys.stderr)
    s = loaded.suite
    from bench.runner import task_parts

    tasks = task_parts(plan.tasks)
    print(f"{loaded.path}: ok — {len(s.models)} models, {len(s.datasets)} datasets, {len(tasks)} tasks "
          f"({', '.join(f'{p[0].name}: {len(p[0].models)} models x {sum(len(t.metrics) for t in p)} metrics, n={p[0].n}' for p in tasks)})")
    return EXIT_OK
