"""A new user's steps (issue 30), replayed through the CLI: each one behaves as the user expects.

1. a real COCO results file (COCO image ids) scores in a captioning suite, and ``score captions --images`` gives
   CLIPScore in one command; 2. the CI gate fails on a degraded model's FID, not on a noisy throughput.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.results import RunDir
from tests.conftest import run_cli

COCO_IDS = [391895, 522418, 184613, 318219, 554625, 397133, 37777, 252219, 87038, 174482, 403385, 6818]


def _coco_files(tmp_path: Path) -> tuple[Path, Path, Path, list[str]]:
    """A COCO-format annotations file with COCO's own image ids, its image folder (shapes test scenes as JPEG-named
    PNG files, as val2014 names them) and a results file of the shapes captioner keyed by those ids."""
    from bench.shapes import world, zoo

    test = world.load("test")
    k = len(COCO_IDS)
    images = tmp_path / "val2014"
    images.mkdir()
    ann: dict = {"images": [], "annotations": []}
    for i, iid in enumerate(COCO_IDS):
        name = f"COCO_val2014_{iid:012d}.png"
        Image.fromarray(test.images[i].permute(1, 2, 0).numpy()).save(images / name)
        ann["images"].append({"id": iid, "file_name": name})
        ann["annotations"] += [{"image_id": iid, "id": 10 * i + j, "caption": c} for j, c in enumerate(test.captions[i])]
    net, _ = zoo.load("captioner")
    caps = net.caption(test.images[:k])  # type: ignore[operator]
    gt, res = tmp_path / "captions_val2014.json", tmp_path / "results.json"
    gt.write_text(json.dumps(ann))
    res.write_text(json.dumps([{"image_id": iid, "caption": c} for iid, c in zip(COCO_IDS, caps, strict=True)]))
    return gt, images, res, caps


def test_coco_results_with_coco_ids_score_in_a_suite_and_in_one_command(tmp_path: Path, capsys) -> None:
    gt, images, res, _ = _coco_files(tmp_path)
    suite = tmp_path / "coco-captions.yaml"
    suite.write_text(f"""name: coco-captions
seed: 0
datasets:
  coco-val: {{kind: coco-captions, path: {gt}, images: {images}}}
models:
  my-captioner: {{adapter: coco-results, args: {{path: {res}}}}}
tasks:
  - name: coco-captions
    kind: captioning
    reference: coco-val
    batch_size: 64
    backbone: shapes-clip
    metrics:
      coco_captions: {{meteor: false, spice: false}}
      clipscore: {{}}
""")
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err  # was: "image_id 100 is not in the annotations"-style failures on COCO ids
    (run,) = (tmp_path / "r" / "coco-captions").iterdir()
    rows = {r["metric"]: r for r in RunDir(run).rows()}
    # the same two files through `score captions`: the same numbers (ids kept end to end)
    code, out, err = run_cli(["score", "captions", "--gt", str(gt), "--res", str(res), "--no-meteor", "--no-spice",
                              "--images", str(images), "--backbone", "shapes-clip", "--json"], capsys)
    assert code == 0, err
    got = json.loads(out)
    for name, metric in (("BLEU-4", "bleu4"), ("CIDEr-D", "cider_d"), ("ROUGE-L", "rouge_l")):
        assert got["metrics"][name]["value"] == pytest.approx(rows[metric]["value"], abs=1e-9), name
    for name, metric in (("CLIP-S", "clip_s"), ("RefCLIP-S", "refclip_s")):
        assert got["metrics"][name]["value"] == pytest.approx(rows[metric]["value"], abs=1e-6), name
        assert got["metrics"][name]["value"] > 0
    assert got["clip_protocol"]["backbone"] == "shapes-clip"
    # the offline scorer on images that are not 32x32 shapes scenes says so, in the row and in the JSON
    assert "32x32 RGB scenes" in rows["clip_s"]["extras"]["backbone_warning"]
    assert "32x32 RGB scenes" in got["metrics"]["CLIP-S"]["extras"]["backbone_warning"]
    assert "backbone_warning" not in rows["bleu4"]["extras"]  # BLEU does not read the network
    # CLIP-S by hand: 2.5 * max(cos(image, "A photo depicts " + caption), 0) on the dataset's 224 px crops
    from bench.backbones.textimage import ShapesClipBackbone
    from bench.data.captioned import _image

    bb = ShapesClipBackbone()
    import torch

    ims = torch.from_numpy(np.stack([_image(images / f"COCO_val2014_{i:012d}.png") for i in COCO_IDS]))
    caps = {d["image_id"]: d["caption"] for d in json.loads(res.read_text())}
    im = bb.embed_images(ims)
    tx = bb.embed_texts(["A photo depicts " + caps[i] for i in COCO_IDS])
    cos = (im * tx).sum(1) / np.linalg.norm(im, axis=1) / np.linalg.norm(tx, axis=1)
    assert got["metrics"]["CLIP-S"]["value"] == pytest.approx(float((2.5 * np.clip(cos, 0, None)).mean()), abs=1e-5)


def test_score_captions_images_covers_only_the_results_images(tmp_path: Path, capsys) -> None:
    """`score captions` scores the images the results file captions; --images does the same (no error for the
    annotated images without a caption)."""
    gt, images, res, _ = _coco_files(tmp_path)
    res.write_text(json.dumps(json.loads(res.read_text())[:8]))
    code, out, err = run_cli(["score", "captions", "--gt", str(gt), "--res", str(res), "--no-meteor", "--no-spice",
                              "--images", str(images), "--backbone", "shapes-clip"], capsys)
    assert code == 0, err
    assert "8 images" in out and "CLIP-S" in out and "RefCLIP-S" in out
    # a missing image file is one line naming it, exit 2
    (images / f"COCO_val2014_{COCO_IDS[0]:012d}.png").unlink()
    code, _, err = run_cli(["score", "captions", "--gt", str(gt), "--res", str(res), "--no-meteor", "--no-spice",
                            "--images", str(images), "--backbone", "shapes-clip"], capsys)
    assert code == 2 and "Traceback" not in err and f"COCO_val2014_{COCO_IDS[0]:012d}.png" in err


SLOWING = '''
import time
import torch


class Slowing:
    """Each call sleeps 2 ms longer than the last: the repeats of a timing disagree, as on a loaded machine."""

    def __init__(self):
        self.calls = 0

    def generate(self, request):
        self.calls += 1
        time.sleep(0.002 * self.calls)
        g = torch.Generator().manual_seed(int(request.seeds[0]))
        return torch.randint(0, 256, (request.n, 1, 8, 8), generator=g, dtype=torch.uint8)
'''


def _ci_suite(components: int) -> str:
    return f"""name: ci
seed: 0
datasets:
  digits-train: {{kind: digits, split: train}}
  digits-test: {{kind: digits, split: test}}
models:
  gmm: {{adapter: digits-gmm, args: {{components: {components}, covariance: full}}}}
  slowing: {{adapter: python, args: {{target: "slowing:Slowing", range: "0,1"}}}}
tasks:
  - name: unconditional
    reference: digits-train
    models: [gmm]
    n: 300
    batch_size: 150
    backbone: digits
    metrics: {{fid: {{}}}}
  - name: speed
    kind: perf
    reference: digits-test
    models: [slowing]
    metrics: [perf]
    args: {{batch_sizes: [4], min_duration: 0.1, min_queries: 10, warmup: 1}}
check:
  metrics:
    fid: {{abs: 5, rel: 0.3, two_sided: true}}
    throughput: {{rel: 0.2}}
"""


def test_ci_gate_fails_on_fid_not_on_noisy_throughput(tmp_path: Path, capsys) -> None:
    (tmp_path / "slowing.py").write_text(SLOWING)
    suite = tmp_path / "ci.yaml"
    suite.write_text(_ci_suite(10))
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet", "--no-cache"], capsys)
    assert code == 0, err
    (run,) = (tmp_path / "r" / "ci").iterdir()
    thr = next(r for r in RunDir(run).rows() if r["metric"] == "throughput")
    assert "too noisy" in thr["extras"]["noisy"]
    code, out, err = run_cli(["baseline", "save", str(run), "ci", "--dir", str(tmp_path / "b")], capsys)
    assert code == 0, err
    # the noisy row is saved but marked, and the user is told at once
    assert "speed/slowing/throughput" in err and "will not gate on it" in err
    base = json.loads((tmp_path / "b" / "ci.json").read_text())
    assert next(b for b in base["rows"] if b["metric"] == "throughput")["noisy"]
    # the newcomer degrades the model: one Gaussian instead of ten
    suite.write_text(_ci_suite(1))
    code, out, err = run_cli(["check", str(suite), "--baseline", str(tmp_path / "b" / "ci.json"), "--out",
                              str(tmp_path / "r2"), "--quiet"], capsys)
    assert code == 1, err
    assert "FAIL: unconditional/gmm/fid" in err
    assert "FAIL: speed/slowing/throughput" not in err
    summary = out.split("| status |")[1]
    fid_line = next(line for line in summary.splitlines() if "| fid |" in line)
    assert fid_line.startswith("| FAIL |")
    thr_line = next(line for line in summary.splitlines() if "| throughput |" in line)
    assert "too noisy" in thr_line and not thr_line.startswith("| FAIL |")


def test_noisy_verdict_is_never_silent() -> None:
    """A noisy value outside its band is its own status with the reason; inside, it passes with a warning."""
    from types import SimpleNamespace

    from bench.check import evaluate, exit_code, junit_xml
    from bench.suite import CheckRule

    base = {"rows": [{"task": "speed", "model": "m", "metric": "throughput", "value": 766.9, "higher_is_better": True,
                      "protocol_id": "p", "noisy": "throughput of 5 repeats spreads 136% (range/median) > 10%"}],
            "protocols": {}}
    run = [{"task": "speed", "model": "m", "metric": "throughput", "value": 219.0, "higher_is_better": True,
            "protocol_id": "p", "extras": {}}]
    (v,) = evaluate(run, base, SimpleNamespace(metrics={"throughput": CheckRule(rel=0.2)}))
    assert v.status == "noisy" and "spreads 136%" in v.message and "NOT GATED" in v.message
    assert exit_code([v]) == 0 and "<skipped" in junit_xml([v], "s")


def test_contended_timing_is_flagged_even_with_tight_repeats() -> None:
    """A loaded machine slows every call alike (tight repeats): the run-queue wait shows it."""
    from bench.perf.timing import Measurement, run_queue_wait

    # schedstat readings (ns on a CPU, ns waiting): one working thread, one idle pool thread
    before = {"1": (0, 0), "2": (5, 7)}
    assert run_queue_wait(before, {"1": (240_000_000, 1_000_000), "2": (5, 7)}, 0.24) == pytest.approx(1 / 240)
    share = run_queue_wait(before, {"1": (260_000_000, 4_700_000_000), "2": (5, 7)}, 4.96)
    quiet = Measurement(1, [0.0116] * 20, [], contention=1 / 240)
    loaded = Measurement(1, [0.248] * 20, [], contention=share)
    assert quiet.noise_note() is None
    note = loaded.noise_note()
    assert note is not None and "waited for a CPU 95%" in note and "too noisy" in note
    assert Measurement(1, [0.01] * 5, []).noise_note() is None  # not measurable: nothing claimed


# ------------------------------------------------------------------ 3. warnings are part of the cached result


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    """run_cli with genbench's warnings appended to stderr, as the command line prints them (pytest records them)."""
    import warnings

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        code, out, err = run_cli(args, capsys)
    return code, out, err + "".join(f"genbench: warning: {w.message}\n" for w in got)


def _npz(path: Path, arr: np.ndarray) -> str:
    np.savez(path, arr_0=arr)
    return str(path)


def test_cached_call_warns_and_flags_as_the_first(tmp_path: Path, capsys, empty_cache: Path) -> None:
    rng = np.random.default_rng(0)
    a = _npz(tmp_path / "a.npz", rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8))
    b = _npz(tmp_path / "b.npz", rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8))
    from bench import sample_notes

    seen = []
    for _ in range(2):  # the second call reads its features from the cache
        sample_notes._MEMORY.clear()  # as a new process: what the first call saw is read from the disk cache
        code, out, err = _cli(["score", "images", a, b, "--protocol", "digits", "--json"], capsys)
        assert code == 0, err
        seen.append((err, json.loads(out)["metrics"]["fid"]["extras"]))
    for err, extras in seen:
        assert "trained on 8x8 grey digits" in err and "32x32" in err
        assert "trained on 8x8 grey digits" in extras["backbone_warning"]
        assert "--protocol tf-compat" not in err  # the hint names what `score images` really takes
    drop = [{k: v for k, v in e.items() if not k.endswith("_seconds")} for _, e in seen]
    assert drop[0] == drop[1]


def test_api_warns_on_every_call(tmp_path: Path, empty_cache: Path) -> None:
    import warnings

    import bench

    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8), rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    for _ in range(2):
        with warnings.catch_warnings(record=True) as got:
            bench.score_images(a, b, ["fid"], protocol="digits")
        assert any("trained on 8x8 grey digits" in str(w.message) for w in got)


def test_range_monitor_covers_files_and_range_flag(tmp_path: Path, capsys, empty_cache: Path) -> None:
    """A [0, 1] float file scored with --range=-1,1 is warned about and flagged, cached or not."""
    rng = np.random.default_rng(2)
    a = _npz(tmp_path / "a.npz", rng.random((60, 8, 8, 1)).astype(np.float32))  # values in [0, 1]
    b = _npz(tmp_path / "b.npz", rng.integers(0, 256, (60, 8, 8, 1), dtype=np.uint8))
    from bench import sample_notes

    for _ in range(2):
        sample_notes._MEMORY.clear()
        code, out, err = _cli(["score", "images", a, b, "--protocol", "digits", "--range=-1,1", "--json"], capsys)
        assert code == 0, err
        assert "never use the lower half" in err and "--range=0,1" in err
        assert "never use the lower half" in json.loads(out)["metrics"]["fid"]["extras"]["output_warning"]
    code, out, err = _cli(["score", "images", a, b, "--protocol", "digits", "--range=0,1", "--json"], capsys)
    assert code == 0 and "lower half" not in err
    assert "output_warning" not in json.loads(out)["metrics"]["fid"]["extras"]


def test_score_pairs_l1_does_not_warn_about_an_unused_network(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    for side in ("out", "gt"):
        (tmp_path / side).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / side / f"{i}.png")
    code, out, err = _cli(["score", "pairs", str(tmp_path / "out"), str(tmp_path / "gt"), "--l1", "--json"], capsys)
    assert code == 0, err
    assert "trained on" not in err and "--protocol" not in err
    assert "backbone_warning" not in json.loads(out)["metrics"]["l1"]["extras"]


# ------------------------------------------------------------------ 4. the report and LaTeX say what the table says


def _perf_rows() -> list[dict]:
    """Rows as a run writes them: a sweep of two points with FID, and a speed task, one point's timing noisy."""
    rows = []
    for comp, fid, thr, noisy in ((2, 40.0, 900.0, "throughput of 5 repeats spreads 136% (range/median) > 10%"),
                                  (10, 30.0, 500.0, None), (20, 35.0, 300.0, None)):
        model = f"gmm[components={comp}]"
        rows.append({"run_id": "r", "task": "u", "model": model, "metric": "fid", "value": fid, "ci_low": None,
                     "ci_high": None, "higher_is_better": False, "unit": "", "protocol_id": "p1", "n": 100,
                     "extras": {}})
        ex = {"best_batch_size": 64, "noisy": noisy} if noisy else {"best_batch_size": 64}
        rows.append({"run_id": "r", "task": "speed", "model": model, "metric": "throughput", "value": thr,
                     "ci_low": thr * 0.9, "ci_high": thr * 1.1, "higher_is_better": True, "unit": "items/s",
                     "protocol_id": "p2", "n": 10, "extras": ex})
        rows.append({"run_id": "r", "task": "speed", "model": model, "metric": "step_ms", "value": 0.0000123 * comp,
                     "ci_low": None, "ci_high": None, "higher_is_better": False, "unit": "ms", "protocol_id": "p2",
                     "n": 10, "extras": {"batch_size": 64}})
    return rows


def test_tables_never_crown_a_noisy_number_and_say_units_and_batch_sizes() -> None:
    from bench.tables import html_tables, leaderboards, to_latex

    rows = _perf_rows()
    (speed,) = [lb for lb in leaderboards(rows) if lb["task"] == "speed"]
    assert speed["best"]["throughput"] == {"gmm[components=10]"}  # 900 is higher, but noisy
    html = html_tables(rows)
    assert "throughput (items/s) ↑" in html and "@bs 64" in html and "(noisy)" in html
    assert 'class="noisy" title="throughput of 5 repeats spreads 136%' in html
    assert "step_ms (ms, bs 64) ↓" in html
    tex = to_latex(rows)
    assert r"throughput (items/s) $\uparrow$" in tex and "step time (ms, bs 64)" in tex
    assert "FID" in tex and "step_ms" not in tex and "e-0" not in tex
    assert r"$2.46\times10^{-4}$" in tex  # 0.000246 ms, not 2.460e-04
    line = next(x for x in tex.splitlines() if x.startswith("gmm[components=2]") and "(noisy)" in x)
    assert r"900 $\pm$ 90 @bs 64 (noisy)" in line and r"\textbf{900" not in tex
    assert r"\textbf{500" in tex


def test_sweep_plot_labels_every_point_and_never_rings_a_noisy_one() -> None:
    from bench.report import sweep_plots

    plots = dict(sweep_plots(_perf_rows()))
    svg = next(v for k, v in plots.items() if k.startswith("Sweep: fid vs throughput"))
    labels = re.findall(r'<text class="point-label"[^>]*>([^<]+)</text>', svg)
    assert sorted(labels) == ["components=10", "components=2 (noisy)", "components=20"]
    assert re.findall(r"<title>best: ([^<]+)</title>", svg) == ["components=10"]  # FID 40 point is noisy... and worse
    assert "throughput (items/s, bs 64) ↑" in svg


def test_report_head_outside_a_repository(tmp_path: Path, capsys) -> None:
    from bench.report import build_report

    suite = tmp_path / "s.yaml"
    suite.write_text("""name: s
seed: 0
datasets: {train: {kind: digits, split: train}}
models:
  gmm:
    adapter: digits-gmm
    args: {covariance: full}
    sweep: {components: [2, 10]}
output: {grid: 0}
tasks:
  - {name: u, reference: train, n: 100, batch_size: 100, metrics: [fid, isc]}
""")
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)  # outside any git repository
    try:
        code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet", "--no-cache"], capsys)
    finally:
        os.chdir(cwd)
    assert code == 0, err
    (run,) = (tmp_path / "r" / "s").iterdir()
    html = build_report([run], tmp_path / "site").read_text()
    assert "git None" not in html
    _screenshot_shows_sweep_labels(tmp_path / "site" / "index.html", tmp_path, ["components=2", "components=10"])


def _screenshot_shows_sweep_labels(page: Path, tmp_path: Path, labels: list[str]) -> None:
    """The sweep points' parameter values are drawn on the page (not hover text): Chromium's rendered DOM holds
    them as visible SVG text inside the plot's frame, and a screenshot is kept in test-artifacts/."""
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}",
            "--virtual-time-budget=3000"]
    # measure each label's box in the rendered page: present, non-empty, inside its SVG
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", """<script>
const out = [];
document.querySelectorAll('svg.plot').forEach(svg => { const f = svg.getBoundingClientRect();
  svg.querySelectorAll('text.point-label').forEach(t => { const b = t.getBoundingClientRect();
    out.push([t.textContent, b.width > 0 && b.left >= f.left && b.right <= f.right && b.top >= f.top
              && b.bottom <= f.bottom]); }); });
document.body.dataset.labels = JSON.stringify(out);
</script></body>"""))
    dom = subprocess.run([*base, "--dump-dom", probe.resolve().as_uri()], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    import html as _html

    got = json.loads(_html.unescape(re.search(r'data-labels="([^"]*)"', dom.stdout).group(1)))  # type: ignore[union-attr]
    for want in labels:
        boxes = [inside for text, inside in got if text == want]
        assert boxes and all(boxes), (want, got)
    from tests.test_report import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report-sweep.png"
    shot.unlink(missing_ok=True)
    res = subprocess.run([*base, "--hide-scrollbars", "--window-size=1280,2200", f"--screenshot={shot}",
                          page.resolve().as_uri()], capture_output=True, text=True, timeout=90)
    assert res.returncode == 0 and shot.stat().st_size > 10_000


# ------------------------------------------------------------------ 6. weights where other tools' users have them


def test_weights_found_in_pytorch_fid_and_clean_fid_places_after_a_hash_check(tmp_path: Path, monkeypatch, capsys) -> None:
    import hashlib
    import tempfile

    from bench.weights import WeightsFile, is_present, resolve, sha256_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    blob = b"the published inception bytes"
    spec = WeightsFile(name="inc", filename="weights-inc-1234.pth", url=None, sha256=hashlib.sha256(blob).hexdigest(),
                       aliases=("pt_inc-1234.pth",))
    assert not is_present(spec)
    (hub / "pt_inc-1234.pth").write_bytes(blob)  # pytorch-fid's name for the same bytes
    r = resolve(spec, download=False)
    assert r.source == "torch-hub" and r.path == hub / "pt_inc-1234.pth"
    (hub / "pt_inc-1234.pth").unlink()
    (tmp_path / "tmp" / "weights-inc-1234.pth").write_bytes(b"planted bytes")  # same name, other bytes: refused
    sha256_file.__globals__["_HASH_MEMO"].clear()
    assert not is_present(spec)
    (tmp_path / "tmp" / "weights-inc-1234.pth").write_bytes(blob)
    sha256_file.__globals__["_HASH_MEMO"].clear()
    assert resolve(spec, download=False).source == "clean-fid"
    # the real Inception spec knows pytorch-fid's file name
    from bench.backbones.inception import INCEPTION_PTH

    assert "pt_inception-2015-12-05-6726825d.pth" in INCEPTION_PTH.aliases


def test_offline_hub_model_is_refused_by_run_before_any_work(tmp_path: Path, monkeypatch, capsys) -> None:
    import shutil

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")
    suite = tmp_path / "hub.yaml"
    suite.write_text("""name: hub
datasets: {train: {kind: digits, split: train}}
models: {ddpm: {adapter: diffusers, args: {pretrained: google/ddpm-cifar10-32}}}
tasks: [{name: u, reference: train, n: 8, metrics: [fid]}]
""")
    assert run_cli(["validate", str(suite), "--no-weights"], capsys)[0] == 0  # the suite itself is fine offline
    code, _, err = run_cli(["run", str(suite), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "(hf download google/ddpm-cifar10-32)" in err and "huggingface-cli" not in err
    assert "loading reference" not in err  # refused before the reference is read
    assert "give a local save_pretrained folder" in err  # whole, not cut mid-sentence
    import sys

    assert shutil.which("hf", path=str(Path(sys.executable).parent)), "the pinned huggingface_hub ships `hf`"


# ------------------------------------------------------------------ 7. the smaller trips


def test_ls_adapters_whole_sentences_and_one_adapters_arguments(capsys) -> None:
    code, out, _ = run_cli(["ls", "adapters"], capsys)
    assert code == 0
    for line in out.splitlines():
        desc = line[34:].split("  [")[0].rstrip()
        assert not desc or desc.endswith((".", "!", "?", ")")), line  # a sentence, not cut mid-way
    code, out, _ = run_cli(["ls", "adapters", "python"], capsys)
    assert code == 0
    assert "target: str (required)" in out and "range: str | list[float] (default '-1,1')" in out
    assert "kwargs: dict (default {})" in out
    code, _, err = run_cli(["ls", "adapters", "pyton"], capsys)
    assert code == 2 and "did you mean 'python'" in err


def test_errors_once_and_quiet_is_quiet(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("""name: s
seed: 0
datasets: {train: {kind: digits, split: train}}
models:
  good: {adapter: noise, args: {shape: [1, 8, 8]}}
  missing: {adapter: npz, args: {path: nowhere.npz}}
output: {grid: 0}
tasks:
  - {name: u, reference: train, n: 50, batch_size: 50, metrics: [fid]}
""")
    (tmp_path / "nowhere.npz").write_bytes(b"not an npz")
    code, out, err = run_cli(["run", str(suite), "--out", str(tmp_path / "r"), "--quiet", "--no-cache"], capsys)
    assert code == 2
    lines = [x for x in err.splitlines() if "nowhere.npz" in x]
    assert len(lines) == 1 and lines[0].startswith("genbench: error:")  # once, not twice
    assert "[u] good:" not in err  # --quiet: no per-model progress lines; the table is on stdout
    assert "| good" in out


def test_third_party_warnings_are_not_genbenchs() -> None:
    from bench.cli import _one_line_warning

    torch_file = "/x/.venv/lib/python3.11/site-packages/torch/nn/modules/module.py"
    line = _one_line_warning(FutureWarning("torch says"), FutureWarning, torch_file, 12)
    assert not line.startswith("genbench:") and "torch/nn/modules/module.py:12" in line and "not genbench's" in line
    import bench.check as ours

    assert _one_line_warning(UserWarning("ours"), UserWarning, ours.__file__, 1) == "genbench: warning: ours\n"


def test_compare_maps_model_names_between_runs(tmp_path: Path, capsys) -> None:
    base = """name: c
seed: 0
datasets: {{train: {{kind: digits, split: train}}}}
models:
  {name}: {{adapter: digits-gmm, args: {{components: 5, covariance: full}}}}
output: {{grid: 0}}
tasks:
  - {{name: u, reference: train, n: 100, batch_size: 100, metrics: [fid]}}
"""
    runs = []
    for name in ("gmm-old", "gmm-new"):
        (tmp_path / f"{name}.yaml").write_text(base.format(name=name))
        assert run_cli(["run", str(tmp_path / f"{name}.yaml"), "--out", str(tmp_path / name), "--quiet"], capsys)[0] == 0
        runs.append(str(next((tmp_path / name / "c").iterdir())))
    code, _, err = run_cli(["compare", *runs], capsys)
    assert code == 2 and "share no (task, model, metric)" in err
    code, out, err = run_cli(["compare", *runs, "--map", "gmm-old=gmm-new"], capsys)
    assert code == 0, err
    assert "| u | gmm-old→gmm-new | fid" in out
    code, _, err = run_cli(["compare", *runs, "--map", "gmm-old=gmm-nwe"], capsys)
    assert code == 2 and "no model 'gmm-nwe'" in err and "did you mean 'gmm-new'" in err


def test_static_batch_export_refused_by_validate(tmp_path: Path, capsys) -> None:
    import torch

    class G(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(8, 64)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.lin(z)).view(-1, 1, 8, 8)

    torch.export.save(torch.export.export(G(), (torch.randn(4, 8),)), tmp_path / "static.pt2")
    torch.export.save(torch.export.export(G(), (torch.randn(4, 8),), dynamic_shapes=({0: torch.export.Dim("batch")},)),
                      tmp_path / "dynamic.pt2")
    for name, ok in (("static", False), ("dynamic", True)):
        suite = tmp_path / f"{name}.yaml"
        suite.write_text(f"""name: e
datasets: {{train: {{kind: digits, split: train}}}}
models: {{g: {{adapter: export, args: {{path: {name}.pt2, latent_dim: 8}}}}}}
tasks: [{{name: u, reference: train, n: 10, batch_size: 5, metrics: [fid]}}]
""")
        code, _, err = run_cli(["validate", str(suite)], capsys)
        if ok:
            assert code == 0, err
        else:
            assert code == 2 and "static.yaml:3: models.g.args.path:" in err and "static batch size of 4" in err


# ------------------------------------------------------------------ 5. install: what CI runs is what the README says


def test_ci_installs_the_tested_versions_and_the_readme_has_a_cpu_recipe() -> None:
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    workflow = (ROOT / ".github/workflows/genbench-check.yml").read_text()
    installs = [line for line in workflow.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert installs and all("-c constraints.txt" in line for line in installs)
    recipe = (ROOT / "docs/reports-and-ci.md").read_text()  # the CI recipe moved there from the README (issue 34)
    snippet = recipe[recipe.index("The CI recipe"):]
    snippet = snippet[: snippet.index("```", snippet.index("```yaml") + 7)]
    assert all("-c constraints.txt" in line for line in snippet.splitlines() if "pip install" in line)
    assert "--index-url https://download.pytorch.org/whl/cpu torch torchvision" in readme  # CPU-only recipe
    assert "CPU time" in readme
