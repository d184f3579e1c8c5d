"""``genbench score <kind>``: outputs made elsewhere, scored in process by the functions of bench.score (the CLI parses and prints)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench.cli._common import DEVICE_HELP
from bench.errors import EXIT_OK

#: the metrics `genbench score images` offers as flags (flag name → help)
IMAGE_METRICS: dict[str, str] = {
    "fid": "Fréchet distance", "sfid": "spatial Fréchet distance (--protocol adm)", "kid": "kernel distance",
    "isc": "Inception Score (of A)", "prc": "precision and recall",
    "prc_vgg16": "precision and recall on VGG16 (torch-fidelity's default network)", "cmmd": "CLIP-MMD (--protocol cmmd)",
}

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


def _run_flags(p: argparse.ArgumentParser) -> None:
    """The flags every feature-computing `score` command shares: where a kept run goes, JSON output, the content
    cache and the device."""
    p.add_argument("--out", help=SCORE_OUT_HELP)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--device", help=DEVICE_HELP)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    _run_flags(si)
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
    _run_flags(sp)
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
    _run_flags(sc)
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


def cmd_score_images(args: argparse.Namespace) -> int:
    import json

    from bench.score import score_images

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
