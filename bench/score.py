"""One-shot scoring (``genbench score images A B``) on the same engine as suites.

The command builds a one-task suite in memory — A as a data-only model, B as the reference — and runs it through
the same planner, task kinds, feature cache and metrics as ``genbench run``: same protocols, same numbers, same
error messages. No second code path. Without ``--out`` it runs in process (:func:`bench.evaluation.run_plan`: no
run folder, nothing written but the content cache); with ``--out`` the Runner keeps the run folder.
"""

from __future__ import annotations

import json
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.errors import InputError, ProtocolMismatchError, WeightsError
from bench.inputs import input_source
from bench.tasks.base import RunArtifacts
from bench.tasks.context import per_sample_rows

if TYPE_CHECKING:
    from bench.suite import LoadedSuite

#: what ``genbench score images`` computes, one flag each (``--prc-vgg16`` for prc_vgg16), with the flag's help


def _stats_backbone(args: dict[str, Any], backbone: str | None, protocol: str | None) -> str:
    """The backbone a statistics input implies, refusing an explicit --backbone/--protocol that contradicts it."""
    from bench.protocol import get_preset
    from bench.refstats import peek_protocol

    rec = peek_protocol(args["path"], protocol)
    want = get_preset(protocol).backbone if protocol else backbone
    if want is not None and rec.get("backbone") != want:
        raise ProtocolMismatchError(f"{args['path']}: statistics made under protocol '{rec.get('name')}' (backbone "
                                    f"{rec.get('backbone')}) cannot be compared with features of backbone '{want}'")
    return str(rec["backbone"])


@dataclass
class _Done:
    """A one-task run's rows (as ``rows.jsonl`` holds them), failures, per-sample data and kept run folder."""

    rows: list[dict[str, Any]]
    errors: list[str]
    per_sample: dict[tuple[str, str], dict[str, Any]]
    run_path: Path | None = None


def _one_task_run(loaded: LoadedSuite, *, out: str | None, progress: bool, cache: bool,
                  datasets: dict[str, Any] | None = None) -> _Done:
    """Plan and run a one-task suite built in memory.

    Without ``out`` it runs in process (:func:`bench.evaluation.run_plan`): no run folder, no temporary file;
    the command returns (prints) every number and the features stay in the cache. With ``out`` (or under
    torchrun, whose ranks share a run folder) the Runner keeps the run folder under ``out``. ``datasets``:
    objects standing for suite datasets (in process only)."""
    from bench.distributed import current
    from bench.evaluation import run_plan
    from bench.features import FeatureStore
    from bench.plan import check_suite
    from bench.results import RunDir
    from bench.runner import Runner

    plan = check_suite(loaded)
    store = FeatureStore("default" if cache else None, progress=progress)
    if out is None and current() is None:
        done = run_plan(plan, store=store, progress=progress, datasets=datasets)
        return _Done(done.dicts(), done.errors, done.per_sample)
    with ExitStack() as stack:
        base = Path(out) if out else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="genbench-score-")))
        run_dir = RunDir(base / loaded.suite.name / RunDir.new_id(loaded.suite.spec_hash()))
        # no tables in a folder that is removed when the command returns (they cost a pandas import)
        outcome = Runner(plan, run_dir=run_dir, store=store, progress=progress, log=lambda m: None,
                         tables=out is not None).run()
        per_sample = {(t.name, m): json.loads((run_dir.path / RunArtifacts.relative(t.name, m)).read_text("utf-8"))
                      for t in plan.tasks for m in t.models
                      if (run_dir.path / RunArtifacts.relative(t.name, m)).is_file()}
        return _Done(outcome.rows, outcome.errors, per_sample, run_dir.path if out else None)


def _score_two_stats(input1: str, input2: str, args1: dict[str, Any], args2: dict[str, Any], metrics: list[str],
                     protocol: str | None) -> dict[str, Any]:
    """FID between two statistics files: nothing to extract, so no run; the protocols must agree."""
    from bench.metrics.frechet import frechet_distance
    from bench.protocol import protocol_id
    from bench.refstats import compare_protocols, load_reference

    if metrics != ["fid"]:
        raise InputError("two statistics inputs give FID only (KID, IS and precision/recall need features)")
    a, b = load_reference(args1["path"], protocol), load_reference(args2["path"], protocol)
    compare_protocols(b.protocol, a.protocol, f"{input2} vs {input1}")
    res = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    proto = {**a.protocol, "reference": b.id, "n": a.n, "n_ref": b.n}
    return {"input1": input1, "input2": input2, "n": a.n, "n_ref": b.n, "protocol_id": protocol_id(proto), "protocol": proto,
            "metrics": {"fid": {"value": res.value, "higher_is_better": False, "ci_low": None, "ci_high": None,
                                "extras": {"clipped_eigenvalues": res.clipped_eigenvalues, "warnings": list(res.warnings)}}},
            "run_dir": None}


#: what ``score images`` computes when neither --protocol nor --backbone is given
DEFAULT_PROTOCOL = "tf-compat"


def score_images(input1: str, input2: str, metrics: list[str] | None = None, *, backbone: str | None = None,
                 weights: str | None = None,
                 n: int | None = None, out: str | None = None, seed: int = 0, progress: bool = True,
                 cache: bool = True, protocol: str | None = None, inference: str = "exact",
                 device: str | None = None, model: dict[str, Any] | None = None,
                 value_range: str | None = None) -> dict[str, Any]:
    """Score generated samples ``input1`` against reference ``input2``; returns the documented JSON shape.

    Either input may be statistics (a tool's .npz, a torch-fidelity .pt, a named reference): then only FID is
    possible, the backbone is the one the statistics record, and a contradicting --backbone/--protocol is refused.
    FID is symmetric, so statistics as A are scored by running B's images against them (n and n_ref stay A's/B's).
    ``metrics`` None: the protocol's own set (ADM: isc, fid, sfid, prc), else FID.
    """
    from bench.backbones import backbone_class
    from bench.protocol import get_preset
    from bench.suite import LoadedSuite, Suite

    preset = get_preset(protocol) if protocol is not None else None
    if metrics is None:
        metrics = list(preset.score_metrics) if preset is not None else ["fid"]
    stored = preset is not None and bool(getattr(backbone_class(preset.backbone), "stored_statistics", None))
    # ``model``: an adapter spec standing for input1 (bench.api: a generator object); then n is required
    kind1, args1, n1 = (model["adapter"], model["args"], n or 0) if model is not None else input_source(input1)
    kind2, args2, n2 = input_source(input2, stored_statistics=stored)
    if value_range is not None:  # float .npz/.npy arrays on either side: the range their values are in
        for kind, args in ((kind1, args1), (kind2, args2)):
            if kind == "npz":
                args["range"] = value_range
    swapped = False
    if kind1 == "stats" and kind2 == "stats":
        return _score_two_stats(input1, input2, args1, args2, metrics, protocol)
    if kind1 == "stats":
        if n is not None:
            raise InputError("--n selects samples of A; A is statistics here")
        (kind1, args1, n1), (kind2, args2, n2), swapped = (kind2, args2, n2), (kind1, args1, n1), True
    if kind2 == "stats":
        backbone = _stats_backbone(args2, backbone, protocol)
        protocol = None
    elif protocol is not None:
        pb = get_preset(protocol).backbone
        if backbone is not None and backbone != pb:
            raise InputError(f"--backbone {backbone} contradicts --protocol {protocol} (backbone {pb})")
        backbone = pb
    defaulted = backbone is None and protocol is None and kind2 != "stats"
    if defaulted:  # the field's standard (torch-fidelity / the TF FID code), never the 8x8 digits network silently
        protocol = DEFAULT_PROTOCOL
        backbone = get_preset(protocol).backbone
    assert backbone is not None
    n = n or n1
    if n > n1:
        raise InputError(f"{input1}: holds {n1} samples, fewer than --n {n}")
    if n < 2:
        raise InputError(f"{input1}: {n} sample(s); scoring a set needs at least 2")
    if kind2 != "stats" and n2 < 2:  # a one-image reference has no spread: every distance to it is meaningless
        raise InputError(f"{input1 if swapped else input2}: {n2} sample(s); a reference set needs at least 2")
    suite = Suite.model_validate({
        "name": "score-images",
        "seed": seed,
        "datasets": {"input2": {"kind": kind2, **args2}},  # a stats path carries its own protocol
        "models": {"input1": {"adapter": kind1, "args": args1}},
        "tasks": [{"name": "score", "reference": "input2", "n": n, "batch_size": _batch(args1, n) if "path" in args1
                   else min(n, 250),
                   "backbone": backbone, "weights": weights, "inference": inference,
                   **({"protocol": protocol} if protocol is not None else {}),
                   "metrics": {m: {} for m in metrics}}],
        "output": {"grid": 0},
        "runtime": {"device": device or "auto"},
    })
    if defaulted and weights is None:
        from bench.backbones import get_backbone

        missing = get_backbone(backbone).check_weights()
        if missing:
            raise WeightsError(f"{missing[0]}\n(score images uses the field's standard protocol '{DEFAULT_PROTOCOL}' "
                               "when none is given; offline, --protocol digits scores 8x8 grey digits)")
    outcome = _one_task_run(LoadedSuite(suite, Path.cwd() / "<genbench score images>", {}), out=out,
                            progress=progress, cache=cache)
    if outcome.errors:
        raise InputError("; ".join(outcome.errors))
    rows = outcome.rows
    first = rows[0]
    n_out, n_ref_out = first["n"], first["protocol"]["n_ref"]
    if swapped:
        n_out, n_ref_out = n_ref_out, n_out
    return {
        "input1": input1,
        "input2": input2,
        "n": n_out,
        "n_ref": n_ref_out,
        "protocol_id": first["protocol_id"],
        "protocol": first["protocol"],
        "metrics": {r["metric"]: {"value": r["value"], "higher_is_better": r["higher_is_better"],
                                  "ci_low": r["ci_low"], "ci_high": r["ci_high"], "extras": r["extras"]} for r in rows},
        "run_dir": str(outcome.run_path) if outcome.run_path else None,
    }


# ----------------------------------------------------------------------------------------- translation


PAIR_METRICS = ("l1", "psnr", "ssim", "lpips")


def _run_translation_suite(name: str, dataset: dict[str, Any], model: dict[str, Any], metrics: dict[str, Any],
                           *, out: str | None, progress: bool, cache: bool, device: str | None = None) -> dict[str, Any]:
    """One translation task built in memory and run by the same planner, runner and metrics as a suite."""
    from bench.suite import LoadedSuite, Suite

    suite = Suite.model_validate({
        "name": name, "seed": 0,
        "datasets": {"gt": dataset},
        "models": {"outputs": model},
        "tasks": [{"name": "score", "kind": "translation", "reference": "gt", "batch_size": 1000,
                   "backbone": "digits", "metrics": metrics}],
        "output": {"grid": 0},
        "runtime": {"device": device or "auto"},
    })
    outcome = _one_task_run(LoadedSuite(suite, Path.cwd() / f"<genbench {name}>", {}), out=out, progress=progress,
                            cache=cache)
    if outcome.errors:
        raise InputError("; ".join(e.split(": ", 1)[1] if e.startswith("model 'outputs'") else e
                                   for e in outcome.errors))
    rows = outcome.rows
    per_image = per_sample_rows(outcome.per_sample.get(("score", "outputs"), {}))
    return {
        "n": rows[0]["n"] if rows else 0,
        "metrics": {r["metric"]: {"value": r["value"], "higher_is_better": r["higher_is_better"], "ci_low": r["ci_low"],
                                  "ci_high": r["ci_high"], "extras": r["extras"]} for r in rows},
        "per_image": per_image,
        "run_dir": str(outcome.run_path) if outcome.run_path else None,
    }


def _batch(args: dict[str, Any], n: int) -> int:
    """Samples read per batch from a submission: up to 1,000, fewer for large images (bench.images.decode_batch_size).
    The size comes from one header (a folder's first file, an array's shape): the run scans the set itself."""
    from PIL import Image

    from bench.images import ArrayFile, decode_batch_size, list_image_files

    path = Path(args["path"])
    try:
        if path.is_dir():
            with Image.open(list_image_files(path)[0]) as im:
                item = 3 * im.size[0] * im.size[1]  # at most RGB
        else:
            item = ArrayFile(path, args.get("key")).item_bytes()
        return decode_batch_size(item, max(1, min(n, 1000)))
    except Exception:  # a bad input is reported by the run itself, with its own message
        return max(1, min(n, 1000))


def _folder(spec: str) -> str:
    p = Path(spec).expanduser()
    if not p.exists():
        raise InputError(f"{p}: no such folder")
    if not p.is_dir():
        raise InputError(f"{p}: not a folder (translation scoring reads folders of images named like their inputs)")
    return str(p.resolve())


def score_pairs(outputs: str, truth: str, metrics: list[str], *, net: str = "auto", out: str | None = None,
                progress: bool = True, cache: bool = True, device: str | None = None) -> dict[str, Any]:
    """Score translations in ``outputs`` against same-named ground truth in ``truth`` (``genbench score pairs``).

    Runs a one-task translation suite: ``truth`` as a paired-folder dataset (both sides, since the inputs are not
    needed by paired metrics) and ``outputs`` as a data-only folder translator. Names must match both ways."""
    from bench.translation.data import match_by_name

    o, t = _folder(outputs), _folder(truth)
    match_by_name(Path(o), Path(t), f"{outputs} vs {truth}")  # names missing on either side, before any work
    opts = {m: ({"net": net} if m == "lpips" else {}) for m in metrics}
    res = _run_translation_suite("score-pairs", {"kind": "paired-folder", "a": t, "b": t},
                                 {"adapter": "folder-translator", "args": {"a2b": o}}, opts,
                                 out=out, progress=progress, cache=cache, device=device)
    return {"outputs": outputs, "ground_truth": truth, **res}


def score_cycle(inputs: str, reconstructed: str, *, net: str = "auto", out: str | None = None, progress: bool = True,
                cache: bool = True, device: str | None = None) -> dict[str, Any]:
    """Cycle-consistency of reconstructions ``F(G(x))`` in ``reconstructed`` against same-named inputs ``x``."""
    from bench.translation.data import match_by_name

    a, r = _folder(inputs), _folder(reconstructed)
    match_by_name(Path(r), Path(a), f"{reconstructed} vs {inputs}")
    res = _run_translation_suite("score-cycle", {"kind": "unpaired-folder", "a": a, "b": a},
                                 {"adapter": "folder-translator", "args": {"a2b2a": r}},
                                 {"cycle": {"directions": ["a2b"], "net": net}}, out=out, progress=progress, cache=cache,
                                 device=device)
    return {"inputs": inputs, "reconstructed": reconstructed, **res}


# ----------------------------------------------------------------------------------------- captions + images


def score_caption_images(gt: str, res: str, images: str, *, backbone: str = "clip-vit-b32", weights: str | None = None,
                         out: str | None = None, progress: bool = True, cache: bool = True,
                         device: str | None = None) -> dict[str, Any]:
    """CLIPScore and RefCLIPScore of a COCO results file on its images (``genbench score captions --images``).

    Runs a one-task captioning suite: the annotations (restricted to the images the results file captions, as
    ``score captions`` scores them) and ``images`` as a ``coco-captions`` dataset, the results file as a data-only
    ``coco-results`` model, the image ids the files' own. Same metric code and numbers as a suite's ``clipscore``.
    Returns ``{"CLIP-S": row, "RefCLIP-S": row}`` (value, ci_low, ci_high, extras) and the protocol."""
    from bench.suite import LoadedSuite, Suite
    from bench.text.coco_files import _load_json, load_annotations, load_results

    folder = Path(_folder(images))
    refs = load_annotations(gt)
    hyps = load_results(res, refs)
    keep = set(hyps)

    def suite(ann: Path) -> Suite:
        return Suite.model_validate({
            "name": "score-captions", "seed": 0,
            "datasets": {"gt": {"kind": "coco-captions", "path": str(ann), "images": str(folder)}},
            "models": {"results": {"adapter": "coco-results", "args": {"path": str(Path(res).resolve())}}},
            "tasks": [{"name": "score", "kind": "captioning", "reference": "gt", "batch_size": 64,
                       "backbone": backbone, "weights": weights, "metrics": {"clipscore": {}}}],
            "output": {"grid": 0},
            "runtime": {"device": device or "auto"},
        })

    where = Path.cwd() / "<genbench score captions>"
    if out is None:  # in process: the annotations restricted in memory, nothing written
        from bench.data.captioned import load_captioned

        ds = load_captioned("gt", "coco-captions", Path(gt), split=None, images_dir=folder, keep=keep)
        outcome = _one_task_run(LoadedSuite(suite(Path(gt)), where, {}), out=None, progress=progress, cache=cache,
                                datasets={"gt": ds})
    else:  # the kept run folder's suite names a file: the restricted annotations, written beside nothing else
        data = _load_json(gt)
        sub = {"images": [im for im in data.get("images", []) if im.get("id") in keep],
               "annotations": [a for a in data["annotations"] if a.get("image_id") in keep]}
        with tempfile.TemporaryDirectory(prefix="genbench-captions-") as tmp:
            ann = Path(tmp) / Path(gt).name
            ann.write_text(json.dumps(sub), encoding="utf-8")
            outcome = _one_task_run(LoadedSuite(suite(ann), where, {}), out=out, progress=progress, cache=cache)
    if outcome.errors:
        raise InputError("; ".join(e.split(": ", 1)[1] if e.startswith("model 'results'") else e
                                   for e in outcome.errors))
    rows = outcome.rows
    names = {"clip_s": "CLIP-S", "refclip_s": "RefCLIP-S"}
    return {"metrics": {names[r["metric"]]: {"value": r["value"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                                             "extras": r["extras"]} for r in rows if r["metric"] in names},
            "protocol": rows[0]["protocol"] if rows else {}}


# ----------------------------------------------------------------------------------------- retrieval


RETRIEVAL_CONVENTIONS = {"similarity": "cosine, float32", "ties": "against the query",
                         "i2t": "best-ranked correct caption", "recall_unit": "%"}


def _text_to_image(raw: Any, n_texts: int, where: str) -> np.ndarray:
    """Pairs as one image index per text: a list of indices, ``[text, image]`` pairs, or ``{"text_to_image": ...}``."""
    if isinstance(raw, np.ndarray):
        raw = raw.tolist()
    if isinstance(raw, dict) and "text_to_image" in raw:
        raw = raw["text_to_image"]
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{where}: expected a non-empty list of image indices (one per text) or [text, image] pairs")
    if all(isinstance(p, list | tuple) and len(p) == 2 for p in raw):
        t2i = [-1] * n_texts
        for t, i in raw:
            if not isinstance(t, int) or not 0 <= t < n_texts:
                raise InputError(f"{where}: text index {t!r} out of range (there are {n_texts} texts)")
            if t2i[t] != -1:
                raise InputError(f"{where}: text {t} is paired twice (each text has exactly one image)")
            t2i[t] = i
        if -1 in t2i:
            raise InputError(f"{where}: text {t2i.index(-1)} has no image")
        raw = t2i
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in raw):
        raise InputError(f"{where}: every entry must be an integer image index or a [text, image] pair")
    return np.asarray(raw, dtype=np.int64)


def score_retrieval(images: Any, texts: Any, pairs: Any) -> dict[str, Any]:
    """Text↔image recall@K, RSUM and ranks from embeddings made elsewhere (``genbench score retrieval``).

    ``images`` [n_images, d] and ``texts`` [n_texts, d]: ``.npy`` paths or arrays; ``pairs``: a JSON path, or the
    text → image indices themselves (a list, ``[text, image]`` pairs, or ``{"text_to_image": [...]}``). The retrieval
    task's metric (bench.metrics.vl.Recall) on the same SampleSet the task builds; nothing is written. Returns the
    ``--json`` shape plus ``per_query`` (the per-query ranks ``--per-query`` writes)."""
    from bench.adapters.vl import load_npy
    from bench.metrics.base import ArtifactSink, Reference, SampleSet
    from bench.metrics.vl import Recall
    from bench.text.coco_files import _load_json

    def array(x: Any, what: str) -> np.ndarray:
        if isinstance(x, str | Path):
            return load_npy(Path(x), what)
        a = np.asarray(x, dtype=np.float32)
        if a.ndim != 2:
            raise InputError(f"{what}: expected a 2-d array [n, d], got shape {a.shape}")
        return a

    im, tx = array(images, "image embeddings"), array(texts, "text embeddings")
    if isinstance(pairs, str | Path):
        t2i = _text_to_image(_load_json(pairs), tx.shape[0], str(pairs))
    else:
        t2i = _text_to_image(pairs, tx.shape[0], "pairs")
    sink = ArtifactSink()
    vals = Recall().compute(SampleSet(embeddings={"images": im, "texts": tx, "pairs": t2i}), Reference(), seed=0,
                            sink=sink)
    return {"n_images": int(im.shape[0]), "n_texts": int(tx.shape[0]), "metrics": {v.metric: v.value for v in vals},
            "conventions": dict(RETRIEVAL_CONVENTIONS), "per_query": sink.per_sample_values}
