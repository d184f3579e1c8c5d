"""The ``genbench`` command line.

Every user-caused problem exits with code 2 and one clear message per problem (no traceback); a regression
found by ``check`` exits with 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bench._openmp  # noqa: F401  (first, before torch: OMP_WAIT_POLICY=PASSIVE for the CLI, see its docstring)
from bench.distributed import is_main
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

SCORE_OUT_HELP = "keep the run folder under OUT (default: none is kept; the numbers are printed, features cached)"

SCORE_CAPTIONS_EPILOG = """example:
  genbench score captions --gt captions_val2014.json --res my_results.json --json --per-image scores.json

Numbers equal pycocoevalcap 1.2's (COCOEvalCap): PTB tokenisation, BLEU-1..4 (closest ref length),
METEOR 1.5, ROUGE-L, CIDEr-D (idf from the evaluated images only: warns under 100 images), SPICE when its
CoreNLP jars are installed. Images scored: those in the results file. A metric that cannot run (no Java, no
SPICE jars) is reported unavailable with the reason; the others still run.

--json prints one object; its shape is stable:
  {"n_images": 5000,
   "metrics": {"BLEU-1": {"value": 0.71, "available": true, "reason": null}, "BLEU-2": ..., "BLEU-3": ...,
               "BLEU-4": ..., "METEOR": ..., "ROUGE-L": ..., "CIDEr-D": ...,
               "SPICE": {"value": null, "available": false, "reason": "SPICE needs Stanford CoreNLP ..."}},
   "warnings": ["..."]}
  Keys of "metrics" are always all eight names, in this order; with --images DIR two more follow,
  "CLIP-S" and "RefCLIP-S" (value, ci_low, ci_high, extras: scorer, prefix, w), and "clip_protocol" is added.

--per-image FILE writes (atomically) a JSON list, one object per image in annotation order:
  [{"image_id": 1, "BLEU-1": ..., ..., "CIDEr-D": ...}, ...]   (available metrics only)

exit codes: 0 ok; 2 bad input (invalid JSON, missing keys, unknown or duplicate image ids, empty captions)
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
    r.add_argument("--report", action="store_true", help="also write the HTML leaderboard to RUN_DIR/report/index.html")
    r.add_argument("--device", help=DEVICE_HELP)
    r.add_argument("--shard", metavar="I/N", type=_shard, help="compute only shard I of N (0 <= I < N) of the suite's "
                   "(task, model) pairs, dealt round-robin: one job of a job array (Slurm --array=0-3: --shard "
                   "$SLURM_ARRAY_TASK_ID/4); table/report/compare/check read the N run folders together as one run")
    r.add_argument("--dry-run", action="store_true", help="print the weights files and datasets a run would download "
                   "(URL, target path, sha256) and the local files it would read; run nothing")

    v = sub.add_parser("validate", help="check a suite: fields, names, adapter × metric compatibility, weights")
    v.add_argument("suite")
    v.add_argument("--no-weights", action="store_true", help="do not require weights files to be present (a run would "
                   "download them; see `genbench run --dry-run`)")

    t = sub.add_parser("table", help="print the comparison table of one or more runs")
    t.add_argument("runs", nargs="+")
    t.add_argument("--format", choices=["markdown", "csv", "latex", "html"], default="markdown")
    t.add_argument("--target-ci", type=float, metavar="H", help="also print, per row with a bootstrap interval, the "
                   "number of samples at which its half-width would reach H (e.g. 0.5 FID)")

    rp = sub.add_parser("report", help="build a static, self-contained HTML leaderboard from one or more runs")
    rp.add_argument("runs", nargs="+")
    rp.add_argument("--out", help="output folder (default: RUN/report for the first run)")

    c = sub.add_parser("compare", help="per-metric deltas between two runs, with significance")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--bootstrap", type=int, default=200, help="bootstrap replicates for set-level metrics")
    c.add_argument("--alpha", type=float, default=0.05)
    c.add_argument("--map", action="append", default=[], metavar="OLD=NEW", help="compare model OLD of RUN_A with "
                   "model NEW of RUN_B (a renamed or retrained model); repeatable")

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

    b = sub.add_parser("baseline", help="manage CI baselines")
    bsub = b.add_subparsers(dest="baseline_command", required=True)
    bs = bsub.add_parser("save", help="write results/baselines/NAME.json from a run")
    bs.add_argument("run")
    bs.add_argument("name")
    bs.add_argument("--dir", default=None, help="baselines folder (default: results/baselines)")

    _add_score(sub)
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
    return p


DEVICE_HELP = "where backbones and models compute: auto (CUDA when available), cpu, cuda, cuda:N (default: the suite's runtime.device, else auto)"


def _add_score(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``genbench score <kind>``: score outputs made elsewhere. Each kind is one sub-command with a ``func``;
    add ``score images`` / ``score pairs`` here the same way."""
    score = sub.add_parser("score", help="one-shot scoring of outputs made elsewhere: images, translations, captions, retrieval embeddings")
    kinds = score.add_subparsers(dest="score_kind", required=True)
    c = kinds.add_parser("captions", help="COCO caption metrics, equal to pycocoevalcap's",
                         epilog=SCORE_CAPTIONS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--gt", required=True, metavar="ANNOTATIONS.json",
                   help='COCO annotations: {"images": [{"id"}], "annotations": [{"image_id", "caption"}]}')
    c.add_argument("--res", required=True, metavar="RESULTS.json",
                   help='COCO results: [{"image_id", "caption"}], one per image')
    c.add_argument("--json", action="store_true", help="print one JSON object (shape below) instead of a table")
    c.add_argument("--per-image", metavar="FILE", help="write per-image scores to FILE (JSON list)")
    c.add_argument("--no-meteor", action="store_true", help="skip METEOR (its JVM start-up dominates the time)")
    c.add_argument("--no-spice", action="store_true", help="skip SPICE")
    c.add_argument("--images", metavar="DIR", help="the annotations' image folder (their file_name): adds CLIPScore "
                   "and RefCLIPScore (Hessel et al.) with --backbone")
    c.add_argument("--backbone", default="clip-vit-b32", help="CLIP scorer for --images (default clip-vit-b32, OpenAI "
                   "ViT-B/32, the published protocol; shapes-clip is the offline stand-in for shapes images only)")
    c.add_argument("--weights", help="explicit weights file for --backbone")
    c.add_argument("--device", help=DEVICE_HELP)
    c.set_defaults(func=cmd_score_captions)

    si = kinds.add_parser(
        "images", help="FID/KID/IS/PR between two image sets",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""example:
  genbench score images samples/ real/ --fid --kid --json

A and B are folders of images or .npz/.npy files (uint8 NHWC or NCHW), or statistics: an .npz with mu and
sigma (clean-fid, pytorch-fid, `genbench ref build`), a torch-fidelity .pt, or a named reference
(`genbench ref list`). With statistics only FID is possible, under the protocol the statistics record (a
contradicting --backbone/--protocol is refused, exit 2). A is scored against B (B is "real").
Without metric flags, FID is computed. --json prints one object:
  {"input1", "input2", "n", "n_ref", "protocol_id", "protocol": {...},
   "metrics": {NAME: {"value", "higher_is_better", "ci_low", "ci_high", "extras"}}, "run_dir"}
where NAME is fid, sfid, kid, isc, precision, recall, f_score, and run_dir is the kept run folder (null without
--out). Without metric flags: FID, or the protocol's own report (--protocol adm: isc, fid, sfid, precision,
recall as OpenAI's guided-diffusion evaluator prints them, for ADM .npz batches whose stored mu/sigma/mu_s/sigma_s
are used for FID/sFID).""")
    si.add_argument("input1", help="generated samples: folder or .npz")
    si.add_argument("input2", help="reference samples: folder or .npz")
    from bench.score import IMAGE_METRICS

    for metric, what in IMAGE_METRICS.items():
        si.add_argument(f"--{metric.replace('_', '-')}", action="store_true", help=what)
    si.add_argument("--backbone", default=None, help="feature network (genbench ls backbones; default: the "
                    "protocol's, inception-v3-compat for tf-compat, or the one statistics record)")
    si.add_argument("--protocol", default=None, help="protocol preset (default tf-compat, the field's standard; clean, "
                    "digits for 8x8 grey digits offline, ...; genbench ls protocols)")
    si.add_argument("--weights", help="explicit weights file for the backbone")
    si.add_argument("--range", help="value range of float .npz/.npy arrays (either side): --range=-1,1 or --range=0,1")
    si.add_argument("--n", type=int, help="use the first N samples of A (default: all)")
    si.add_argument("--seed", type=int, default=0)
    si.add_argument("--out", help=SCORE_OUT_HELP)
    si.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    si.add_argument("--no-cache", action="store_true")
    si.add_argument("--device", help=DEVICE_HELP)
    si.add_argument("--fast", action="store_true", help="inference: fast (Inception backbones: BatchNorm folded, "
                    "channels_last; ~1.7x on CPU, features equal to ~1e-6 relative, cached apart from exact ones)")
    si.set_defaults(func=cmd_score_images)

    sp = kinds.add_parser(
        "pairs", help="paired translation metrics (L1, PSNR, SSIM, LPIPS) of outputs vs same-named ground truth",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""example:
  genbench score pairs translated/ ground_truth/ --l1 --ssim --json

OUT and GT are folders of images paired by relative file name (extension ignored: 0001.png pairs with
0001.jpg); a name on one side only is an error listing the names. Without metric flags all four are computed.
LPIPS is the lpips package's AlexNet LPIPS when torchvision's AlexNet weights are in the torch hub cache, else
the digits-feature distance reported as "perceptual_digits" (--net picks explicitly). Same code and numbers as
a suite's translation task. --json prints one object:
  {"outputs", "ground_truth", "n", "metrics": {NAME: {"value", "higher_is_better", "ci_low", "ci_high", "extras"}},
   "per_image": [{"name", NAME: value, ...}], "run_dir"}
where NAME is l1, psnr, ssim, and lpips or perceptual_digits. ci_*: mean ± 1.96 standard errors. run_dir is the
kept run folder (null without --out).""")
    sp.add_argument("outputs", metavar="OUT", help="folder of translated images")
    sp.add_argument("truth", metavar="GT", help="folder of ground-truth images with the same names")
    for flag, what in (("l1", "mean absolute error, [0, 1] scale"), ("psnr", "PSNR (dB, data range 255)"),
                       ("ssim", "SSIM (torchmetrics conventions)"), ("lpips", "perceptual distance (see below)")):
        sp.add_argument(f"--{flag}", action="store_true", help=what)
    sp.add_argument("--ms-ssim", action="store_true", help="also MS-SSIM (images of at least 176x176; else reported n/a)")
    sp.add_argument("--net", choices=["auto", "lpips", "digits"], default="auto", help="perceptual network for --lpips")
    sp.add_argument("--out", help=SCORE_OUT_HELP)
    sp.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    sp.add_argument("--no-cache", action="store_true")
    sp.add_argument("--device", help=DEVICE_HELP)
    sp.set_defaults(func=cmd_score_pairs)

    sc = kinds.add_parser(
        "cycle", help="cycle-consistency: L1 and perceptual distance between inputs and their reconstructions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""example:
  genbench score cycle photos/ photos_reconstructed/ --json

A holds the inputs x, RECONSTRUCTED_A their reconstructions F(G(x)), paired by file name as in `score pairs`.
Values: cycle_l1_aba and cycle_lpips_aba (or cycle_perceptual_digits_aba); --json has the `score pairs` shape
with "inputs" and "reconstructed" in place of "outputs" and "ground_truth".""")
    sc.add_argument("inputs", metavar="A", help="folder of inputs x")
    sc.add_argument("reconstructed", metavar="RECONSTRUCTED_A", help="folder of reconstructions F(G(x)), same names")
    sc.add_argument("--net", choices=["auto", "lpips", "digits"], default="auto", help="perceptual network")
    sc.add_argument("--out", help=SCORE_OUT_HELP)
    sc.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    sc.add_argument("--no-cache", action="store_true")
    sc.add_argument("--device", help=DEVICE_HELP)
    sc.set_defaults(func=cmd_score_cycle)
    sr = kinds.add_parser(
        "retrieval", help="text↔image recall@K, RSUM and ranks from precomputed embeddings",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""example:
  genbench score retrieval --images img.npy --texts txt.npy --pairs pairs.json --json

PAIRS.json gives the image of every text, in text order: either a list of image indices
  [0, 0, 0, 0, 0, 1, 1, ...]   or a list of [text, image] pairs covering every text once.
Every image needs at least one text (5 per image in COCO/Flickr30k). Same code as the retrieval task
(bench.metrics.retrieval): cosine in float32, ties counted against the query, image→text uses the best-ranked
of the image's captions. --json prints one object:
  {"n_images", "n_texts", "metrics": {"t2i_r1", "t2i_r5", "t2i_r10", "t2i_medr", "t2i_meanr",
   "i2t_r1", "i2t_r5", "i2t_r10", "i2t_medr", "i2t_meanr", "rsum"}, "conventions": {...}}
exit codes: 0 ok; 2 bad input (missing files, wrong shapes, NaN, bad pairs)""")
    sr.add_argument("--images", required=True, metavar="IMG.npy", help="image embeddings [N_images, D]")
    sr.add_argument("--texts", required=True, metavar="TXT.npy", help="text embeddings [N_texts, D]")
    sr.add_argument("--pairs", required=True, metavar="PAIRS.json", help="the image index of each text")
    sr.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    sr.add_argument("--per-query", metavar="FILE", help="write the 1-based rank of every text and image query (JSON)")
    sr.set_defaults(func=cmd_score_retrieval)
    from bench.score_t2i import add_score_t2i

    add_score_t2i(kinds)  # score t2i: text-to-image scorers on a folder + prompts (bench/score_t2i.py)


def cmd_score_captions(args: argparse.Namespace) -> int:
    """``genbench score captions``: corpus scores to stdout (table or ``--json``), per-image scores to a file.

    The ``--json`` shape is a public interface (scripts and CI parse it): ``{"n_images": int, "metrics": {name:
    {"value": float | null, "available": bool, "reason": str | null}}, "warnings": [str]}`` with all eight metric
    names always present; see ``SCORE_CAPTIONS_EPILOG``.
    """
    import json
    import warnings

    from bench.results import atomic_write_text
    from bench.text.caption_scores import CaptionMetricWarning, score_captions
    from bench.text.coco_files import load_annotations, load_results

    refs = load_annotations(args.gt)
    hyps = load_results(args.res, refs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptionMetricWarning)  # reported below, once
        from bench.progress import announce

        with announce(f"scoring {len(hyps)} captions (BLEU, METEOR, ROUGE-L, CIDEr-D, SPICE)", enabled=not args.json):
            result = score_captions(refs, hyps, meteor=not args.no_meteor, spice=not args.no_spice)
    clip: dict[str, Any] = {"metrics": {}}
    if args.images:  # CLIPScore / RefCLIPScore on the same images, ids as in the files
        from bench.score import score_caption_images

        clip = score_caption_images(args.gt, args.res, args.images, backbone=args.backbone, weights=args.weights,
                                    progress=not args.json, device=args.device)
    if args.per_image:
        rows = [{"image_id": i, **result.per_image[i]} for i in result.image_ids]
        atomic_write_text(args.per_image, json.dumps(rows, indent=1) + "\n")
    if args.json:
        out = result.to_json()
        if args.images:
            out["metrics"].update(clip["metrics"])
            out["clip_protocol"] = clip["protocol"]
        print(json.dumps(out))
    else:
        print(f"{result.n_images} images")
        for name, m in result.metrics.items():
            print(f"{name:8s} {m.value:.6f}" if m.available else f"{name:8s} unavailable: {m.reason}")
        for name, row in clip["metrics"].items():
            print(f"{name:9s} {row['value']:.6f}  (scorer: {row['extras'].get('scorer')})")
    for w in result.warnings:
        print(f"genbench: warning: {w}", file=sys.stderr)
    return EXIT_OK


def _shard(text: str) -> tuple[int, int]:
    """``I/N`` → (I, N), 0 <= I < N (argparse reports a bad value as one usage line)."""
    i, sep, n = text.partition("/")
    if not sep or not i.strip().isdigit() or not n.strip().isdigit() or not 0 <= int(i) < int(n):
        raise argparse.ArgumentTypeError(f"'{text}': expected I/N with 0 <= I < N, e.g. 0/4 (the first of 4 shards)")
    return int(i), int(n)


def cmd_selftest(args: argparse.Namespace) -> int:
    from bench.selftest import cmd_selftest as run

    return run(args)


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
    outcome = Runner(plan, run_dir=run_dir, store=store, progress=not args.quiet, log=_run_log(args.quiet),
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


def _run_log(quiet: bool) -> Any:
    """The run's log to stderr; with --quiet without the per-model result lines (``[task] model: fid=...``, all in
    the table printed at the end): a quiet run prints its table, warnings, errors and what resume skipped."""
    import re

    def log(msg: str) -> None:
        if quiet and re.match(r"\[[^\]]+\] .+?: [\w@.\-]+=", msg):
            return
        print(f"genbench: {msg}" if msg.startswith(("error:", "warning:")) else msg, file=sys.stderr)
    return log


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
        shipped = Path(__file__).resolve().parent.parent / "suites"
        seen: set[Path] = set()
        for folder in (Path("suites"), shipped):
            for p in sorted(folder.glob("*.yaml")):
                if p.resolve() not in seen:
                    seen.add(p.resolve())
                    print(p)
        if not seen:
            print(f"no suites in ./suites or {shipped} (write one: README 'Concepts'; `genbench validate` checks it)")
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


def cmd_score_images(args: argparse.Namespace) -> int:
    import json

    from bench.score import IMAGE_METRICS, score_images

    metrics = [m for m in IMAGE_METRICS if getattr(args, m)] or None  # None: the protocol's own report
    res = score_images(args.input1, args.input2, metrics, backbone=args.backbone, weights=args.weights, n=args.n,
                       out=args.out, seed=args.seed, progress=not args.json, cache=not args.no_cache, protocol=args.protocol,
                       inference="fast" if args.fast else "exact", device=args.device, value_range=args.range)
    if args.json:
        print(json.dumps(res, indent=2, sort_keys=True))
    else:
        print(f"{args.input1} vs {args.input2}: n={res['n']}, n_ref={res['n_ref']}, backbone {res['protocol']['backbone']} "
              f"(weights {str(res['protocol']['weights_sha256'])[:12]}), protocol {res['protocol_id']}")
        for name, m in res["metrics"].items():
            std = m["extras"].get("std")
            print(f"  {name:10s} {'↑' if m['higher_is_better'] else '↓'} {m['value']:.6g}" + (f" ± {std:.3g}" if std is not None else ""))
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
                         progress=not args.quiet, log=_run_log(args.quiet)).run()
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


def _print_translation_scores(res: dict[str, object], header: str, as_json: bool) -> None:
    import json

    if as_json:
        print(json.dumps(res, indent=2, sort_keys=True))
        return
    print(f"{header}: n={res['n']}")
    for name, m in res["metrics"].items():  # type: ignore[attr-defined]
        if m["value"] is None:
            print(f"  {name:28s} n/a ({m['extras'].get('reason', '')})")
        else:
            ci = f"  [{m['ci_low']:.4g}, {m['ci_high']:.4g}]" if m["ci_low"] is not None else ""
            print(f"  {name:28s} {'↑' if m['higher_is_better'] else '↓'} {m['value']:.6g}{ci}")


def cmd_score_pairs(args: argparse.Namespace) -> int:
    from bench.score import PAIR_METRICS, score_pairs

    metrics = [m for m in PAIR_METRICS if getattr(args, m)] or list(PAIR_METRICS)
    if args.ms_ssim:
        metrics.append("ms_ssim")
    res = score_pairs(args.outputs, args.truth, metrics, net=args.net, out=args.out, progress=not args.json,
                      cache=not args.no_cache, device=args.device)
    _print_translation_scores(res, f"{args.outputs} vs {args.truth}", args.json)
    return EXIT_OK


def cmd_score_cycle(args: argparse.Namespace) -> int:
    from bench.score import score_cycle

    res = score_cycle(args.inputs, args.reconstructed, net=args.net, out=args.out, progress=not args.json,
                      cache=not args.no_cache, device=getattr(args, "device", None))
    _print_translation_scores(res, f"{args.reconstructed} vs {args.inputs}", args.json)
    return EXIT_OK



def cmd_score_retrieval(args: argparse.Namespace) -> int:
    """``genbench score retrieval``: the retrieval task's metric on embeddings made elsewhere."""
    import json

    from bench.results import atomic_write_text
    from bench.score import score_retrieval

    res = score_retrieval(args.images, args.texts, args.pairs)
    per_query = res.pop("per_query")
    if args.per_query:
        atomic_write_text(args.per_query, json.dumps(per_query) + "\n")
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['n_images']} images, {res['n_texts']} texts")
        for k, v in res["metrics"].items():
            print(f"  {k:10s} {v:.4f}")
    return EXIT_OK


COMMANDS = {"ref": cmd_ref, "weights": cmd_weights, "run": cmd_run, "validate": cmd_validate, "table": cmd_table, "ls": cmd_ls, "report": cmd_report,
            "compare": cmd_compare, "check": cmd_check, "baseline": cmd_baseline}


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # type: ignore[no-untyped-def]
    """genbench's own warnings as ``genbench: warning: ...``; another package's (torch's deprecations, a user's
    model) named as theirs, with the file they come from, so nobody reports torch's notice as genbench's."""
    root = Path(__file__).resolve().parent.parent
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

    from bench import distributed

    warnings.formatwarning = _one_line_warning
    args = _parser().parse_args(argv)
    try:
        if not _join_ranks(args):
            return EXIT_OK
        return (args.func if hasattr(args, "func") else COMMANDS[args.command])(args)
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


if __name__ == "__main__":
    raise SystemExit(main())
