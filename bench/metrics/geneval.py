"""GenEval (Ghosh et al. 2023): object-focused compositional checks of text-to-image models, with its rules.

Each of GenEval's 553 prompts (``bench/assets/geneval/evaluation_metadata.jsonl``, MIT, from djghosh13/geneval at
af4902f) carries a tag (single_object, two_object, counting, colors, position, color_attr) and clauses: objects to
``include`` (class, count, optional colour, optional position relative to an earlier clause) and to ``exclude``.
An image passes when every clause holds, decided as ``evaluation/evaluate_images.py`` decides it:

- detections of each class kept when their score is **above** 0.3 (0.9 for ``counting`` prompts), best first, at
  most 16 per class, then greedy suppression at IoU ``max_overlap`` (1.0: none);
- include: the ``count`` most confident detections must exist; a colour clause classifies each of them with CLIP
  ViT-L/14 zero-shot over ten colours (three templates, the crop of the object's mask pasted on ``#999`` grey) and
  needs ``count`` of the wanted colour; a position clause needs the relation ("left of", "right of", "above",
  "below") between every kept object and every object of the target clause, from box centres offset by
  ``position_threshold`` x (sum of the two boxes' sides) and a 0.5 cut on the normalised direction;
- exclude: fails when ``count`` or more detections of the class were kept.

Scores: the fraction of passing images per tag, and the overall score = the mean over the six tags (its
``summary_scores.py``). The detector is pluggable (:class:`Detector`: any transformers instance-segmentation or
detection model; Mask2Former Swin-S COCO by default); GenEval used mmdet 2.x's Mask2Former, so numbers here are
GenEval's rules over a transformers detector, not bit-equal to the mmdet pipeline (which moves with the GPU too).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from pydantic import Field

from bench.data.geneval import TAGS, load_metadata, metadata_sha256, object_names
from bench.errors import InputError
from bench.metrics.base import ArtifactSink, Metric, MetricValue, Options, OutputInfo, Reference, SampleSet

COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
COLOR_TEMPLATES = ("a photo of a {c} {cls}", "a photo of a {c}-colored {cls}", "a photo of a {c} object")

#: one kept detection: (x1, y1, x2, y2, score) and its boolean mask [H, W] (None for a box-only detector)
Obj = tuple[np.ndarray, "np.ndarray | None"]
Detected = dict[str, list[Obj]]
#: colour of each of ``objs`` of class ``cls`` in one image: ``(objs, cls) -> list of COLORS``
ColourFn = Callable[[list[Obj], str], list[str]]


@dataclass(frozen=True)
class Rules:
    """evaluate_images.py's options (``--options key=value``) and their defaults."""

    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0
    position_threshold: float = 0.1


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU with GenEval's inclusive-pixel areas ((x2 - x1 + 1) * (y2 - y1 + 1), clipped at 0)."""
    def area(x1: float, y1: float, x2: float, y2: float) -> float:
        return max(x2 - x1 + 1, 0) * max(y2 - y1 + 1, 0)

    inter = area(max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    union = area(*a[:4]) + area(*b[:4]) - inter
    return inter / union if union else 0


def keep_detections(boxes: dict[str, np.ndarray], masks: dict[str, Sequence[np.ndarray] | None], tag: str,
                    rules: Rules = Rules()) -> Detected:
    """Per class: scores above the tag's threshold, best first (numpy argsort, reversed), the first
    ``max_objects``, then greedy suppression of boxes overlapping a kept one at IoU >= ``max_overlap`` (none at 1)."""
    cut = rules.counting_threshold if tag == "counting" else rules.threshold
    out: Detected = {}
    for cls, b in boxes.items():
        b = np.asarray(b, dtype=np.float64).reshape(-1, 5)
        best_first = np.argsort(b[:, 4])[::-1]
        order: list[int] = best_first[b[best_first, 4] > cut][: rules.max_objects].tolist()
        kept: list[Obj] = []
        while order:
            best = order.pop(0)
            m = masks.get(cls)
            kept.append((b[best], None if m is None else m[best]))
            if rules.max_overlap != 1:
                order = [j for j in order if box_iou(b[best], b[j]) < rules.max_overlap]
        if kept:
            out[cls] = kept
    return out


def relations(a: Obj, b: Obj, position_threshold: float = 0.1) -> set[str]:
    """Where A is relative to B: centre offset shrunk by ``position_threshold`` x (A's + B's width, height), each
    axis clipped at 0 keeping its sign, divided by the offset's length; a component past ±0.5 names a relation."""
    pa, pb = np.asarray(a[0][:4], np.float64), np.asarray(b[0][:4], np.float64)
    ca, cb = (pa[:2] + pa[2:]) / 2, (pb[:2] + pb[2:]) / 2
    size = np.abs(pa[2:] - pa[:2]) + np.abs(pb[2:] - pb[:2])
    offset = ca - cb
    shrunk = np.maximum(np.abs(offset) - position_threshold * size, 0) * np.sign(offset)
    if np.all(np.abs(shrunk) < 1e-3):
        return set()
    dx, dy = shrunk / np.linalg.norm(offset)
    out = set()
    if dx < -0.5:
        out.add("left of")
    if dx > 0.5:
        out.add("right of")
    if dy < -0.5:
        out.add("above")
    if dy > 0.5:
        out.add("below")
    return out


def verdict(detected: Detected, metadata: dict[str, Any], colours: ColourFn,
            position_threshold: float = 0.1) -> tuple[bool, str]:
    """GenEval's decision for one image: (passes, the reasons it fails, one a line)."""
    ok, why = True, []
    groups: list[list[Obj] | None] = []
    for req in metadata.get("include", []):
        cls, n = req["class"], req["count"]
        found = detected.get(cls, [])[:n]
        good = len(found) >= n
        if not good:
            why.append(f"expected {cls}>={n}, found {len(found)}")
        else:
            if "color" in req:
                cs = colours(found, cls)
                if cs.count(req["color"]) < n:
                    good = False
                    why.append(f"expected {req['color']} {cls}>={n}, found {cs.count(req['color'])} {req['color']}; "
                               "and " + ", ".join(f"{cs.count(c)} {c}" for c in COLORS if c in cs))
            if "position" in req and good:
                rel, target = req["position"]
                if groups[target] is None:
                    good = False
                    why.append(f"no target for {cls} to be {rel}")
                else:
                    for obj in found:
                        for other in groups[target] or []:
                            have = relations(obj, other, position_threshold)
                            if rel not in have:
                                good = False
                                why.append(f"expected {cls} {rel} target, found {' and '.join(have)} target")
                                break
                        if not good:
                            break
        ok = ok and good
        groups.append(found if good else None)
    for req in metadata.get("exclude", []):
        cls = req["class"]
        if len(detected.get(cls, [])) >= req["count"]:
            ok = False
            why.append(f"expected {cls}<{req['count']}, found {len(detected[cls])}")
    return ok, "\n".join(why)


def tag_scores(tags: Sequence[str], passed: Sequence[bool]) -> dict[str, float]:
    """Fraction passing per tag (in first-seen order, as summary_scores.py groups) and ``overall``: their mean."""
    t, p = np.asarray(tags), np.asarray(passed, dtype=np.float64)
    per = {tag: float(p[t == tag].mean()) for tag in dict.fromkeys(tags)}
    return {**per, "overall": float(np.mean(list(per.values())))}


# ================================================================================================ colour (CLIP)
def masked_crop(image: Any, obj: Obj, bgcolor: str = "#999", crop: bool = True) -> Any:
    """GenEval's ImageCrops item: the object's mask pasted over a ``bgcolor`` canvas (the image itself when there is
    no mask), then cropped to its box (PIL crop of the float box)."""
    from PIL import Image

    box, mask = obj
    if mask is not None:
        if tuple(mask.shape) != (image.size[1], image.size[0]):
            raise InputError(f"GenEval: a mask of shape {tuple(mask.shape)} for an image of {image.size[::-1]}")
        blank = image.copy() if bgcolor == "original" else Image.new("RGB", image.size, color=bgcolor)
        image = Image.composite(image, blank, Image.fromarray(np.asarray(mask, dtype=bool)))
    return image.crop(tuple(box[:4])) if crop else image


class ClipColours:
    """Zero-shot colour classifier: per class, each colour's three template texts embedded, normalised, averaged and
    renormalised (clip_benchmark's zero_shot_classifier); a crop's colour is the argmax of its normalised image
    embedding against them."""

    def __init__(self, spec: str = "ViT-L-14@openai", weights: str | None = None, device: str = "cpu") -> None:
        import open_clip

        from bench.backbones.clip import load_open_clip

        self.clip = load_open_clip(spec, weights, device)
        self.tokenizer = open_clip.get_tokenizer(self.clip.spec.arch)
        self.device = device
        self._heads: dict[str, torch.Tensor] = {}

    def head(self, cls: str) -> torch.Tensor:
        if cls not in self._heads:
            cols = []
            for c in COLORS:
                t = self.clip.model.encode_text(self.tokenizer(  # type: ignore[operator]
                    [tp.format(c=c, cls=cls) for tp in COLOR_TEMPLATES]).to(self.device))
                e = torch.nn.functional.normalize(t, dim=-1).mean(0)
                cols.append(e / e.norm())
            self._heads[cls] = torch.stack(cols, dim=1)
        return self._heads[cls]

    @torch.no_grad()
    def __call__(self, crops: list[Any], cls: str) -> list[str]:
        x = torch.stack([self.clip.transform(c) for c in crops]).to(self.device)
        f = torch.nn.functional.normalize(self.clip.model.encode_image(x), dim=-1)  # type: ignore[operator]
        return [COLORS[int(i)] for i in (100.0 * f @ self.head(cls)).argmax(1)]


# ================================================================================================ detector
class Detector:
    """Any transformers instance-segmentation model (Mask2Former, MaskFormer, OneFormer: instances with masks,
    boxes from the masks as mmdet's ``mask2bbox``) or object-detection model (boxes only; colour then reads the
    box crop). Returns per class (GenEval's names) ``[k, 5]`` boxes with scores and the masks."""

    def __init__(self, model: str = "facebook/mask2former-swin-small-coco-instance", device: str = "cpu") -> None:
        from transformers import AutoImageProcessor

        from bench.metrics.hfweights import folder_sha256, hf_folder

        path = hf_folder(model, "GenEval detector")
        self.name, self.sha256, self.device = model, folder_sha256(path), device
        self.processor = AutoImageProcessor.from_pretrained(path)
        cfg = json.loads((path / "config.json").read_text())
        archs = " ".join(cfg.get("architectures", []))
        self.segments = "ForObjectDetection" not in archs
        if self.segments:
            from transformers import AutoModelForUniversalSegmentation

            self.model = AutoModelForUniversalSegmentation.from_pretrained(path).eval().to(device)
        else:
            from transformers import AutoModelForObjectDetection

            self.model = AutoModelForObjectDetection.from_pretrained(path).eval().to(device)
        labels = {int(k): v for k, v in self.model.config.id2label.items()}
        names = object_names()
        # COCO-trained detectors list the 80 classes in GenEval's order; other label sets are matched by name
        self.label_name = ({i: names[i] for i in range(80)} if len(labels) == 80 else
                           {i: n for i, n in labels.items() if n in names})

    @torch.no_grad()
    def __call__(self, image: Any) -> tuple[dict[str, np.ndarray], dict[str, list[np.ndarray] | None]]:
        inputs = self.processor(images=image, return_tensors="pt").to(self.device)
        out = self.model(**inputs)
        size = [(image.size[1], image.size[0])]
        boxes: dict[str, list[np.ndarray]] = {}
        masks: dict[str, list[np.ndarray] | None] = {}
        if self.segments:
            r = self.processor.post_process_instance_segmentation(out, threshold=0.0, target_sizes=size,
                                                                  return_binary_maps=True)[0]
            seg = r["segmentation"]
            for k, info in enumerate(r["segments_info"]):
                name = self.label_name.get(int(info["label_id"]))
                m = (seg[k] if seg is not None and seg.ndim == 3 else seg == info["id"]).cpu().numpy().astype(bool)
                if name is None or not m.any():
                    continue
                ys, xs = np.nonzero(m)
                boxes.setdefault(name, []).append(np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1,
                                                            float(info["score"])]))
                masks.setdefault(name, []).append(m)  # type: ignore[union-attr]
        else:
            r = self.processor.post_process_object_detection(out, threshold=0.0, target_sizes=size)[0]
            for s, lab, b in zip(r["scores"].tolist(), r["labels"].tolist(), r["boxes"].tolist(), strict=True):
                name = self.label_name.get(int(lab))
                if name is not None:
                    boxes.setdefault(name, []).append(np.array([*b, s]))
                    masks[name] = None
        return {k: np.stack(v) for k, v in boxes.items()}, masks


# ================================================================================================ metric
class GenEvalOpts(Options):
    detector: str = Field(default="facebook/mask2former-swin-small-coco-instance",
                          description="transformers detection/instance-segmentation folder or repo id")
    clip: str = Field(default="ViT-L-14@openai", description="open_clip spec of the colour classifier")
    clip_weights: str | None = Field(default=None, description="explicit path of the CLIP weights")
    metadata: str | None = Field(default=None, description="GenEval metadata .jsonl (default: the shipped 553)")
    threshold: float = Field(default=0.3, ge=0, le=1)
    counting_threshold: float = Field(default=0.9, ge=0, le=1)
    max_objects: int = Field(default=16, ge=1)
    max_overlap: float = Field(default=1.0, gt=0, le=1)
    position_threshold: float = Field(default=0.1, ge=0)
    bgcolor: str = Field(default="#999", description="canvas behind masked crops; 'original' keeps the image")
    crop: bool = True
    device: str = "auto"


def prompt_metadata(metadata: dict[str, dict[str, Any]], i: int, prompt: str) -> dict[str, Any]:
    """The GenEval metadata of item ``i``'s prompt; one line when it is not one of GenEval's prompts."""
    meta = metadata.get(prompt)
    if meta is None:
        raise InputError(f"geneval: prompt {i} ({prompt[:60]!r}) is not a GenEval prompt (metadata has "
                         f"{len(metadata)}); generate from the geneval dataset's prompts")
    return meta


def score_images(images: torch.Tensor, prompts: Sequence[str], detect: Callable[[Any], Any], colours: Callable[..., list[str]],
                 metadata: dict[str, dict[str, Any]], opts: GenEvalOpts) -> tuple[list[bool], list[str], list[str]]:
    """Per image: (passes, tag, reasons). ``detect(pil) -> (boxes, masks)``; ``colours(crops, cls)``."""
    from bench.metrics.preference import to_pil

    rules = Rules(opts.threshold, opts.counting_threshold, opts.max_objects, opts.max_overlap, opts.position_threshold)
    passed, tags, reasons = [], [], []
    for i, (im, p) in enumerate(zip(to_pil(images), prompts, strict=True)):
        meta = prompt_metadata(metadata, i, p)
        boxes, masks = detect(im)
        kept = keep_detections(boxes, masks, meta["tag"], rules)
        ok, why = verdict(kept, meta, lambda objs, cls, im=im: colours(  # type: ignore[misc]
            [masked_crop(im, o, opts.bgcolor, opts.crop) for o in objs], cls), opts.position_threshold)
        passed.append(ok)
        tags.append(meta["tag"])
        reasons.append(why)
    return passed, tags, reasons


#: the per-item value the text-to-image task streams for GenEval: one string per image, "1" (passes) or "0"
#: followed by the reasons it fails (verdict()'s second part); the tag comes back from the prompt's metadata
VERDICT = "geneval_verdict"


def encode_verdicts(passed: Sequence[bool], reasons: Sequence[str]) -> np.ndarray:
    """Per-image verdicts as one unicode array (what the feature cache stores for a streamed pass)."""
    return np.asarray([f"{int(ok)}{why}" for ok, why in zip(passed, reasons, strict=True)], dtype=np.str_)


def decode_verdicts(values: np.ndarray) -> tuple[list[bool], list[str]]:
    """:func:`encode_verdicts` undone: (passes, reasons)."""
    codes = [str(v) for v in np.asarray(values).tolist()]
    if any(not c or c[0] not in "01" for c in codes):
        raise InputError("geneval: a stored per-image verdict is not one of GenEval's (recompute without the cache)")
    return [c[0] == "1" for c in codes], [c[1:] for c in codes]


class GenEval(Metric[GenEvalOpts]):
    """GenEval's per-image pass/fail under its rules, as rows per tag and overall (mean of the tag scores).

    In a text-to-image task each batch is judged as it streams (:meth:`item_measures`: detection, colour and the
    rules against each image's own prompt), and only the per-image verdicts are kept: no image is held for it.
    From Python (``genbench score t2i``) the images may come whole instead."""

    name = "geneval"
    description = "GenEval (Ghosh et al. 2023): object, count, colour and position checks with a detector + CLIP"
    requires = frozenset({"texts"})  # the images stream through item_measures (or come whole from Python)
    Opts = GenEvalOpts
    outputs = {"geneval_overall": OutputInfo(True, "fraction", "GenEval overall: mean of the six tag scores"),
               **{f"geneval_{t}": OutputInfo(True, "fraction", f"GenEval {t}: fraction of images passing")
                  for t in TAGS}}

    def _parts(self) -> tuple[Any, Any]:
        from bench.metrics.preference import _device

        o = self.opts
        dev = str(_device(o.device))
        if not hasattr(self, "_loaded"):
            self._loaded = (Detector(o.detector, dev), ClipColours(o.clip, o.clip_weights, dev))
        return self._loaded

    def protocol_fields(self) -> dict[str, Any]:
        o = self.opts
        det, col = self._parts()
        return {"metric_protocol": {"scorer": "GenEval rules (evaluate_images.py, djghosh13/geneval af4902f)",
                                    "detector": o.detector, "detector_sha256": det.sha256, "clip": o.clip,
                                    "clip_sha256": col.clip.sha256, "rules": o.model_dump(exclude={"device"}),
                                    # the verdicts depend on the metadata's content (the streamed verdicts are
                                    # cached under this protocol): an edited file is another protocol
                                    "metadata_sha256": metadata_sha256(o.metadata)}}

    def _metadata(self) -> dict[str, dict[str, Any]]:
        o = self.opts
        if not hasattr(self, "_meta"):
            self._meta = {m["prompt"]: m for m in load_metadata(o.metadata)}
        return self._meta

    def item_measures(self) -> dict[str, Any]:
        """Each streamed batch judged against its prompts: one encoded verdict per image (:data:`VERDICT`)."""
        o = self.opts
        det, col = self._parts()
        meta = self._metadata()

        def judge(images: torch.Tensor, prompts: Sequence[str]) -> np.ndarray:
            passed, _, reasons = score_images(images, list(prompts), det, col, meta, o)
            return encode_verdicts(passed, reasons)

        return {VERDICT: judge}

    def dry_run(self) -> list[str]:
        from bench.metrics.hfweights import folder_state

        o = self.opts
        return [folder_state(o.detector, "GenEval detector"),
                f"GenEval colour CLIP {o.clip}" + (f" from {o.clip_weights}" if o.clip_weights
                                                   else " (genbench weights fetch clip-vit-l-14-openai)")]

    def compute(self, samples: SampleSet, ref: Reference, *, seed: int, state: Any = None,
                sink: ArtifactSink | None = None) -> list[MetricValue]:
        from bench.metrics.vl import bootstrap_ci

        if (samples.images is None and VERDICT not in samples.item_values) or samples.texts is None:
            raise InputError("geneval needs the generated images and their prompts")
        o = self.opts
        meta = self._metadata()
        texts = list(samples.texts)
        if VERDICT in samples.item_values:  # judged as the images streamed
            passed, reasons = decode_verdicts(samples.item_values[VERDICT])
            if len(passed) != len(texts):
                raise InputError(f"geneval: {len(passed)} verdicts for {len(texts)} prompts")
            tags = [prompt_metadata(meta, i, p)["tag"] for i, p in enumerate(texts)]
        else:
            det, col = self._parts()
            passed, tags, reasons = score_images(samples.images, texts, det, col, meta, o)  # type: ignore[arg-type]
        scores = tag_scores(tags, passed)
        p = np.asarray(passed, dtype=np.float64)
        if sink is not None:
            sink.per_sample("geneval_pass", p)
            sink.per_sample("geneval_tag", list(tags))
            sink.per_sample("geneval_reason", list(reasons))
        out = []
        for t in (*[t for t in TAGS if t in scores], "overall"):
            sel = p if t == "overall" else p[np.asarray(tags) == t]
            lo, hi = bootstrap_ci(sel, seed) if t != "overall" else (None, None)
            out.append(MetricValue(f"geneval_{t}", scores[t], lo, hi, n=int(len(sel)),
                                   extras={"images": int(len(sel)), "passed": int(sel.sum())}))
        return out

