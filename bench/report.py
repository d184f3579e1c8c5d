"""The static HTML leaderboard: one self-contained file that opens from the file system.

Everything is inline — sample grids as base64 ``data:`` URIs, plots as SVG generated here, sorting as a few lines
of JavaScript — so the page needs no server, no network and no plotting dependency. Tables come from
:func:`bench.tables.html_tables` (one per task and protocol: numbers of different protocols are never ranked
together). A plot whose data does not exist in the runs (no speed rows, one sample count only) is skipped with a
note instead of failing.
"""

from __future__ import annotations

import base64
import math
from html import escape
from pathlib import Path
from typing import Any

from bench.results import RunSet, atomic_write_text, open_runs
from bench.tables import html_tables, load_runs

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]

Point = tuple[float, float, str]  # x, y, label


def _ticks(lo: float, hi: float, k: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / k))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= k:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def svg_plot(series: dict[str, list[Point]], xlabel: str, ylabel: str, *, lines: bool = False,
             front: list[tuple[float, float]] | None = None, width: int = 420, height: int = 300,
             marked: set[str] | None = None, labels: bool | None = None, hollow: set[str] | None = None) -> str:
    """A scatter (or line) plot as inline SVG; ``front`` draws a dashed polyline (the Pareto front); points whose
    label is in ``marked`` get a ring (the best point of a sweep), those in ``hollow`` an open circle (noisy or
    flagged: shown, never best). ``labels`` (default: scatter plots) writes each point's label beside it, so a
    screenshot or a printed page can be read without hovering; labels near the right edge are written leftwards,
    never clipped."""
    pts = [p for s in series.values() for p in s if math.isfinite(p[0]) and math.isfinite(p[1])]
    if not pts:
        return ""
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    padx, pady = (x1 - x0) * 0.08 or abs(x0) * 0.1 or 1.0, (y1 - y0) * 0.08 or abs(y0) * 0.1 or 1.0
    x0, x1, y0, y1 = x0 - padx, x1 + padx, y0 - pady, y1 + pady
    L, R, T, B = 56, 12, 12, 40

    def sx(x: float) -> float:
        return L + (x - x0) / (x1 - x0) * (width - L - R)

    def sy(y: float) -> float:
        return height - B - (y - y0) / (y1 - y0) * (height - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(ylabel)} vs {escape(xlabel)}">',
           f'<rect x="{L}" y="{T}" width="{width - L - R}" height="{height - T - B}" fill="none" stroke="#999"/>']
    for t in _ticks(x0, x1):
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{height - B}" y2="{height - B + 4}" stroke="#999"/>'
                   f'<text x="{sx(t):.1f}" y="{height - B + 16}" font-size="10" text-anchor="middle">{t:.4g}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{L - 4}" x2="{L}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#999"/>'
                   f'<text x="{L - 6}" y="{sy(t) + 3:.1f}" font-size="10" text-anchor="end">{t:.4g}</text>')
    # axis titles shrink to fit their axis (a long one was cut at the SVG's edge): ~0.6 em per character
    fx, fy = (min(12.0, (span - 4) / (0.6 * max(len(t), 1))) for t, span in ((xlabel, width - L - R + 40),
                                                                              (ylabel, height - T - B + 20)))
    out.append(f'<text x="{(L + width - R) / 2}" y="{height - 6}" font-size="{fx:.1f}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
    out.append(f'<text x="14" y="{(T + height - B) / 2}" font-size="{fy:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(T + height - B) / 2})">{escape(ylabel)}</text>')
    if front and len(front) > 1:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in front)
        out.append(f'<polyline class="pareto" points="{path}" fill="none" stroke="#555" stroke-dasharray="4 3"/>')
    for i, s in enumerate(series.values()):
        color = PALETTE[i % len(PALETTE)]
        s = sorted(s)
        if lines and len(s) > 1:
            out.append(f'<polyline points="{" ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in s)}" fill="none" '
                       f'stroke="{color}"/>')
        for x, y, label in s:
            fill = "white" if hollow and label in hollow else color
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{fill}" stroke="{color}"><title>'
                       f'{escape(label)}: {escape(xlabel)} {x:.4g}, {escape(ylabel)} {y:.4g}</title></circle>')
            if marked and label in marked:
                out.append(f'<circle class="best" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="8" fill="none" '
                           f'stroke="{color}" stroke-width="2"><title>best: {escape(label)}</title></circle>')
            if labels if labels is not None else not lines:
                right = sx(x) > width - R - 6.5 * len(label) - 8  # would run past the frame: write it leftwards
                out.append(f'<text class="point-label" x="{sx(x) + (-7 if right else 7):.1f}" y="{sy(y) - 6:.1f}" '
                           f'font-size="10" text-anchor="{"end" if right else "start"}" fill="{color}">'
                           f'{escape(label)}</text>')
    if lines:
        for i, name in enumerate(series):
            out.append(f'<text x="{width - R - 4}" y="{T + 14 + 13 * i}" font-size="10" text-anchor="end" '
                       f'fill="{PALETTE[i % len(PALETTE)]}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def pareto_front(points: list[tuple[float, float]], maximize_x: bool, minimize_y: bool) -> list[tuple[float, float]]:
    """Points not dominated by any other (better or equal on both axes, strictly better on one), sorted by x."""
    def better(a: tuple[float, float], b: tuple[float, float]) -> bool:
        ax, bx = (a[0], b[0]) if maximize_x else (-a[0], -b[0])
        ay, by = (-a[1], -b[1]) if minimize_y else (a[1], b[1])
        return ax >= bx and ay >= by and (ax > bx or ay > by)

    return sorted(p for p in points if not any(better(q, p) for q in points if q != p))


def _by(rows: list[dict[str, Any]], metric: str) -> dict[tuple[str, str, Any], dict[str, Any]]:
    return {(r["task"], r["model"], r.get("protocol_id")): r for r in rows if r["metric"] == metric and r.get("value") is not None}


def plots(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``[(title, svg or a note)]`` for the four standard plots, each skipped gracefully when its data is absent."""
    out: list[tuple[str, str]] = []
    fid = _by(rows, "fid")
    # quality vs speed: the perf task's offline throughput for the same model (its own task and protocol, so
    # joined by model name), else the generation time recorded by the runner
    perf = {r["model"]: r for r in rows if r["metric"] == "throughput" and r.get("value") is not None}
    thr = {k: perf[k[1]] for k in fid if k[1] in perf}
    speed_note = "throughput (items/s, perf task)"
    if not thr:
        thr = {k: {"value": r["n"] / r["extras"]["generation_seconds"]} for k, r in fid.items()
               if (r.get("extras") or {}).get("generation_seconds")}
        speed_note = "generation rate (img/s, from run timing — not a speed benchmark)"
    pts = [(thr[k]["value"], r["value"], f"{k[1]}") for k, r in fid.items() if k in thr]
    if pts:
        front = pareto_front([(x, y) for x, y, _ in pts], maximize_x=True, minimize_y=True)
        out.append(("Quality vs speed (Pareto front dashed)", svg_plot({"models": pts}, speed_note, "FID ↓", front=front)))
    else:
        out.append(("Quality vs speed", '<p class="skip">skipped: no FID with speed or timing data in these runs</p>'))
    prec, rec = _by(rows, "precision"), _by(rows, "recall")
    pts = [(rec[k]["value"], prec[k]["value"], k[1]) for k in prec if k in rec]
    out.append(("Precision vs recall", svg_plot({"models": pts}, "recall ↑", "precision ↑") if pts else
                '<p class="skip">skipped: no precision/recall rows</p>'))
    per_model: dict[str, list[Point]] = {}
    for r in rows:
        if r["metric"] == "fid" and r.get("value") is not None:
            per_model.setdefault(f'{r["task"]}/{r["model"].split("@")[0]}', []).append((float(r["n"]), r["value"], f'n={r["n"]}'))
    if any(len({p[0] for p in s}) > 1 for s in per_model.values()):
        out.append(("FID vs sample count (FID is biased in n)",
                    svg_plot({k: v for k, v in per_model.items() if len(v) > 1}, "samples n", "FID ↓", lines=True)))
    else:
        out.append(("FID vs sample count", '<p class="skip">skipped: every run used one sample count</p>'))
    lat: dict[str, list[Point]] = {}
    for r in rows:
        bs = (r.get("extras") or {}).get("batch_size")
        if r["metric"].startswith("latency_p50@") and bs is not None and r.get("value") is not None:
            lat.setdefault(r["model"], []).append((float(bs), r["value"], f"batch {bs}"))
    out.append(("Latency (p50) vs batch size", svg_plot(lat, "batch size", "latency p50 (ms)", lines=True) if lat else
                '<p class="skip">skipped: no latency rows (run a speed task)</p>'))
    return out + sweep_plots(rows)


#: the trade-off curves drawn for sweeps: (x metric, y metric); the y metric's best point is ringed
SWEEP_PAIRS = (("isc", "fid"), ("clip_score", "fid"), ("clip_score_tm", "fid"), ("recall", "precision"),
               ("latency_p50", "fid"), ("throughput", "fid"))


def sweep_plots(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """One trade-off curve per swept model (suite ``sweep:``: models named ``model[arg=value,...]``) for each
    pair of SWEEP_PAIRS its rows have: each point one sweep point, its best point (by the y metric's direction)
    ringed. Values of one model are joined across tasks by model name (a speed task gives the latency)."""
    import re

    from bench.flags import model_flags

    values: dict[str, dict[str, dict[str, Any]]] = {}
    tables: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("value") is not None and "@" not in r["metric"]:
            values.setdefault(r["model"], {}).setdefault(r["metric"], r)
        tables.setdefault((r.get("task"), r.get("protocol_id")), []).append(r)
    flagged = {m for part in tables.values() for m in model_flags(part)}
    swept: dict[str, list[str]] = {}
    for model in values:
        m = re.fullmatch(r"(.+?)\[(.+)\]", model)
        if m:
            swept.setdefault(m.group(1), []).append(model)
    out: list[tuple[str, str]] = []
    for xm, ym in SWEEP_PAIRS:
        series: dict[str, list[Point]] = {}
        best: set[str] = set()
        unfit: set[str] = set()
        for base, points in swept.items():
            pts: list[Point] = []
            for p in points:
                if xm not in values[p] or ym not in values[p]:
                    continue
                label = p[len(base):].strip("[]")  # the point's parameter values: components=5
                why = ("flagged" if p in flagged else
                       "noisy" if any((values[p][m].get("extras") or {}).get("noisy") for m in (xm, ym)) else "")
                if why:  # shown (open circle, said in its label) but never the best point
                    label += f" ({why})"
                    unfit.add(label)
                pts.append((values[p][xm]["value"], values[p][ym]["value"], label))
            if len(pts) < 2:
                continue
            series[base] = pts
            higher = bool(values[points[0]][ym].get("higher_is_better"))
            fit = [t for t in pts if t[2] not in unfit]
            if fit:
                best.add((max if higher else min)(fit, key=lambda t: t[1])[2])
        if series:
            first = values[swept[next(iter(series))][0]]
            xl, yl = (f"{m}{_unit(first[m])} {'↑' if first[m].get('higher_is_better') else '↓'}" for m in (xm, ym))
            out.append((f"Sweep: {ym} vs {xm} (best {ym} ringed"
                        + ("; open circles: noisy or flagged, never best)" if unfit else ")"),
                        svg_plot(series, xl, yl, lines=True, marked=best, labels=True, hollow=unfit)))
    return out


def _unit(row: dict[str, Any]) -> str:
    """`` (unit, bs N)`` of a plotted value, as the tables' headers say it."""
    ex = row.get("extras") or {}
    bs = ex.get("best_batch_size", ex.get("batch_size"))
    parts = [p for p in (row.get("unit") or "", f"bs {bs}" if bs is not None else "") if p]
    return f" ({', '.join(parts)})" if parts else ""


def _grids(runs: list[RunSet]) -> list[tuple[str, str, str]]:
    """``[(task, model label, data URI)]`` for every sample grid PNG in the runs (every shard of a sharded one)."""
    out = []
    multi = len(runs) > 1
    for run in runs:
        for png in sorted(png for p in run.paths for png in (p / "samples").glob("*/*.png")):
            label = png.stem + (f"@{run.label}" if multi else "")
            out.append((png.parent.name, label, "data:image/png;base64," + base64.b64encode(_grid_bytes(png)).decode()))
    return out


def _grid_bytes(png: Path) -> bytes:
    """A grid's bytes, refused (one line) unless it is a plain PNG file the run wrote: a symlink in ``samples/``
    would embed whatever file it points to (a key, a password file) in a page meant to be shared."""
    from bench.errors import InputError

    for p in (png, png.parent, png.parent.parent):
        if p.is_symlink():
            raise InputError(f"{p}: a symlink (to {p.resolve()}); a report embeds only the sample grids a run wrote, "
                             "not what a link points to (remove the link)")
    data = png.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InputError(f"{png}: not a PNG file; a report embeds only the sample grids a run wrote")
    return data


SORT_JS = """
function sortTable(th, dir) {
  const table = th.closest('table'), col = +th.dataset.col, body = table.tBodies[0];
  const higher = th.dataset.higher === '1';
  if (!dir) dir = th.dataset.sorted === 'best' ? 'worst' : 'best';
  table.querySelectorAll('th').forEach(h => delete h.dataset.sorted);
  th.dataset.sorted = dir;
  const key = tr => { const v = tr.cells[col].dataset.value; return col === 0 ? v : (v === '' ? NaN : +v); };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (col === 0) return dir === 'best' ? String(x).localeCompare(y) : String(y).localeCompare(x);
    if (isNaN(x)) return 1; if (isNaN(y)) return -1;
    const s = (higher ? y - x : x - y);
    return dir === 'best' ? s : -s;
  });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll('table.leaderboard th').forEach(th => th.addEventListener('click', () => sortTable(th)));
// #sort=METRIC[:worst] sorts every table on load: shareable links, and how the headless test drives sorting.
const m = location.hash.match(/sort=([^:&]+)(?::(best|worst))?/);
if (m) document.querySelectorAll('table.leaderboard th[data-metric="' + m[1] + '"]').forEach(th => sortTable(th, m[2] || 'best'));
window.addEventListener('load', () => {
  document.querySelectorAll('img.grid').forEach(img => { img.dataset.naturalWidth = img.naturalWidth;
    if (!img.naturalWidth) img.classList.add('broken'); });
  document.body.dataset.ready = '1';
});
"""

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table.leaderboard{border-collapse:collapse;margin:0.5em 0 1.5em}
table.leaderboard th,table.leaderboard td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
table.leaderboard th:first-child,table.leaderboard td:first-child{text-align:left}
table.leaderboard th{cursor:pointer;background:#f4f4f4;user-select:none}
table.leaderboard th[data-sorted]::after{content:" ⇅"}
td.best{font-weight:bold}
.tie{font-size:smaller;color:#666}
td.noisy{color:#a14d00}
.note{color:#a14d00;font-size:85%}
tr.flagged td{color:#888}
td.flags{color:#a14d00;text-align:left}
.ci{color:#777;font-size:85%}
.grids{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0}
img.grid{image-rendering:pixelated;border:1px solid #ccc;width:256px}
img.broken{outline:3px solid red}
.plots{display:flex;flex-wrap:wrap;gap:24px}
.skip{color:#888;font-style:italic}
"""


def build_report(paths: list[str] | list[Path], out: str | Path) -> Path:
    """Write ``out/index.html`` for the given runs and return its path."""
    runs = open_runs(list(paths))  # once: the rows, the manifests and the grids all come from these
    rows = load_runs(runs)
    manifests = [{**r.manifest, "run_id": r.label} for r in runs]
    suites = sorted({m.get("suite", "?") for m in manifests})
    head = "".join(f"<li><code>{escape(str(m.get('run_id')))}</code> — suite {escape(str(m.get('suite')))}, "
                   f"seed {escape(str(m.get('seed')))}, "
                   f"{'git ' + escape(str(m['git_sha'])) if m.get('git_sha') else 'not in a git repository'}, "
                   f"status {escape(str(m.get('status')))}"
                   + ("" if m.get("status") in (None, "complete") else " — <strong>partial results</strong>")
                   + "</li>" for m in manifests)
    grids = _grids(runs)
    grid_html = "".join(f'<figure><img class="grid" alt="{escape(label)}" src="{uri}"><figcaption>{escape(task)} / '
                        f'{escape(label)}</figcaption></figure>' for task, label, uri in grids) or \
        '<p class="skip">no sample grids in these runs</p>'
    plot_html = "".join(f"<figure><figcaption>{escape(t)}</figcaption>{svg}</figure>" for t, svg in plots(rows))
    from bench.dissection.report import section as dissection_section

    dissection_html = dissection_section([p for r in runs for p in r.paths], svg_plot)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>genbench leaderboard — {escape(', '.join(suites))}</title>
<style>{CSS}</style></head>
<body>
<h1>genbench leaderboard — {escape(', '.join(suites))}</h1>
<ul class="runs">{head}</ul>
<p>One table per task and protocol: numbers of different protocols are never ranked against each other.
Arrows give each metric's direction; brackets are confidence intervals or ± one std (KID, IS); bold is best.
Models whose confidence intervals overlap are tied ("tied #k": same rank, half a point each in the win rate).
Click a column header to sort.</p>
<h2>Leaderboard</h2>
{html_tables(rows)}
<h2>Plots</h2>
<div class="plots">{plot_html}</div>
<h2>Samples</h2>
<div class="grids">{grid_html}</div>
{dissection_html}
<script>{SORT_JS}</script>
</body></html>
"""
    target = Path(out) / "index.html"
    atomic_write_text(target, page)
    return target
