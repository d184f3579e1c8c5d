"""The HTML report's dissection section: per dissected (task, model), the unit × concept IoU heat-map, the
ablation curves (k best units vs k random units), the per-concept numbers and the before/after grids.

Read from each run folder's ``dissection/<task>/<model>/summary.json`` (bench.dissection.outputs); a run without
one contributes nothing, so the section is absent from reports of other suites.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from bench.dissection.outputs import FOLDER, read


def heatmap(summary: dict[str, Any], cell: int = 14) -> str:
    """Units (rows, grouped by their best concept, best IoU first) × concepts (columns) as an SVG; darker = higher
    IoU, relative to the table's largest; interpretable units' labels in bold."""
    concepts: list[str] = summary["concepts"]
    iou: list[list[float]] = summary["iou"]
    interp: list[bool] = summary["interpretable"]
    top = max((x for row in iou for x in row), default=0.0) or 1.0
    order = sorted(range(len(iou)), key=lambda u: (max(range(len(concepts)), key=lambda c: iou[u][c]),
                                                   -max(iou[u]) if iou[u] else 0))
    left, head = 40, 60
    w, h = left + cell * len(concepts) + 60, head + cell * len(order) + 4
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}" role="img" aria-label="unit by concept IoU">']
    for c, name in enumerate(concepts):
        x = left + c * cell + cell / 2
        out.append(f'<text x="{x:.1f}" y="{head - 4}" font-size="10" transform="rotate(-60 {x:.1f} {head - 4})">'
                   f'{escape(name)}</text>')
    for r, u in enumerate(order):
        y = head + r * cell
        weight = "bold" if interp[u] else "normal"
        out.append(f'<text x="{left - 4}" y="{y + cell - 3}" font-size="9" text-anchor="end" font-weight="{weight}">'
                   f'{u}</text>')
        for c, name in enumerate(concepts):
            v = iou[u][c]
            shade = int(255 - 225 * min(1.0, v / top))
            out.append(f'<rect x="{left + c * cell}" y="{y}" width="{cell}" height="{cell}" '
                       f'fill="rgb({shade},{shade},255)"><title>unit {u}, {escape(name)}: IoU {v:.3f}</title></rect>')
    out.append(f'<text x="{left + cell * len(concepts) + 4}" y="{head + 10}" font-size="10">max {top:.2f}</text>')
    out.append("</svg>")
    return "".join(out)


def _uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _ci(d: dict[str, Any] | None) -> str:
    if not d or d.get("value") is None:
        return "—"
    s = f"{d['value']:.3f}"
    if d.get("ci_low") is not None and d.get("ci_high") is not None:
        s += f' <span class="ci">[{d["ci_low"]:.3f}, {d["ci_high"]:.3f}]</span>'
    return s


def _one(folder: Path, summary: dict[str, Any], svg_plot: Callable[..., str]) -> str:
    concepts: list[str] = summary["concepts"]
    detail: dict[str, Any] = summary["concepts_detail"]
    fid = summary.get("fid") or {}
    n_int = sum(summary["interpretable"])
    shape = "×".join(str(s) for s in summary["layer_shape"][1:]) or "no locations"
    cfg = summary["config"]
    rows = []
    for c in concepts:
        d = detail[c]
        best = ", ".join(f"{u} ({v:.2f})" for u, v in d["best_units"])
        fchange = f"{fid[c] - fid['']:+.2f}" if c in fid and "" in fid else "—"
        rows.append(f"<tr><td>{escape(c)}</td><td>{d['fraction']:.3f}</td><td>{best}</td><td>{_ci(d.get('drop'))}</td>"
                    f"<td>{_ci(d.get('random_drop'))}</td><td>{_ci(d.get('gain'))}</td>"
                    f"<td>{_ci(d.get('random_gain'))}</td><td>{fchange}</td></tr>")
    table = ("<table class=\"leaderboard\"><thead><tr><th>concept</th><th>pixel fraction</th><th>best units (IoU)</th>"
             f"<th>concept_drop (k={cfg['top_k']})</th><th>random_drop</th><th>concept_gain</th><th>random_gain</th>"
             f"<th>FID change</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    curves = []
    for c, cur in summary.get("curves", {}).items():
        series = {"best units": [(float(k), v, f"k={k}") for k, v in cur["targeted"].items()],
                  "random units": [(float(k), v, f"k={k}") for k, v in cur["random"].items()]}
        curves.append(f"<figure><figcaption>{escape(c)}: drop vs units ablated</figcaption>"
                      f"{svg_plot(series, 'units ablated k', 'relative drop', lines=True, width=300, height=210)}"
                      "</figure>")
    grids = []
    for c, g in summary.get("grids", {}).items():
        for what, rel in g.items():
            p = folder / rel
            if p.is_file():
                label = f"{c}: {'ablated' if what == 'ablate' else 'inserted (grey box)'} — before (top), after (bottom)"
                grids.append(f'<figure><img class="grid dissection" alt="{escape(label)}" src="{_uri(p)}">'
                             f"<figcaption>{escape(label)}</figcaption></figure>")
    fid_line = f"; FID of the unedited samples {fid['']:.2f}" if "" in fid else ""
    return (f"<h3>{escape(str(summary.get('task')))} / {escape(str(summary.get('model')))} — layer "
            f"<code>{escape(summary['layer'])}</code> ({summary['units']} units, {shape})</h3>"
            f"<p>{n_int} of {summary['units']} units interpretable (IoU &gt; {cfg['iou_threshold']}, threshold at the "
            f"top {cfg['quantile'] * 100:g}% of each unit){fid_line}.</p>"
            f"<div class=\"plots\"><figure><figcaption>unit × concept IoU</figcaption>{heatmap(summary)}</figure></div>"
            f"{table}<div class=\"plots\">{''.join(curves)}</div><div class=\"grids\">{''.join(grids)}</div>")


def section(run_paths: list[Path], svg_plot: Callable[..., str]) -> str:
    """The report's "Dissection" section for these run folders ("" when none holds a dissection); ``svg_plot`` is
    bench.report's line plot (passed in: this module is imported by bench.report, not the other way)."""
    parts = []
    for run in run_paths:
        for summary_path in sorted((run / FOLDER).glob("*/*/summary.json")):
            summary = read(summary_path)
            if summary is None:
                parts.append(f'<p class="skip">skipped: {escape(str(summary_path))} is not readable</p>')
                continue
            parts.append(_one(summary_path.parent, summary, svg_plot))
    if not parts:
        return ""
    return ("<h2>Dissection</h2><p>GAN Dissection (Bau et al., ICLR 2019): IoU of each unit's top-quantile "
            "activation region with each concept's segmented mask; ablation sets a concept's best units to 0, "
            "insertion sets them to their &quot;on&quot; level in a window (docs/dissection.md).</p>" + "".join(parts))
