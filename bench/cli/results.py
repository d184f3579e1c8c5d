"""``genbench table``, ``report``, ``compare``, ``check`` and ``baseline``: reading runs, and gating them in CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli._common import DEVICE_HELP, run_log
from bench.distributed import is_main
from bench.errors import EXIT_BAD_INPUT, EXIT_OK, GenbenchError


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``genbench table``, ``report``, ``compare``, ``check`` and ``baseline``."""
    t = sub.add_parser("table", help="print the comparison table of one or more runs")
    t.add_argument("runs", nargs="+")
    t.add_argument("--format", choices=["markdown", "csv", "latex", "html"], default="markdown")
    t.add_argument("--target-ci", type=float, metavar="H", help="also print, per row with a bootstrap interval, the "
                   "number of samples at which its half-width would reach H (e.g. 0.5 FID)")
    t.set_defaults(func=cmd_table)

    rp = sub.add_parser("report", help="build a static, self-contained HTML leaderboard from one or more runs")
    rp.add_argument("runs", nargs="+")
    rp.add_argument("--out", help="output folder (default: RUN/report for the first run)")
    rp.set_defaults(func=cmd_report)

    c = sub.add_parser("compare", help="per-metric deltas between two runs, with significance")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for set-level metrics")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--map", action="append", default=[], metavar="OLD=NEW", help="compare model OLD of RUN_A with "
                   "model NEW of RUN_B (a renamed or retrained model); repeatable")
    c.set_defaults(func=cmd_compare)

    ck = sub.add_parser("check", help="CI gate: run a suite (or take --run) and check it against a baseline")
    ck.add_argument("suite")
    ck.add_argument("--baseline", required=True, help="results/baselines/NAME.json")
    ck.add_argument("--run", metavar="RUN_DIR", nargs="+", help="check this existing run instead of running the suite "
                    "(a sharded run: its N shard folders, or the folder holding them)")
    ck.add_argument("--out", help="results folder for the new run (default: the suite's output.dir)")
    ck.add_argument("--junit", help="JUnit XML path (default: RUN_DIR/check.xml)")
    ck.add_argument("--summary", help="Markdown summary path (default: RUN_DIR/check.md)")
    ck.add_argument("--quiet", action="store_true")
    ck.add_argument("--device", help=DEVICE_HELP)
    ck.set_defaults(func=cmd_check)

    b = sub.add_parser("baseline", help="manage CI baselines")
    b.set_defaults(func=cmd_baseline)
    bsub = b.add_subparsers(dest="baseline_command", required=True)
    bs = bsub.add_parser("save", help="write results/baselines/NAME.json from a run")
    bs.add_argument("run")
    bs.add_argument("name")
    bs.add_argument("--dir", default=None, help="baselines folder (default: results/baselines)")


def cmd_table(args: argparse.Namespace) -> int:
    from bench.tables import html_tables, load_runs, to_csv, to_latex, to_markdown

    rows = load_runs(args.runs)
    render = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex, "html": html_tables}[args.format]
    print(render(rows), end="")
    if args.target_ci is not None:
        from bench.tables import target_ci_notes

        if args.target_ci <= 0:
            raise GenbenchError(f"--target-ci {args.target_ci:g}: the half-width must be positive")
        print("\n" + target_ci_notes(rows, args.target_ci), end="")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from bench.report import build_report

    out = Path(args.out) if args.out else Path(args.runs[0]) / "report"
    path = build_report(args.runs, out)
    print(path)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.compare import compare_markdown, compare_runs

    if args.bootstrap < 10 or not 0 < args.alpha < 1:
        raise GenbenchError("--bootstrap must be >= 10 and --alpha in (0, 1)")
    pairs = [m.split("=", 1) for m in args.map]
    if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
        raise GenbenchError(f"--map takes OLD=NEW (a model of RUN_A = a model of RUN_B), got {args.map}")
    result = compare_runs(args.run_a, args.run_b, n_boot=args.bootstrap, alpha=args.alpha,
                          model_map=dict(pairs))  # type: ignore[arg-type]
    print(compare_markdown(result, args.run_a, args.run_b), end="")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from bench.check import evaluate, exit_code, load_baseline, write_reports
    from bench.results import RunDir
    from bench.suite import load_suite

    loaded = load_suite(args.suite)
    baseline = load_baseline(args.baseline)  # bad baseline: exit 2 before spending time on a run
    if loaded.suite.check is None or not loaded.suite.check.metrics:
        raise GenbenchError(f"{loaded.path}: has no 'check:' section with metric rules; nothing to gate")
    if args.run:
        from bench.results import open_runs

        runs = open_runs(args.run)
        if len(runs) != 1:
            raise GenbenchError(f"{' '.join(args.run)}: {len(runs)} runs; check takes one run (or the shards of one)")
        run = runs[0]
        if run.missing:
            raise GenbenchError(f"{run.label}: {run.missing_shards} not given; a gate needs every pair of the suite")
        if run.partial:
            raise GenbenchError(f"{run.partial[0]}: partial results are not gated; complete it with "
                                f"genbench run --resume {run.paths[0]}")
        rows, out_dir = run.row_dicts(), run.path
    else:
        from bench.features import FeatureStore
        from bench.plan import check_suite
        from bench.runner import Runner

        plan = check_suite(loaded, device=args.device)
        from bench.check import precheck

        precheck(plan, baseline)  # a changed n, backbone or weights: refused before the run, naming the field
        new_rd = RunDir(Path(args.out) / loaded.suite.name / RunDir.new_id(loaded.suite.spec_hash())) if args.out else None
        outcome = Runner(plan, run_dir=new_rd, store=FeatureStore("default", progress=not args.quiet),
                         progress=not args.quiet, log=run_log(args.quiet)).run()
        rd = outcome.run_dir
        if not is_main():  # rank 0 checks the run and writes the reports
            return EXIT_BAD_INPUT if outcome.errors else EXIT_OK
        if outcome.errors:  # each printed as it happened
            raise GenbenchError(f"run {rd.path} had {len(outcome.errors)} error(s), reported above; not checked")
        rows, out_dir = rd.row_dicts(), rd.path
    verdicts = evaluate(rows, baseline, loaded.suite.check, where=loaded.where)
    junit = Path(args.junit) if args.junit else out_dir / "check.xml"
    summary = Path(args.summary) if args.summary else out_dir / "check.md"
    md = write_reports(verdicts, loaded.suite.name, junit, summary)
    print(f"# run {' '.join(args.run) if args.run else out_dir} vs baseline {args.baseline}\n")
    print(md)  # the verdict is the result, printed with --quiet too (which silences progress only)
    for v in verdicts:  # what decided the exit code, on stderr too (CI logs show it without the table)
        if not v.ok or v.noisy:
            print(f"genbench: {'FAIL' if not v.ok else 'noisy, not gated'}: {v.task}/{v.model}/{v.metric}: "
                  f"{v.value:.4g} vs baseline {v.baseline:.4g}: {v.message}" if v.value is not None and v.baseline is
                  not None else f"genbench: FAIL: {v.task}/{v.model}/{v.metric}: {v.message}", file=sys.stderr)
    code = exit_code(verdicts)
    print(f"genbench check: {'passed' if code == 0 else 'FAILED'} ({sum(not v.ok for v in verdicts)} failing, "
          f"{sum(v.noisy for v in verdicts)} too noisy to gate); JUnit: {junit}; summary: {summary}")
    return code


def cmd_baseline(args: argparse.Namespace) -> int:
    from bench.check import BASELINE_DIR, save_baseline

    path = save_baseline(args.run, args.name, args.dir or BASELINE_DIR)
    print(path)
    from bench.check import load_baseline, noisy_rows

    for line in noisy_rows(load_baseline(path)):
        print(f"genbench: warning: baseline value {line}; marked, and check will not gate on it (save the baseline "
              "from a run on a quiet machine to gate it)", file=sys.stderr)
    return EXIT_OK
