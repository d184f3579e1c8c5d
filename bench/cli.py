"""The ``genbench`` command line.

Every user-caused problem exits with code 2 and one clear message per problem (no traceback); a regression
found by ``check`` exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.errors import EXIT_BAD_INPUT, EXIT_OK, GenbenchError

EXAMPLES = """examples:
  genbench run suites/quickstart.yaml           run a suite, print the comparison table
  genbench run suites/quickstart.yaml --resume results/quickstart/<run-id>
  genbench validate suites/quickstart.yaml      check a suite without running it
  genbench table results/quickstart/<run-id>    print a run's table again
  genbench ls metrics                           list adapters, metrics, backbones, suites
  genbench weights list                         third-party weights: URL, sha256, where they go
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genbench", description="Evaluate and benchmark generative vision models.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"genbench {__import__('bench').__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run a suite and write results/<suite>/<run-id>/")
    r.add_argument("suite")
    r.add_argument("--out", help="results folder (default: the suite's output.dir, 'results')")
    r.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run in RUN_DIR")
    r.add_argument("--no-cache", action="store_true", help="do not read or write the on-disk feature cache")
    r.add_argument("--quiet", action="store_true", help="no progress bars")

    v = sub.add_parser("validate", help="check a suite: fields, names, adapter × metric compatibility, weights")
    v.add_argument("suite")

    t = sub.add_parser("table", help="print the comparison table of one or more runs")
    t.add_argument("runs", nargs="+")
    t.add_argument("--format", choices=["markdown", "csv"], default="markdown")

    w = sub.add_parser("weights", help="third-party weights files: list, path, fetch (verified download), verify")
    wsub = w.add_subparsers(dest="weights_command", required=True)
    wsub.add_parser("list", help="every known file: name, size, sha256, backbones, URL, cache path, library paths")
    for name, hlp in (("path", "print the cache path where a file is expected"),
                      ("fetch", "download into the cache with progress and sha256 check"),
                      ("verify", "re-hash cached files against the published sha256")):
        sp = wsub.add_parser(name, help=hlp)
        sp.add_argument("names", nargs="*" if name != "path" else "+", help="weights names (default: all)")

    ls = sub.add_parser("ls", help="list what genbench knows")
    ls.add_argument("what", choices=["adapters", "metrics", "backbones", "suites"])
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from bench.features import FeatureStore
    from bench.plan import check_suite
    from bench.results import RunDir
    from bench.runner import Runner
    from bench.suite import load_suite

    loaded = load_suite(args.suite)
    plan = check_suite(loaded)
    run_dir = None
    if args.resume:
        run_dir = RunDir(args.resume)
        if not run_dir.path.is_dir():
            raise GenbenchError(f"{run_dir.path}: no such run folder to resume")
    elif args.out:
        run_dir = RunDir(Path(args.out) / loaded.suite.name / RunDir.new_id(loaded.suite.spec_hash()))
    store = FeatureStore(None if args.no_cache else "default", progress=not args.quiet)
    outcome = Runner(plan, run_dir=run_dir, store=store, progress=not args.quiet).run(resume=bool(args.resume))
    print(f"# {loaded.suite.name} — {outcome.run_dir.path}\n")
    print(outcome.markdown)
    if outcome.errors:
        print(f"genbench: {len(outcome.errors)} error(s); results computed so far are kept in {outcome.run_dir.path}",
              file=sys.stderr)
        for e in outcome.errors:
            print(f"genbench: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from bench.plan import check_suite
    from bench.suite import load_suite

    loaded = load_suite(args.suite)
    plan = check_suite(loaded)
    s = loaded.suite
    print(f"{loaded.path}: ok — {len(s.models)} models, {len(s.datasets)} datasets, {len(plan.tasks)} tasks "
          f"({', '.join(f'{t.name}: {len(t.models)} models x {len(t.metrics)} metrics, n={t.n}' for t in plan.tasks)})")
    return EXIT_OK


def cmd_table(args: argparse.Namespace) -> int:
    from bench.results import RunDir
    from bench.tables import to_csv, to_markdown

    rows = []
    for r in args.runs:
        rd = RunDir(r)
        if not rd.rows_file.exists():
            raise GenbenchError(f"{rd.path}: not a run folder (no rows.jsonl)")
        rows.extend(rd.rows())
    print(to_markdown(rows) if args.format == "markdown" else to_csv(rows), end="")
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    if args.what == "adapters":
        from bench.adapters import ADAPTERS

        for n in ADAPTERS.names():
            cls = ADAPTERS.get(n)
            doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
            print(f"{n:16s} {cls.kind:16s} {doc}")
    elif args.what == "metrics":
        from bench.metrics import METRICS

        for n in METRICS.names():
            cls = METRICS.get(n)
            outs = ", ".join(f"{k} {'↑' if v.higher_is_better else '↓'}" for k, v in cls.outputs.items())
            print(f"{n:8s} [{outs}] {cls.description}")
    elif args.what == "backbones":
        from bench.backbones import BACKBONES

        for n in BACKBONES.names():
            cls = BACKBONES.get(n)
            print(f"{n:16s} layers: {', '.join(cls.layers)}  {(cls.__doc__ or '').strip().splitlines()[0] if cls.__doc__ else ''}")
    elif args.what == "suites":
        for p in sorted(Path("suites").glob("*.yaml")):
            print(p)
    return EXIT_OK


def cmd_weights(args: argparse.Namespace) -> int:
    from bench import weights as W

    files = W.manifest()
    names = getattr(args, "names", None) or list(files)
    specs = [W.get_weights_file(n) for n in names]
    if args.weights_command == "list":
        for s in specs:
            size = f"{s.size:,} B" if s.size else "size unknown"
            state = "present" if s.cache_path().is_file() else "missing"
            print(f"{s.name}  [{state}]  {size}  sha256 {s.sha256 or '(not pinned)'}")
            print(f"    backbones: {', '.join(s.backbones)}")
            print(f"    url:       {s.url}")
            print(f"    cache:     {s.cache_path()}")
            for lp in s.library_paths:
                print(f"    library:   {lp}")
    elif args.weights_command == "path":
        for s in specs:
            print(s.cache_path())
    elif args.weights_command == "fetch":
        for s in specs:
            if s.cache_path().is_file():
                ok, msg = W.verify(s)
                print(msg)
                if not ok:
                    return EXIT_BAD_INPUT
                continue
            print(f"{s.name}: {W.fetch(s)}")
    elif args.weights_command == "verify":
        bad = 0
        for s in specs:
            ok, msg = W.verify(s)
            print(msg)
            bad += not ok
        return EXIT_BAD_INPUT if bad else EXIT_OK
    return EXIT_OK


COMMANDS = {"weights": cmd_weights, "run": cmd_run, "validate": cmd_validate, "table": cmd_table, "ls": cmd_ls}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GenbenchError as exc:
        for line in str(exc).splitlines():
            print(f"genbench: error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("genbench: interrupted; completed results are kept (resume with --resume RUN_DIR)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
