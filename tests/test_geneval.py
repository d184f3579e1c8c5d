"""GenEval's rules: hand-computed edge cases on every tag, and (where GenEval's evaluate_images.py is on disk, named
by $GENEVAL_EVALUATE_IMAGES) its own evaluate_image() on thousands of random fixed detections, verdict for verdict.

The reference runs with its detector and CLIP swapped for the same fixed detections and colour answers genbench
gets: only its selection and decision code executes (mmdet and clip_benchmark do not install here).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.errors import InputError
from bench.metrics import geneval as ge


def box(x1: float, y1: float, x2: float, y2: float, s: float = 0.95) -> np.ndarray:
    return np.array([x1, y1, x2, y2, s], dtype=np.float64)


def run(dets: dict[str, list[np.ndarray]], meta: dict[str, Any], colours: dict[str, list[str]] | None = None) -> bool:
    boxes = {k: np.stack(v) for k, v in dets.items()}
    kept = ge.keep_detections(boxes, {k: None for k in dets}, meta["tag"])

    def col(objs: list[ge.Obj], cls: str) -> list[str]:
        return (colours or {}).get(cls, ["red"] * 16)[: len(objs)]

    return ge.verdict(kept, meta, col)[0]


def test_metadata_ships_553_prompts_over_six_tags() -> None:
    meta = ge.load_metadata()
    assert len(meta) == 553 and len({m["prompt"] for m in meta}) == 553
    assert {m["tag"] for m in meta} == set(ge.TAGS) and len(ge.object_names()) == 80


def test_single_and_two_object_thresholds() -> None:
    one = {"tag": "single_object", "include": [{"class": "bench", "count": 1}]}
    assert run({"bench": [box(0, 0, 10, 10, 0.31)]}, one)
    assert not run({"bench": [box(0, 0, 10, 10, 0.3)]}, one)  # strictly above 0.3
    two = {"tag": "two_object", "include": [{"class": "cake", "count": 1}, {"class": "zebra", "count": 1}]}
    assert run({"cake": [box(0, 0, 5, 5)], "zebra": [box(9, 9, 20, 20)]}, two)
    assert not run({"cake": [box(0, 0, 5, 5)]}, two)


def test_counting_uses_its_own_threshold_and_exclude() -> None:
    m = {"tag": "counting", "include": [{"class": "backpack", "count": 2}],
         "exclude": [{"class": "backpack", "count": 3}]}
    assert run({"backpack": [box(0, 0, 5, 5, 0.95), box(10, 0, 15, 5, 0.91)]}, m)
    assert not run({"backpack": [box(0, 0, 5, 5, 0.95), box(10, 0, 15, 5, 0.85)]}, m)  # 0.85 < 0.9
    assert not run({"backpack": [box(0, 0, 5, 5), box(10, 0, 15, 5), box(20, 0, 25, 5)]}, m)  # three: excluded
    # overlapping duplicates are not suppressed (max_overlap 1.0): three boxes on one object still count as three
    assert not run({"backpack": [box(0, 0, 5, 5)] * 3}, m)
    kept = ge.keep_detections({"backpack": np.stack([box(0, 0, 9, 9)] * 3)}, {"backpack": None}, "counting",
                              ge.Rules(max_overlap=0.5))
    assert len(kept["backpack"]) == 1


def test_max_objects_caps_each_class() -> None:
    kept = ge.keep_detections({"cup": np.stack([box(i, 0, i + 1, 1) for i in range(20)])}, {"cup": None},
                              "single_object")
    assert len(kept["cup"]) == 16


def test_colours_read_only_the_most_confident() -> None:
    m = {"tag": "colors", "include": [{"class": "sandwich", "count": 1, "color": "white"}]}
    d = {"sandwich": [box(0, 0, 5, 5, 0.5), box(9, 9, 15, 15, 0.9)]}
    assert run(d, m, {"sandwich": ["white", "red"]})
    assert not run(d, m, {"sandwich": ["red", "white"]})


def test_color_attr_both_objects() -> None:
    m = {"tag": "color_attr", "include": [{"class": "car", "count": 1, "color": "black"},
                                          {"class": "parking meter", "count": 1, "color": "green"}]}
    d = {"car": [box(0, 0, 5, 5)], "parking meter": [box(9, 9, 15, 15)]}
    assert run(d, m, {"car": ["black"], "parking meter": ["green"]})
    assert not run(d, m, {"car": ["black"], "parking meter": ["red"]})


def test_relations_hand_computed() -> None:
    a, b = (box(0, 0, 10, 10), None), (box(20, 0, 30, 10), None)
    assert ge.relations(a, b) == {"left of"} and ge.relations(b, a) == {"right of"}
    # centre offset (20, 0), shrunk by 0.1 * (10 + 10) = 2 -> (18, 0): left
    below = (box(0, 20, 10, 30), None)
    assert ge.relations(below, a) == {"below"} and ge.relations(a, below) == {"above"}
    # diagonal at 45 degrees: offset (20, 20) shrunk to (18, 18) / 28.28 = 0.636 each -> both relations
    assert ge.relations((box(20, 20, 30, 30), None), a) == {"right of", "below"}
    # overlapping boxes whose offset is inside the margin: no relation at all
    assert ge.relations((box(1, 0, 11, 10), None), a) == set()
    # a large box shrinks the offset: offset 6 < 0.1 * (10 + 100) = 11 -> nothing
    assert ge.relations((box(0, 0, 10, 10), None), (box(-44, 0, 56, 10), None)) == set()


def test_position_rule_every_pair_and_missing_target() -> None:
    m = {"tag": "position", "include": [{"class": "skateboard", "count": 1},
                                        {"class": "bird", "count": 1, "position": ["below", 0]}]}
    assert run({"skateboard": [box(0, 0, 10, 10)], "bird": [box(0, 30, 10, 40)]}, m)
    assert not run({"skateboard": [box(0, 0, 10, 10)], "bird": [box(0, -40, 10, -30)]}, m)
    assert not run({"bird": [box(0, 30, 10, 40)]}, m)  # no target: fails on both clauses


def test_tag_scores_overall_is_mean_of_tags() -> None:
    s = ge.tag_scores(["a", "a", "b", "b", "b", "b"], [True, False, True, True, True, True])
    assert s["a"] == 0.5 and s["b"] == 1.0 and s["overall"] == 0.75


def test_masked_crop_pastes_on_grey_and_crops_box() -> None:
    from PIL import Image

    im = Image.fromarray(np.full((8, 8, 3), 200, np.uint8))
    mask = np.zeros((8, 8), bool)
    mask[2:4, 2:4] = True
    c = np.asarray(ge.masked_crop(im, (box(1, 1, 5, 5), mask)))
    assert c.shape == (4, 4, 3) and (c[1:3, 1:3] == 200).all() and (c[0, 0] == 0x99).all()
    with pytest.raises(InputError, match="mask of shape"):
        ge.masked_crop(im, (box(1, 1, 5, 5), np.zeros((4, 4), bool)))


def test_metric_rows_and_per_sample_with_stub_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.metrics.base import ArtifactSink, Reference, SampleSet

    meta = ge.load_metadata()
    prompts = [next(m["prompt"] for m in meta if m["tag"] == t) for t in ge.TAGS]
    m = ge.GenEval()
    monkeypatch.setattr(ge.GenEval, "_parts", lambda self: (lambda im: ({}, {}), lambda crops, cls: []))
    sink = ArtifactSink()
    rows = m.compute(SampleSet(images=torch.zeros(6, 3, 16, 16, dtype=torch.uint8), texts=prompts), Reference(),
                     seed=0, sink=sink)
    assert [r.metric for r in rows] == [f"geneval_{t}" for t in ge.TAGS] + ["geneval_overall"]
    assert all(r.value == 0.0 for r in rows)  # nothing detected: every include clause fails
    assert sink.per_sample_values["geneval_pass"] == [0.0] * 6 and sink.per_sample_values["geneval_tag"] == list(ge.TAGS)
    with pytest.raises(InputError, match="not a GenEval prompt"):
        m.compute(SampleSet(images=torch.zeros(1, 3, 16, 16, dtype=torch.uint8), texts=["a cat"]), Reference(), seed=0)


def test_bad_metadata_line_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    p.write_text('{"tag": "counting", "prompt": "x", "include": []}\n{"prompt": 3}\n')
    with pytest.raises(InputError, match=r"m.jsonl:2: not a GenEval metadata line"):
        ge.load_metadata(p)


# ================================================================================================ the reference
def reference_namespace(src: Path, colours: Any) -> dict[str, Any]:
    """evaluate_images.py's functions (compute_iou, relative_position, evaluate, evaluate_image) executed from its
    source, with its detector call, image loading and CLIP colour classifier replaced by fixed answers."""
    tree = ast.parse(src.read_text())
    keep = {"compute_iou", "relative_position", "evaluate", "evaluate_image"}
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in keep]
    assert {f.name for f in funcs} == keep
    ns: dict[str, Any] = {"np": np, "json": __import__("json"), "COLORS": list(ge.COLORS),
                          "THRESHOLD": 0.3, "COUNTING_THRESHOLD": 0.9, "MAX_OBJECTS": 16, "NMS_THRESHOLD": 1.0,
                          "POSITION_THRESHOLD": 0.1, "classnames": list(ge.object_names()), "object_detector": None,
                          "color_classification": lambda image, objs, cls: colours(objs, cls)}
    exec(compile(ast.Module(body=funcs, type_ignores=[]), str(src), "exec"), ns)  # noqa: S102
    return ns


@pytest.mark.skipif(not os.environ.get("GENEVAL_EVALUATE_IMAGES"),
                    reason="set GENEVAL_EVALUATE_IMAGES to djghosh13/geneval's evaluation/evaluate_images.py")
def test_verdicts_equal_evaluate_images_py_on_random_detections() -> None:
    src = Path(os.environ["GENEVAL_EVALUATE_IMAGES"])
    meta = ge.load_metadata()
    names = ge.object_names()
    rng = np.random.default_rng(0)

    def colours(objs: list[Any], cls: str) -> list[str]:  # a fixed answer per box: the same for both sides
        return [ge.COLORS[int(abs(hash((cls, round(float(o[0][0]), 6)))) % 3)] for o in objs]

    ns = reference_namespace(src, colours)
    agree, tags_seen, passes = 0, set(), 0
    for trial in range(3000):
        m = meta[rng.integers(len(meta))]
        classes = {c["class"] for c in m.get("include", []) + m.get("exclude", [])}
        classes |= {names[rng.integers(80)]}
        bbox = [np.zeros((0, 5)) for _ in names]
        for c in classes:
            k = int(rng.integers(0, 5))
            xy = rng.uniform(0, 60, (k, 2))
            wh = rng.uniform(1, 40, (k, 2))
            s = rng.choice([0.2, 0.3, 0.31, 0.85, 0.9, 0.91, 0.99], size=k) if trial % 2 else rng.uniform(0, 1, k)
            bbox[names.index(c)] = np.concatenate([xy, xy + wh, s[:, None]], 1)
        ns["inference_detector"] = lambda det, path, bbox=bbox: bbox
        ns["Image"] = type("I", (), {"open": staticmethod(lambda p: None)})
        ns["ImageOps"] = type("O", (), {"exif_transpose": staticmethod(lambda im: im)})
        expected = ns["evaluate_image"]("x.png", m)["correct"]
        boxes = {n: b for n, b in zip(names, bbox, strict=True) if len(b)}
        kept = ge.keep_detections(boxes, {n: None for n in boxes}, m["tag"])
        ours = ge.verdict(kept, m, colours)[0]
        agree += ours == expected
        tags_seen.add(m["tag"])
        passes += bool(expected)
    assert agree == 3000 and tags_seen == set(ge.TAGS) and 50 < passes < 2950


# ================================================================================================ the suites
@pytest.mark.parametrize("name", ["geneval", "t2i-alignment"])
def test_t2i_suites_validate_offline_and_dry_run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from tests.conftest import ROOT, run_cli

    pytest.importorskip("diffusers")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")
    suite = str(ROOT / "suites" / f"{name}.yaml")
    code, out, err = run_cli(["validate", "--no-weights", suite], capsys)
    assert code == 0 and "geneval: " in out, err
    code, out, err = run_cli(["run", "--dry-run", suite], capsys)
    assert code == 2 and "GenEval detector facebook/mask2former-swin-small-coco-instance [MISSING]" in out
    assert "geneval: geneval (embedded, nothing to download)" in out
    if name == "t2i-alignment":
        for needle in ("VQAScore model llava-hf/llava-1.5-13b-hf [MISSING]", "PickScore model yuvalkirstain/PickScore_v1",
                       "HPS_v2.1_compressed.pt [MISSING]", "ImageReward.pt [MISSING]", "captions_val2014.json [MISSING]"):
            assert needle in out or needle in err, needle


# ================================================================================================ detector + CLIP
def test_geneval_end_to_end_tiny_mask2former_and_clip(tmp_path: Path) -> None:
    """The metric with a transformers Mask2Former and an open_clip colour classifier (tiny random weights): its
    per-image verdicts are verdict() over the detector's own output, and the colour head is clip_benchmark's
    zero-shot classifier restated (templates embedded, normalised, averaged, renormalised; 100 * cos argmax)."""
    import open_clip

    from bench.metrics.base import ArtifactSink, Reference, SampleSet
    from tests.hf_tiny import tiny_mask2former
    from tests.test_preference import TINY_ARCH, register_tiny

    det_dir = tiny_mask2former(tmp_path / "m2f")
    register_tiny(tmp_path, open_clip)
    torch.manual_seed(0)
    torch.save(open_clip.create_model(TINY_ARCH, pretrained=None).state_dict(), tmp_path / "clip.pt")
    spec = f"{TINY_ARCH}@{tmp_path / 'clip.pt'}"
    opts = {"detector": str(det_dir), "clip": spec, "device": "cpu", "threshold": 0.0, "counting_threshold": 0.0}
    meta = ge.load_metadata()
    prompts = [m["prompt"] for m in meta[::60]][:8]
    ims = torch.randint(0, 256, (len(prompts), 3, 48, 64), generator=torch.Generator().manual_seed(2), dtype=torch.uint8)
    m = ge.GenEval(opts)
    sink = ArtifactSink()
    rows = m.compute(SampleSet(images=ims, texts=prompts), Reference(), seed=0, sink=sink)
    det, col = m._parts()
    by_prompt = {x["prompt"]: x for x in meta}
    from bench.metrics.preference import to_pil

    expected = []
    for im, p in zip(to_pil(ims), prompts, strict=True):
        boxes, masks = det(im)
        kept = ge.keep_detections(boxes, masks, by_prompt[p]["tag"], ge.Rules(0.0, 0.0))
        expected.append(float(ge.verdict(kept, by_prompt[p], lambda objs, cls, im=im: col(
            [ge.masked_crop(im, o) for o in objs], cls))[0]))
        assert all(o[1] is not None and o[1].shape == (48, 64) for v in kept.values() for o in v)
    assert sink.per_sample_values["geneval_pass"] == expected
    assert rows[-1].metric == "geneval_overall"
    proto = m.protocol_fields()["metric_protocol"]
    assert proto["detector_sha256"] and proto["rules"]["threshold"] == 0.0
    # the colour head, restated
    model = open_clip.create_model(TINY_ARCH, pretrained=None)
    model.load_state_dict(torch.load(tmp_path / "clip.pt", weights_only=True))
    tok = open_clip.get_tokenizer(TINY_ARCH)
    with torch.no_grad():
        cols = []
        for c in ge.COLORS:
            e = model.encode_text(tok([f"a photo of a {c} dog", f"a photo of a {c}-colored dog", f"a photo of a {c} object"]))
            e = torch.nn.functional.normalize(e, dim=-1).mean(0)
            cols.append(e / e.norm())
        assert torch.allclose(col.head("dog"), torch.stack(cols, 1), atol=1e-6)


def test_geneval_suite_runs_end_to_end_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Dataset kind geneval → text-to-image task → the geneval metric (tiny Mask2Former and CLIP): rows per tag and
    overall with GenEval's own protocol, per-image verdicts in the per-sample file."""
    import json

    import open_clip

    from tests.conftest import run_cli
    from tests.hf_tiny import tiny_mask2former
    from tests.test_preference import TINY_ARCH, register_tiny

    det = tiny_mask2former(tmp_path / "m2f")
    register_tiny(tmp_path, open_clip)
    torch.manual_seed(0)
    torch.save(open_clip.create_model(TINY_ARCH, pretrained=None).state_dict(), tmp_path / "clip.pt")
    suite = tmp_path / "g.yaml"
    suite.write_text(f"""name: g
datasets: {{ge: {{kind: geneval, tags: [counting, colors]}}}}
models: {{random: {{adapter: random-scene}}}}
tasks:
  - name: ge
    kind: text-to-image
    reference: ge
    n: 3
    backbone: shapes-clip
    args: {{samples_per_prompt: 2}}
    metrics:
      geneval: {{detector: {det}, clip: "{TINY_ARCH}@{tmp_path / 'clip.pt'}", device: cpu, threshold: 0.0}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "o"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    (run,) = list((tmp_path / "o" / "g").iterdir())
    rows = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
    assert [r["metric"] for r in rows][-1] == "geneval_overall"
    assert {r["metric"] for r in rows} <= {f"geneval_{t}" for t in (*ge.TAGS, "overall")}
    proto = rows[-1]["protocol"]
    assert proto["metric_protocol"]["detector"] == str(det) and proto["samples_per_prompt"] == 2
    assert proto["reference"].startswith("geneval:prompts")
    per = json.loads((run / rows[-1]["extras"]["per_sample_file"]).read_text())
    text = json.dumps(per)
    assert "geneval_pass" in text and "geneval_reason" in text


# ================================================================================================ streaming
def _tiny_parts(tmp_path: Path) -> tuple[Path, str]:
    """A tiny random Mask2Former folder and a tiny open_clip spec (random weights saved in the real format)."""
    import open_clip

    from tests.hf_tiny import tiny_mask2former
    from tests.test_preference import TINY_ARCH, register_tiny

    det = tiny_mask2former(tmp_path / "m2f")
    register_tiny(tmp_path, open_clip)
    torch.manual_seed(0)
    torch.save(open_clip.create_model(TINY_ARCH, pretrained=None).state_dict(), tmp_path / "clip.pt")
    return det, f"{TINY_ARCH}@{tmp_path / 'clip.pt'}"


def test_streamed_verdicts_give_the_holding_rows(tmp_path: Path) -> None:
    """Each batch judged as it streams (item_measures, batches of 3 of 11 images) and only the encoded verdicts
    kept: the same rows (values, intervals, counts, extras) and per-sample pass/tag/reason as judging all the
    images held at once, bit for bit; the verdict encoding round-trips, including a passing image's empty reason."""
    from bench.metrics.base import ArtifactSink, Reference, SampleSet

    det, clip = _tiny_parts(tmp_path)
    meta = ge.load_metadata()
    ims = torch.randint(0, 256, (11, 3, 40, 56), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    opts = {"detector": str(det), "clip": clip, "device": "cpu", "threshold": 0.0, "counting_threshold": 0.0}
    held, streamed = ge.GenEval(opts), ge.GenEval(opts)
    # six prompts across the tags, and five whose objects the random detector does find in their image (passes)
    from bench.metrics.preference import to_pil

    found = [set(held._parts()[0](im)[0]) for im in to_pil(ims[6:])]
    single = {m["include"][0]["class"]: m["prompt"] for m in meta if m["tag"] == "single_object"}
    prompts = [m["prompt"] for m in meta[::50]][:6] + [single[sorted(f & set(single))[0]] for f in found]
    sink_held, sink_streamed = ArtifactSink(), ArtifactSink()
    rows_held = held.compute(SampleSet(images=ims, texts=prompts), Reference(), seed=0, sink=sink_held)
    (judge,) = streamed.item_measures().values()
    parts = [judge(ims[s: s + 3], prompts[s: s + 3]) for s in range(0, len(prompts), 3)]
    assert all(p.dtype.kind == "U" for p in parts)
    values = np.concatenate(parts)
    rows_streamed = streamed.compute(SampleSet(item_values={ge.VERDICT: values}, texts=prompts), Reference(), seed=0,
                                     sink=sink_streamed)
    assert rows_streamed == rows_held
    assert sink_streamed.per_sample_values == sink_held.per_sample_values
    assert 0 < sum(sink_held.per_sample_values["geneval_pass"]) < len(prompts)  # both verdicts occur
    assert ge.decode_verdicts(ge.encode_verdicts([True, False], ["", "expected dog>=1, found 0\nand more"])) == \
        ([True, False], ["", "expected dog>=1, found 0\nand more"])
    with pytest.raises(InputError, match="not one of GenEval's"):
        ge.decode_verdicts(np.asarray(["", "1"]))


def _suite(tmp_path: Path, det: Path, clip: str, extra: str = "") -> Path:
    suite = tmp_path / "g.yaml"
    suite.write_text(f"""name: g
datasets: {{ge: {{kind: geneval, tags: [counting, colors]}}}}
models: {{random: {{adapter: random-scene}}}}
tasks:
  - name: ge
    kind: text-to-image
    reference: ge
    n: 3
    batch_size: 4
    backbone: shapes-clip
    args: {{samples_per_prompt: 2}}
    metrics:
      geneval: {{detector: {det}, clip: "{clip}", device: cpu, threshold: 0.0, counting_threshold: 0.0}}
{extra}""")
    return suite


def test_geneval_task_streams_and_gives_the_holding_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite run judges each generated batch as it streams (no image reaches the metric; the placeholder
    reference images are never featurized), and its rows equal those of the former path that held every image
    (GenEval reading ``images``), value for value."""
    import json

    from tests.conftest import run_cli

    det, clip = _tiny_parts(tmp_path)
    suite = _suite(tmp_path, det, clip)
    seen: list[bool] = []
    compute = ge.GenEval.compute

    def spy(self: Any, samples: Any, *a: Any, **k: Any) -> Any:
        seen.append(samples.images is None and ge.VERDICT in samples.item_values)
        return compute(self, samples, *a, **k)

    def rows(out: str) -> list[dict[str, Any]]:
        code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / out), "--quiet", "--no-cache"], capsys)
        assert code == 0, err
        (run,) = list((tmp_path / out / "g").iterdir())
        got = [json.loads(line) for line in (run / "rows.jsonl").read_text().splitlines()]
        per = [json.loads((run / r["extras"].pop("per_sample_file")).read_text()) for r in got]
        for r in got:  # the wall time of generating (streamed: with the judging inside) is not a number of the run
            r["extras"] = {k: v for k, v in r["extras"].items() if not k.endswith("_seconds")}
        return [{k: r[k] for k in ("metric", "value", "ci_low", "ci_high", "n", "extras")} for r in got] + per

    featurized: list[str] = []
    import bench.tasks.base as tb
    dataset_features = tb.dataset_features
    monkeypatch.setattr(tb, "dataset_features", lambda ctx, task, ds, label: featurized.append(label) or
                        dataset_features(ctx, task, ds, label))
    with monkeypatch.context() as m:
        m.setattr(ge.GenEval, "compute", spy)
        streamed = rows("streamed")
    assert seen == [True] and featurized == []
    with monkeypatch.context() as m:  # the former path: every image held, judged at the end
        m.setattr(ge.GenEval, "requires", frozenset({"images", "texts"}))
        m.setattr(ge.GenEval, "item_measures", lambda self: {})
        held = rows("held")
    assert streamed == held
    assert [r["metric"] for r in streamed[:2]] == ["geneval_counting", "geneval_overall"]  # n: 3 counting prompts
    assert "geneval_reason" in json.dumps(streamed[2])


def test_fid_on_the_geneval_prompt_set_is_refused_in_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The geneval kind declares it has no images: validate refuses FID on it (one line at the metric's
    file:line, exit 2); GenEval itself validates."""
    from tests.conftest import run_cli

    suite = _suite(tmp_path, tmp_path / "m2f", "x")
    suite.write_text(suite.read_text() + "      fid: {}\n")
    code, out, err = run_cli(["validate", "--no-weights", str(suite)], capsys)
    assert code == 2
    lines = [line for line in (out + err).splitlines() if "prompt set with no images" in line]
    assert len(lines) == 1 and "metric 'fid'" in lines[0] and "g.yaml:" in lines[0], out + err
