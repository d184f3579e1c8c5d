"""``genbench score captions`` through ``bench.cli.main``: exit codes, JSON shape, values equal pycocoevalcap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.text.caption_scores import METRIC_NAMES, PYCOCOEVALCAP_NAMES
from bench.text.reference import pycocoevalcap_scores
from bench.text.synthetic import synthetic_captions

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="needs Java for the PTB tokenizer")


def _write(tmp: Path, name: str, obj: object) -> str:
    p = tmp / name
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return str(p)


def test_json_and_per_image_equal_pycocoevalcap(tmp_path: Path, capsys) -> None:
    s = synthetic_captions(120, seed=8)
    gt = _write(tmp_path, "ann.json", s.coco_annotations())
    res = _write(tmp_path, "res.json", s.coco_results())
    per_file = tmp_path / "per.json"
    rc = main(["score", "captions", "--gt", gt, "--res", res, "--json", "--no-meteor", "--per-image", str(per_file)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    corpus, per = pycocoevalcap_scores(s.refs, s.hyps, meteor=False)
    assert out["n_images"] == 120 and list(out["metrics"]) == list(METRIC_NAMES)
    for name, m in out["metrics"].items():
        if name in ("METEOR", "SPICE"):
            assert m["available"] is False and m["value"] is None and m["reason"]
        else:
            assert m["available"] is True and m["value"] == pytest.approx(corpus[PYCOCOEVALCAP_NAMES[name]],
                                                                           abs=1e-12, rel=0)
    rows = json.loads(per_file.read_text())
    assert [r["image_id"] for r in rows] == list(s.refs)
    assert rows[5]["CIDEr-D"] == per[6]["CIDEr"] and rows[5]["BLEU-2"] == per[6]["Bleu_2"]


@pytest.mark.parametrize("gt,res,message", [
    ("{not json", [], "ann.json: invalid JSON"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1}]}, [], "annotations[0]: missing key 'caption'"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": " "}]}, [], "empty caption"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": "a dog"}]},
     [{"image_id": 2, "caption": "a cat"}], "res.json: item [0]: image_id 2 is not in the annotations"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": "a dog"}]},
     [{"image_id": 1, "caption": "a cat"}, {"image_id": 1, "caption": "a dog"}],
     "item [1]: second caption for image_id 1"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": "a dog"}]}, [{"caption": "x"}],
     "item [0]: missing key 'image_id'"),
    ({"images": [{"id": 1}], "annotations": [{"image_id": 1, "caption": "a dog"}]}, "[oops", "res.json: invalid JSON"),
])
def test_bad_input_exits_2_with_one_clear_line(tmp_path: Path, capsys, gt, res, message) -> None:
    g = _write(tmp_path, "ann.json", gt)
    r = _write(tmp_path, "res.json", res)
    assert main(["score", "captions", "--gt", g, "--res", r, "--no-meteor"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_results_missing_some_images_are_scored_on_the_rest_and_said_so(tmp_path: Path, capsys) -> None:
    s = synthetic_captions(120, seed=8)
    gt = _write(tmp_path, "ann.json", s.coco_annotations())
    res = _write(tmp_path, "res.json", s.coco_results()[:100])  # 20 images without a caption
    assert main(["score", "captions", "--gt", gt, "--res", res, "--json", "--no-meteor"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["n_images"] == 100
    msg = "20 of 120 annotated images have no caption in the results"
    assert any(msg in w for w in out["warnings"]) and f"genbench: warning: {msg}" in captured.err
