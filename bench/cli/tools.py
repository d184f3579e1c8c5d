"""``genbench selftest``, ``ref``, ``weights`` and ``ls``: the machine, reference statistics, weights files and what genbench knows."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.errors import EXIT_BAD_INPUT, EXIT_OK


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``genbench selftest``, ``ref``, ``weights`` and ``ls``."""
    st = sub.add_parser("selftest", help="check that this machine computes a protocol's features as recorded "
                        "(bit for bit / within x / not, naming the first layer that differs)")
    st.add_argument("--protocol", action="append", help="protocol to test (repeatable; default: every protocol with a "
                    "record: the shipped digits one and those recorded here)")
    st.add_argument("--record", action="store_true", help="record the protocol's known answer on this machine (real "
                    "weights required) in $GENBENCH_CACHE/selftest or --records")
    st.add_argument("--weights", help="weights file for the protocol's backbone (default: its usual resolution)")
    st.add_argument("--records", metavar="DIR", help="read and write records in DIR first")
    st.add_argument("--device", help="cpu (default), cuda, cuda:N")
    st.set_defaults(func=cmd_selftest)
    rf = sub.add_parser("ref", help="reference statistics (mu, sigma): build, import a tool's file, export, list")
    rf.set_defaults(func=cmd_ref)
    rsub = rf.add_subparsers(dest="ref_command", required=True)
    rb = rsub.add_parser("build", help="features of a folder under a protocol -> NAME.npz + NAME.json (protocol record)")
    rb.add_argument("name")
    rb.add_argument("--from", dest="source", required=True, metavar="FOLDER", help="folder or .npz of real images")
    rb.add_argument("--protocol", required=True, help="protocol preset (genbench ls protocols)")
    rb.add_argument("--weights", help="explicit weights file for the protocol's backbone")
    rb.add_argument("--out", help="write here instead of $GENBENCH_CACHE/refs/NAME.npz (.pt: torch-fidelity format)")
    rb.add_argument("--quiet", action="store_true")
    ri = rsub.add_parser("import", help="register a clean-fid / pytorch-fid .npz or torch-fidelity .pt under a protocol")
    ri.add_argument("name")
    ri.add_argument("file")
    ri.add_argument("--protocol", required=True, help="the protocol the file was made under (you vouch for it)")
    ri.add_argument("--n", type=int, help="number of images behind the statistics, when known")
    ri.add_argument("--tool", default="", help="provenance note: clean-fid, torch-fidelity, pytorch-fid, ...")
    re_ = rsub.add_parser("export", help="write a named reference in a tool's format (.npz: clean-fid/pytorch-fid, .pt: torch-fidelity)")
    re_.add_argument("name")
    re_.add_argument("out")
    rsub.add_parser("list", help="named references: name, protocol, n, dimension, content hash")
    w = sub.add_parser("weights", help="third-party weights files: list, path, fetch (verified download), verify")
    w.set_defaults(func=cmd_weights)
    wsub = w.add_subparsers(dest="weights_command", required=True)
    wsub.add_parser("list", help="every known file: name, size, sha256, backbones, URL, cache path, library paths")
    for name, hlp in (("path", "print the cache path where a file is expected"),
                      ("fetch", "download into the cache with progress and sha256 check"),
                      ("verify", "re-hash cached files against the published sha256")):
        sp = wsub.add_parser(name, help=hlp)
        sp.add_argument("names", nargs="*" if name != "path" else "+", help="weights names (default: all)")

    ls = sub.add_parser("ls", help="list what genbench knows")
    ls.add_argument("what", choices=["adapters", "metrics", "backbones", "datasets", "suites", "tasks", "protocols"])
    ls.add_argument("name", nargs="?", help="one adapter, metric, backbone, dataset kind or task kind: its whole "
                    "description and every argument (type, default, meaning)")
    ls.set_defaults(func=cmd_ls)


def cmd_selftest(args: argparse.Namespace) -> int:
    from bench.selftest import cmd_selftest as run

    return run(args)


def cmd_ref(args: argparse.Namespace) -> int:
    """``genbench ref``: named, hashed reference statistics with their protocol record (bench.refstats)."""
    from bench import refstats as R

    if args.ref_command == "build":
        fmt = "torch-fidelity" if args.out and args.out.endswith(".pt") else "npz"
        path, ref = R.build_reference(args.name, args.source, args.protocol, weights=args.weights, out=args.out, fmt=fmt,
                                      progress=not args.quiet)
        print(f"{path}  n={ref.n}  protocol {ref.protocol['name']} (backbone {ref.protocol['backbone']}, weights "
              f"{str(ref.protocol['weights_sha256'])[:12]})  sha256 {ref.sha256[:12]}")
    elif args.ref_command == "import":
        path = R.import_reference(args.name, args.file, args.protocol, n=args.n, tool=args.tool)
        print(path)
    elif args.ref_command == "export":
        ref = R.load_reference(args.name)
        fmt = "torch-fidelity" if args.out.endswith(".pt") else "npz"
        R.write_stats_file(args.out, ref.mu, ref.sigma, fmt)
        print(f"{args.out} ({fmt}; protocol {ref.protocol.get('name')}, n={ref.n})")
    elif args.ref_command == "list":
        refs = R.list_references()
        if not refs:
            print(f"no named references in {R.refs_dir()} (genbench ref build NAME --from FOLDER --protocol P)")
        for m in refs:
            p = m.get("protocol", {})
            print(f"{m.get('name')}  protocol {p.get('name')} (backbone {p.get('backbone')}, weights "
                  f"{str(p.get('weights_sha256'))[:12]})  n={m.get('n')}  dim={m.get('dim')}  sha256 "
                  f"{str(m.get('stats_sha256'))[:12]}  {m['path']}")
    return EXIT_OK


def cmd_weights(args: argparse.Namespace) -> int:
    from bench import weights as W
    from bench.weights_catalog import get_weights_file, manifest

    files = manifest()
    names = getattr(args, "names", None) or list(files)
    specs = [get_weights_file(n) for n in names]
    if args.weights_command == "list":
        for s in specs:
            size = f"{s.size:,} B" if s.size else "size unknown"
            found = None if s.cache_path().is_file() else W.library_path(s)  # another tool's verified copy
            state = "present" if s.cache_path().is_file() else f"found ({found[1]}): {found[0]}" if found else "missing"
            sha = s.sha256 or (f"prefix {s.sha256_prefix}" if s.sha256_prefix else "(not pinned)")
            print(f"{s.name}  [{state}]  {size}  sha256 {sha}")
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


def _plugin_tag(registry: Any, name: str) -> str:
    """``  [plugin <distribution>]`` for an entry a third-party package registered, else nothing."""
    origin = registry.origin(name)
    return "" if origin == "genbench" else f"  [{origin}]"


def _first_line(cls: type) -> str:
    """The docstring's first sentence, whole (its first paragraph up to the first full stop), never cut mid-way."""
    import re

    para = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
    m = re.search(r"[.!?](\s|$)", para)
    return para[: m.end()].strip() if m else para


def cmd_ls(args: argparse.Namespace) -> int:
    if getattr(args, "name", None):
        from bench.lsone import describe

        print(describe(args.what, args.name))
        return EXIT_OK
    if args.what == "adapters":
        from bench.adapters import ADAPTERS

        for n in ADAPTERS.names():
            cls = ADAPTERS.get(n)
            print(f"{n:16s} {cls.kind:16s} {_first_line(cls)}{_plugin_tag(ADAPTERS, n)}")
    elif args.what == "metrics":
        from bench.metrics import METRICS

        for n in METRICS.names():
            mcls = METRICS.get(n)
            outs = ", ".join(f"{k} {'↑' if v.higher_is_better else '↓'}" for k, v in mcls.outputs.items())
            print(f"{n:8s} [{outs}] {mcls.description}{_plugin_tag(METRICS, n)}")
            print(f"{'':8s} requires: {', '.join(sorted(mcls.requires))}; layer: {mcls.layer}")
    elif args.what == "backbones":
        from bench.backbones import BACKBONES

        for n in BACKBONES.names():
            bcls = BACKBONES.get(n)
            print(f"{n:16s} layers: {', '.join(bcls.layers)}  {_first_line(bcls)}{_plugin_tag(BACKBONES, n)}")
    elif args.what == "tasks":
        from bench.tasks import TASKS

        for n in TASKS.names():
            tcls = TASKS.get(n)
            print(f"{n:16s} adapters: {', '.join(sorted(tcls.adapter_kinds))}  {_first_line(tcls)}{_plugin_tag(TASKS, n)}")
            print(f"{'':16s} provides: {', '.join(sorted(tcls.provides))}")
    elif args.what == "datasets":
        from bench.data import DATASETS

        for n in DATASETS.names():
            dcls = DATASETS.get(n)
            fields = ", ".join(f"{k}{'' if f.is_required() else '?'}" for k, f in dcls.Args.model_fields.items())
            print(f"{n:16s} args: {fields or '-'}  {_first_line(dcls)}{_plugin_tag(DATASETS, n)}")
    elif args.what == "suites":
        # the working directory's suites/, then the ones shipped beside the installed package (a source checkout)
        shipped = Path(__file__).resolve().parent.parent.parent / "suites"
        seen: set[Path] = set()
        for folder in (Path("suites"), shipped):
            for p in sorted(folder.glob("*.yaml")):
                if p.resolve() not in seen:
                    seen.add(p.resolve())
                    print(p)
        if not seen:
            print(f"no suites in ./suites or {shipped} (write one: docs/concepts.md; `genbench validate` checks it)")
    elif args.what == "protocols":
        # the presets users choose (--protocol / protocol:), each naming the backbone that reproduces a tool's
        # numbers; whether its weights are here is checked without loading or downloading anything
        from bench.backbones import get_backbone
        from bench.protocol import PRESETS

        for name, preset in PRESETS.items():
            b = get_backbone(preset.backbone)
            wf = b.required_weights()
            state = "weights present" if not b.check_weights() else \
                f"weights missing: genbench weights fetch {wf.name if wf is not None else preset.backbone}"
            print(f"{name:15s} backbone {preset.backbone:26s} {preset.anchor}\n{'':15s} {preset.description} [{state}]")
    return EXIT_OK
