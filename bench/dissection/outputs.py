"""What a dissection leaves in the run folder, under ``dissection/<task>/<model>/``:

- ``units.csv``: one row per unit: its threshold, best concept and IoU, and its IoU with every concept (the
  unit × concept table);
- ``ablation.csv``: one row per (concept, k, targeted | random): the relative drop of the concept's pixels;
- ``grids/ablate-<concept>.png`` and ``grids/insert-<concept>.png``: the first samples that show the concept
  (ablation) or the first samples (insertion), before (top row) and after (bottom row);
- ``summary.json``: all of it in one file, for the HTML report (bench.dissection.report).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch

from bench.dissection.study import StudyResult
from bench.images import make_grid, save_png
from bench.results import atomic_write_text

FOLDER = "dissection"


def folder(run_path: Path, task: str, model: str) -> Path:
    return run_path / FOLDER / task / model


def _csv(rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _pair_grid(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Before on the top row, after below, small images upscaled to about 64 px."""
    k = before.shape[0]
    return make_grid(torch.cat([before, after]), ncol=max(k, 1), scale=max(1, 64 // max(before.shape[-1], 1)))


def _outline(images: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
    """Images with the border of each sample's window drawn in grey (the insertion's place); ``windows`` is at the
    masks' size, resized (nearest) to the images' when they differ."""
    if tuple(windows.shape[-2:]) != tuple(images.shape[-2:]):
        windows = torch.nn.functional.interpolate(windows[:, None].float(), size=tuple(images.shape[-2:]),
                                                  mode="nearest")[:, 0] > 0
    out = images.clone()
    for i in range(images.shape[0]):
        ys, xs = torch.nonzero(windows[i], as_tuple=True)
        if not len(ys):
            continue
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
        for y, x in ((slice(y0, y1 + 1), x0), (slice(y0, y1 + 1), x1), (y0, slice(x0, x1 + 1)), (y1, slice(x0, x1 + 1))):
            out[i, :, y, x] = 128
    return out


def write(result: StudyResult, run_path: Path, task: str, model: str, *, layer: str, grid: int,
          extra: dict[str, Any]) -> Path:
    """Write the files above; returns the folder."""
    out = folder(run_path, task, model)
    (out / "grids").mkdir(parents=True, exist_ok=True)
    best = result.best_concept()
    rows: list[list[Any]] = [["unit", "threshold", "best_concept", "best_iou", *[f"iou_{c}" for c in result.concepts]]]
    for u in range(result.units):
        rows.append([u, f"{float(result.thresholds[u]):.6g}", best[u][0], f"{best[u][1]:.6f}",
                     *[f"{float(x):.6f}" for x in result.iou[u]]])
    atomic_write_text(out / "units.csv", _csv(rows))
    ab: list[list[Any]] = [["concept", "k", "units", "drop"]]
    for name, res in result.per_concept.items():
        for k, d in sorted(res.curve.items()):
            ab.append([name, k, "targeted", f"{d:.6f}"])
            ab.append([name, k, "random", f"{result.random_curve[k][name]:.6f}"])
    atomic_write_text(out / "ablation.csv", _csv(ab))
    grids: dict[str, dict[str, str]] = {}
    images = result.images
    for name, res in result.per_concept.items():
        g: dict[str, str] = {}
        if res.ablated is not None:
            # the samples that show the concept most, in sample order
            frac = result.sample_fractions[:, result.concepts.index(name)].tolist()
            shown = sorted(sorted(range(len(frac)), key=lambda i: -frac[i])[:grid])
            p = out / "grids" / f"ablate-{name}.png"
            save_png(_pair_grid(images[shown], res.ablated[shown]), p)
            g["ablate"] = str(p.relative_to(out))
        if res.inserted is not None and res.windows is not None:
            p = out / "grids" / f"insert-{name}.png"
            save_png(_pair_grid(_outline(images[:grid], res.windows[:grid]),
                                _outline(res.inserted[:grid], res.windows[:grid])), p)
            g["insert"] = str(p.relative_to(out))
        grids[name] = g
    summary = {
        "layer": layer, "units": result.units, "layer_shape": list(result.layer_shape),
        "concepts": list(result.concepts), "config": {**result.config.__dict__, "curve": list(result.config.curve)},
        "thresholds": [float(t) for t in result.thresholds],
        "iou": [[round(float(x), 6) for x in row] for row in result.iou],
        "interpretable": [bool(x) for x in result.interpretable],
        "curves": {name: {"targeted": {str(k): v for k, v in sorted(res.curve.items())},
                          "random": {str(k): result.random_curve[k][name] for k in sorted(res.curve)}}
                   for name, res in result.per_concept.items() if res.curve},
        "random_units": {str(k): v for k, v in result.random_units.items()},
        "concepts_detail": {name: {"fraction": res.fraction, "best_units": res.best_units, "top_units": res.top_units,
                                   **{key: None if est is None else {"value": est.value, "ci_low": est.ci_low,
                                                                     "ci_high": est.ci_high}
                                      for key, est in (("drop", res.drop), ("random_drop", res.random_drop),
                                                       ("gain", res.gain), ("random_gain", res.random_gain))}}
                            for name, res in result.per_concept.items()},
        "grids": grids,
        **extra,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    return out


def read(path: Path) -> dict[str, Any] | None:
    """A ``summary.json`` (None when absent or unreadable: the report skips it with a note)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None
