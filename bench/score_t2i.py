"""``genbench score t2i``: score a folder of generated images against their prompts with the text-to-image scorers
(PickScore, HPSv2/2.1, ImageReward, aesthetic, VQAScore, GenEval, ...) without a suite.

Prompts come from a file: ``.txt`` (one prompt a line, matched to the images in sorted file order), ``.json`` (a
list in the same order, or ``{file name: prompt}``), ``.jsonl`` (objects with ``prompt`` and optionally ``file``).
GenEval's own output layout (``NNNNN/metadata.jsonl`` + ``NNNNN/samples/*.png``) needs no prompts file. Every
metric is the same class the suites run, so the numbers are the same; per-image scores go to ``--per-image``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.errors import ConfigError, InputError

DEFAULT_METRICS = ("pickscore",)


def add_score_t2i(kinds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``score t2i`` sub-command (called from bench.cli's ``score`` parser)."""
    p = kinds.add_parser(
        "t2i", help="text-to-image scorers on a folder of images and a prompts file (PickScore, HPSv2.1, ...)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""examples:
  genbench score t2i samples/ --prompts prompts.txt --metric pickscore --metric hpsv21 --json
  genbench score t2i geneval_out/ --metric geneval --per-image verdicts.json
  genbench score t2i samples/ --prompts p.jsonl --metric vqascore --set vqascore.model=llava-hf/llava-1.5-7b-hf

Weights come from local folders/files or the Hugging Face cache (--set METRIC.weights=..., METRIC.model=...);
offline, a missing one is named in one line with what to download. docs/text-to-image.md lists each scorer.
exit codes: 0 ok; 2 bad input (missing files, prompts not matching images, missing weights)""")
    p.add_argument("images", help="folder of generated images (or GenEval's output folder)")
    p.add_argument("--prompts", metavar="FILE", help="prompts: .txt, .json or .jsonl (see below)")
    p.add_argument("--metric", action="append", default=None, metavar="NAME",
                   help=f"a text-to-image metric (repeatable; default: {', '.join(DEFAULT_METRICS)})")
    p.add_argument("--set", action="append", default=[], metavar="METRIC.KEY=VALUE",
                   help="a metric option (value parsed as YAML), e.g. hpsv21.weights=/w/HPS_v2.1_compressed.pt")
    p.add_argument("--batch", type=int, default=64, help="images decoded and scored at a time")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--per-image", metavar="FILE", help="write per-image scores to FILE (JSON)")
    p.set_defaults(func=cmd_score_t2i)


def read_prompts(folder: Path, prompts: str | None) -> tuple[list[Path], list[str]]:
    """The image files and the prompt of each, in file order (one clear line for every mismatch)."""
    from bench.images import list_image_files

    if prompts is None:
        subs = sorted(d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()) if folder.is_dir() else []
        if not subs or not (subs[0] / "metadata.jsonl").is_file():
            raise ConfigError(f"{folder}: give --prompts FILE (or GenEval's layout: NNNNN/metadata.jsonl + samples/)")
        files, texts = [], []
        for d in subs:
            try:
                meta = json.loads((d / "metadata.jsonl").read_text(encoding="utf-8"))
                prompt = meta["prompt"]
            except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
                raise InputError(f"{d / 'metadata.jsonl'}: not GenEval metadata ({exc.__class__.__name__})") from None
            for f in list_image_files(d / "samples"):
                files.append(f)
                texts.append(prompt)
        return files, texts
    files = list_image_files(folder)
    path = Path(prompts)
    if not path.is_file():
        raise InputError(f"{path}: prompts file does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
            if isinstance(data, dict):
                by_name = {str(k): str(v) for k, v in data.items()}
                missing = [f for f in files if f.name not in by_name and str(f.relative_to(folder)) not in by_name]
                if missing:
                    raise InputError(f"{path}: no prompt for image {missing[0]} ({len(missing)} in all)")
                return files, [by_name.get(f.name, by_name.get(str(f.relative_to(folder)), "")) for f in files]
            lines = [str(x) for x in data]
        elif path.suffix == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            if rows and all("file" in r for r in rows):
                by_file = {str(r["file"]): str(r["prompt"]) for r in rows}
                missing = [f for f in files if f.name not in by_file]
                if missing:
                    raise InputError(f"{path}: no prompt for image {missing[0]} ({len(missing)} in all)")
                return files, [by_file[f.name] for f in files]
            lines = [str(r["prompt"]) for r in rows]
        else:
            lines = [line for line in text.splitlines() if line.strip()]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot read prompts ({exc.__class__.__name__}: {exc})") from None
    if len(lines) != len(files):
        raise InputError(f"{path}: {len(lines)} prompts for {len(files)} images in {folder} (matched in sorted "
                         "file order; use a .json {file: prompt} map otherwise)")
    return files, lines


def metric_options(names: list[str], sets: list[str]) -> dict[str, dict[str, Any]]:
    opts: dict[str, dict[str, Any]] = {n: {} for n in names}
    for s in sets:
        key, eq, value = s.partition("=")
        metric, dot, opt = key.partition(".")
        if not eq or not dot or not opt:
            raise ConfigError(f"--set {s!r}: expected METRIC.KEY=VALUE")
        if metric not in opts:
            raise ConfigError(f"--set {s!r}: metric '{metric}' is not among --metric {', '.join(names)}")
        opts[metric][opt] = yaml.safe_load(value)
    return opts


def score_folder(folder: str, prompts: str | None, metrics: list[str], sets: list[str],
                 batch: int = 64) -> dict[str, Any]:
    """Every metric on every image, batch by batch (per-item scores kept, images dropped)."""
    import torch

    from bench.images import load_image_files
    from bench.metrics import METRICS
    from bench.metrics.base import ArtifactSink, Reference, SampleSet

    files, texts = read_prompts(Path(folder), prompts)
    opts = metric_options(metrics, sets)
    out: dict[str, Any] = {"n": len(files), "metrics": {}, "extras": {}, "per_image": {"file": [str(f) for f in files]}}
    for name in metrics:
        cls = METRICS.get(name)
        if not cls.requires or not cls.requires <= {"images", "texts"}:  # images stream or come whole
            raise ConfigError(f"metric '{name}' does not score images against prompts (it needs "
                              f"{', '.join(sorted(cls.requires))}); text-to-image scorers: pickscore, hpsv2, hpsv21, "
                              "imagereward, aesthetic, vqascore, geneval")
        try:
            metric = cls(opts[name])
        except Exception as exc:  # noqa: BLE001 - pydantic's validation error, as one line
            raise ConfigError(f"metric '{name}': bad options ({str(exc).splitlines()[0]})") from None
        if name == "geneval":  # set-level rows (tags): one pass over every image
            chunks = [(0, len(files))]
        else:
            chunks = [(s, min(len(files), s + batch)) for s in range(0, len(files), batch)]
        per: dict[str, list[Any]] = {}
        values: dict[str, Any] = {}
        over: dict[str, list[int]] = {}
        for lo, hi in chunks:
            ims = [load_image_files([f]) for f in files[lo:hi]]
            same = len({tuple(i.shape) for i in ims}) == 1
            groups = [torch.cat(ims)] if same else ims
            starts = [lo] if same else list(range(lo, hi))
            for g, s in zip(groups, starts, strict=True):
                sink = ArtifactSink()
                res = metric.compute(SampleSet(images=g, texts=texts[s: s + g.shape[0]]), Reference(), seed=0,
                                     sink=sink)
                for k, vals in sink.per_sample_values.items():
                    per.setdefault(k, []).extend(vals)
                for mv in res:
                    values[mv.metric] = mv
                    if "prompts_over_context" in mv.extras:  # summed over batches: the whole set's count
                        c = over.setdefault(mv.metric, [0, 0])
                        c[0] += mv.extras["prompts_over_context"]
                        c[1] = max(c[1], mv.extras["longest_prompt_tokens"])
        for k, v in values.items():
            whole = name != "geneval" and k in per and per[k] and isinstance(per[k][0], float)
            out["metrics"][k] = float(np.mean(per[k])) if whole else v.value  # every image's mean, not a batch's
            extras = {x: y for x, y in v.extras.items()}
            if k in over:
                extras.update(prompts_over_context=over[k][0], longest_prompt_tokens=over[k][1],
                              long_prompts=(f"truncated to the encoder's first {extras['context_length']} tokens"
                                            if over[k][0] else "none over the context"))
            out["extras"][k] = extras
        out["per_image"].update(per)
    return out


def cmd_score_t2i(args: argparse.Namespace) -> int:
    res = score_folder(args.images, args.prompts, args.metric or list(DEFAULT_METRICS), args.set, args.batch)
    if args.per_image:
        Path(args.per_image).write_text(json.dumps(res["per_image"]))
    if args.json:
        print(json.dumps({k: v for k, v in res.items() if k != "per_image"}, default=str))
    else:
        print(f"{res['n']} images")
        for k, v in res["metrics"].items():
            e = res["extras"].get(k, {})
            note = f"  ({e['prompts_over_context']} prompts over {e['context_length']} tokens: truncated)" \
                if e.get("prompts_over_context") else ""
            print(f"  {k:<24} {v:.5f}{note}" if isinstance(v, float) else f"  {k:<24} {v}")
    return 0
