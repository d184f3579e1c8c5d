"""Comparison tables from result rows (pandas): Markdown, CSV, LaTeX and HTML, one table per task and protocol.

Values of different protocols never share a column: the table is split by ``protocol_id`` and each part names
its protocol. Column headers carry the metric's direction (↓ lower is better, ↑ higher is better). Intervals
come from ``ci_low``/``ci_high`` or, for KID and IS, from ``extras.std``; the mean win rate is computed inside one
(task, protocol) table only, because ranking numbers of different protocols against each other is meaningless.
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if "protocol_id" not in df:
        df["protocol_id"] = None
    df["protocol_id"] = df["protocol_id"].fillna("-")
    return df


def _fmt(v: float | None, std: float | None = None) -> str:
    if v is None or pd.isna(v):
        return "—"
    s = f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    if std is not None and not pd.isna(std):
        s += f" ± {std:.2g}"
    return s


def _column_note(rows: pd.DataFrame) -> str:
    """`` (unit, bs N)`` for a column: its unit, and the batch size its values were measured at when they share one
    (perf: latency at bs 1; throughput at each model's best, then shown per model as ``bs N`` in the cell)."""
    units = rows["unit"] if "unit" in rows else []
    unit = next((u for u in units if isinstance(u, str) and u), "")
    sizes = {e.get("batch_size") for e in (rows["extras"] if "extras" in rows else [])
             if isinstance(e, dict) and e.get("batch_size") is not None}
    parts = [unit] + ([f"bs {sizes.pop()}"] if len(sizes) == 1 else [])
    parts = [p for p in parts if p]
    return f" ({', '.join(parts)})" if parts else ""


def cell_note(row: dict[str, Any] | pd.Series) -> str:
    """What a cell says beside its number: `` @bs N`` (the batch size a summary throughput was best at) and
    `` (noisy)`` (a timing too noisy to gate on or to crown). Every rendering (Markdown, HTML, LaTeX) shows it."""
    ex = row.get("extras") if isinstance(row.get("extras"), dict) else {}
    assert isinstance(ex, dict)
    txt = f" @bs {ex['best_batch_size']}" if ex.get("best_batch_size") is not None else ""
    return txt + (" (noisy)" if ex.get("noisy") else "")


def comparison_tables(rows: list[dict[str, Any]], model_order: list[str] | None = None,
                      variants: bool = False) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """``[(title, display_frame, numeric_frame)]``: one per (task, protocol), models as rows, metrics as columns.

    Variant values (``throughput@bs8``) are left out unless ``variants``: the summary values
    (``throughput``, ``latency_p50``) stand for them; CSV and rows keep everything.
    """
    df = rows_frame(rows)
    if df.empty:
        return []
    if not variants:
        df = df[~df["metric"].str.contains("@", regex=False)]
    out = []
    for (task, pid), part in df.groupby(["task", "protocol_id"], sort=False):
        metrics = list(dict.fromkeys(part["metric"]))
        models = list(dict.fromkeys(part["model"]))
        if model_order:
            models = [m for m in model_order if m in models] + [m for m in models if m not in model_order]
        numeric = pd.DataFrame(index=models, columns=metrics, dtype=float)
        display = pd.DataFrame(index=models, columns=metrics, dtype=object)
        for _, r in part.iterrows():
            std = (r.get("extras") or {}).get("std") if isinstance(r.get("extras"), dict) else None
            numeric.loc[r["model"], r["metric"]] = r["value"]
            txt = _fmt(r["value"], std)
            lo, hi = r.get("ci_low"), r.get("ci_high")
            if lo is not None and hi is not None and not pd.isna(lo) and not pd.isna(hi):
                txt += f" [{_fmt(lo)}, {_fmt(hi)}]"
            display.loc[r["model"], r["metric"]] = txt + cell_note(r)
        unranked = unranked_metrics(part.to_dict("records"))
        arrows = {m: "·" if m in unranked else ("↑" if bool(part[part["metric"] == m]["higher_is_better"].iloc[0]) else "↓")
                  for m in metrics}
        display.columns = [f"{m}{_column_note(part[part['metric'] == m])} {arrows[m]}" for m in metrics]
        display.index.name = "model"
        numeric.index.name = "model"
        first = part.iloc[0]
        proto = first.get("protocol") if isinstance(first.get("protocol"), dict) else None
        title = f"task {task}"
        if proto and proto.get("kind") == "perf":
            title += f" — protocol {pid}: {proto.get('device')} ({proto.get('device_type')}), {proto.get('dtype')}, {proto.get('threads')} threads"
        elif proto and proto.get("backbone"):
            named = f" '{proto['name']}'" if proto.get("name") else ""
            title += (f" — protocol{named} {pid}: backbone {proto.get('backbone')} (weights {str(proto.get('weights_sha256'))[:12]}), "
                      f"reference {proto.get('reference')}, n={proto.get('n')}")
        elif proto:  # vision-language protocols without a feature network (retrieval, caption n-gram metrics)
            title += f" — protocol {pid}: reference {proto.get('reference')}, n_images={proto.get('n_images')}"
        out.append((title, display.fillna("—"), numeric))
    return out


def to_markdown(rows: list[dict[str, Any]], model_order: list[str] | None = None) -> str:
    parts = []
    for lb in leaderboards(rows, model_order):
        display = lb["display"].copy()
        display["mean win rate ↑"] = [f"{w:.2f}" if not pd.isna(w) else "—" for w in lb["win_rate"].reindex(display.index)]
        if lb["flags"]:
            display["flags (not ranked)"] = ["; ".join(lb["flags"].get(m, [])) or "" for m in display.index]
        parts.append(f"### {lb['title']}\n\n{display.to_markdown() if _has_tabulate() else _plain_markdown(display)}\n")
    return "\n".join(parts)


def to_csv(rows: list[dict[str, Any]]) -> str:
    df = rows_frame(rows)
    if df.empty:
        return ""
    cols = ["run_id", "suite", "task", "protocol_id", "model", "dataset", "metric", "value", "ci_low", "ci_high", "n",
            "backbone", "higher_is_better", "unit", "seconds"]
    df = df[[c for c in cols if c in df]].copy()
    return str(df.to_csv(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _plain_markdown(df: pd.DataFrame) -> str:
    header = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + [" ---: "] * len(df.columns)) + "|"]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Loading runs, directions, intervals, win rates and the LaTeX / HTML renderings.


def load_runs(paths: list[str] | list[Any]) -> list[dict[str, Any]]:
    """Rows of one or many runs: folders as given on a command line (bench.results.open_runs: the shard folders of
    a sharded run read as one run), or RunSets already opened. When the same (task, protocol, model, metric)
    appears in several runs, the model is labelled ``model@run_id`` so the runs sit side by side instead of
    overwriting each other."""
    import warnings

    from bench.results import RunSet, open_runs

    runs = list(paths) if paths and all(isinstance(p, RunSet) for p in paths) else open_runs(list(paths))
    per_run: list[list[dict[str, Any]]] = []
    for run in runs:
        if run.missing:
            warnings.warn(f"{run.label}: {run.missing_shards} not given: their (task, model) pairs are missing",
                          stacklevel=2)
        for what in run.partial:
            warnings.warn(f"{what}: partial results (genbench run --resume completes it)", stacklevel=2)
        per_run.append(run.row_dicts())
    seen: dict[tuple[Any, ...], set[str]] = {}
    for rows in per_run:
        for r in rows:
            seen.setdefault((r.get("task"), r.get("protocol_id"), r.get("model"), r.get("metric")), set()).add(r["run_id"])
    clash = {k[2] for k, runs in seen.items() if len(runs) > 1}
    out = []
    for rows in per_run:
        for r in rows:
            if r.get("model") in clash:
                r = {**r, "model": f"{r['model']}@{r['run_id']}"}
            out.append(r)
    return out


def interval(row: dict[str, Any] | pd.Series) -> tuple[float, float] | None:
    """The row's uncertainty as ``(low, high)``: its confidence interval, else ``value ± extras.std``."""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if lo is not None and hi is not None and not pd.isna(lo) and not pd.isna(hi):
        return float(lo), float(hi)
    extras = row.get("extras")
    std = extras.get("std") if isinstance(extras, dict) else None
    v = row.get("value")
    if std is not None and v is not None and not pd.isna(std) and not pd.isna(v):
        return float(v) - float(std), float(v) + float(std)
    return None


def confidence_interval(row: dict[str, Any] | pd.Series) -> tuple[float, float] | None:
    """The row's confidence interval (``ci_low``, ``ci_high``: a bootstrap interval, 95 % unless the metric's
    ``confidence`` says otherwise), never ``± std``: ties are decided on intervals with a coverage."""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if lo is not None and hi is not None and not pd.isna(lo) and not pd.isna(hi):
        return float(lo), float(hi)
    return None


def _beats(a: float, b: float, ia: tuple[float, float] | None, ib: tuple[float, float] | None, higher: bool) -> float:
    """1 when ``a`` is better than ``b``, 0.5 for a tie, 0 when worse. With both intervals at hand, better means
    the intervals do not overlap (overlap: tied, whatever the point values); otherwise the values decide."""
    if ia is not None and ib is not None and ia[0] <= ib[1] and ib[0] <= ia[1]:
        return 0.5
    if a == b:
        return 0.5
    return 1.0 if (a > b) == higher else 0.0


def tie_ranks(numeric: pd.DataFrame, higher: dict[str, bool],
              intervals: dict[tuple[Any, str], tuple[float, float] | None]) -> dict[str, dict[Any, int]]:
    """column → model → rank, where a model's rank is 1 + the number of models that beat it (:func:`_beats`: with
    confidence intervals, only a model whose interval lies wholly on the better side beats another). Models whose
    intervals overlap are tied, not ranked against each other; models sharing a rank are shown as tied."""
    out: dict[str, dict[Any, int]] = {}
    for col in numeric.columns:
        vals = numeric[col].dropna()
        h = higher.get(col, True)
        out[col] = {m: 1 + sum(1 for o, w in vals.items() if o != m and _beats(float(w), float(v), intervals.get((o, col)),
                                                                           intervals.get((m, col)), h) == 1.0)
                    for m, v in vals.items()}
    return out


def tied_models(ranks: dict[str, dict[Any, int]]) -> dict[str, set[Any]]:
    """column → models that share their rank with another model (shown as tied)."""
    out: dict[str, set[Any]] = {}
    for col, r in ranks.items():
        counts: dict[int, int] = {}
        for v in r.values():
            counts[v] = counts.get(v, 0) + 1
        out[col] = {m for m, v in r.items() if counts[v] > 1}
    return out


def unranked_metrics(rows: list[dict[str, Any]]) -> set[str]:
    """Values shown but not ranked (``OutputInfo.ranked`` False, recorded as ``extras.ranked``): header "·", no
    best mark, not in win rates."""
    return {r["metric"] for r in rows if isinstance(r.get("extras"), dict) and r["extras"].get("ranked") is False}


def directions(rows: list[dict[str, Any]]) -> dict[str, bool]:
    """metric → higher_is_better, as recorded in the rows (which copied it from the metric's OutputInfo)."""
    return {r["metric"]: bool(r["higher_is_better"]) for r in rows}


def win_rates(numeric: pd.DataFrame, higher: dict[str, bool],
              intervals: dict[tuple[Any, str], tuple[float, float] | None] | None = None) -> pd.Series:
    """Mean over metrics of the fraction of other models each model beats (ties count half; missing values
    are skipped). With ``intervals`` (confidence intervals), two models whose intervals overlap are tied.
    Comparable only inside one (task, protocol) table, which is where it is computed."""
    rates: dict[Any, list[float]] = {m: [] for m in numeric.index}
    iv = intervals or {}
    for col in numeric.columns:
        vals = numeric[col].dropna()
        if len(vals) < 2:
            continue
        h = higher.get(col, True)
        for m, v in vals.items():
            wins = sum(_beats(float(v), float(w), iv.get((m, col)), iv.get((o, col)), h)
                       for o, w in vals.items() if o != m)
            rates[m].append(float(wins) / (len(vals) - 1))
    return pd.Series({m: (sum(r) / len(r) if r else float("nan")) for m, r in rates.items()}, name="win_rate")


def leaderboards(rows: list[dict[str, Any]], model_order: list[str] | None = None) -> list[dict[str, Any]]:
    """Structured tables for rendering: one dict per (task, protocol) with the numeric and display frames,
    intervals, directions, best cells, mean win rate and flags. Every renderer (Markdown, LaTeX, HTML, report)
    reads this one shape. Flagged models (:mod:`bench.flags`) are listed last and not ranked: they hold no best
    cell and no win rate, and the ranked models' win rates are computed among themselves."""
    from bench.flags import model_flags

    df = rows_frame(rows)
    out: list[dict[str, Any]] = []
    if df.empty:
        return out
    for (task, pid), part in df.groupby(["task", "protocol_id"], sort=False):
        records = part.to_dict("records")
        flags = model_flags(records)
        tables = comparison_tables(records, model_order)
        if not tables:  # only variant values (fid@n100, throughput@bs8) in this group: CSV and rows keep them
            continue
        title, display, numeric = tables[0]
        order = [m for m in numeric.index if m not in flags] + [m for m in numeric.index if m in flags]
        numeric, display = numeric.loc[order], display.loc[order]
        unranked = unranked_metrics(records)
        ranked = numeric.loc[[m for m in order if m not in flags], [c for c in numeric.columns if c not in unranked]]
        higher = {m: bool(part[part["metric"] == m]["higher_is_better"].iloc[0]) for m in numeric.columns}
        ivals: dict[tuple[Any, str], tuple[float, float] | None] = {}
        cis: dict[tuple[Any, str], tuple[float, float] | None] = {}
        notes: dict[tuple[Any, str], str] = {}
        noisy: dict[tuple[Any, str], str] = {}
        for _, r in part.iterrows():
            ivals[(r["model"], r["metric"])] = interval(r)
            cis[(r["model"], r["metric"])] = confidence_interval(r)
            notes[(r["model"], r["metric"])] = cell_note(r)
            if isinstance(r.get("extras"), dict) and r["extras"].get("noisy"):
                noisy[(r["model"], r["metric"])] = str(r["extras"]["noisy"])
        # a noisy number is shown, marked, and neither crowned nor counted in win rates
        ranked = ranked.copy()
        for m, c in noisy:
            if m in ranked.index and c in ranked.columns:
                ranked.loc[m, c] = float("nan")
        ranks = tie_ranks(ranked, higher, cis)
        ties = tied_models(ranks)
        best = {c: {m for m, k in r.items() if k == 1} for c, r in ranks.items() if r}
        for c, tied in ties.items():
            j = list(numeric.columns).index(c)
            for m in tied:
                i = list(display.index).index(m)
                display.iloc[i, j] = f"{display.iloc[i, j]} (tied #{ranks[c][m]})"
        out.append({"title": title, "task": task, "protocol_id": pid, "numeric": numeric, "display": display,
                    "higher": higher, "intervals": ivals, "best": best, "ranks": ranks, "ties": ties,
                    "win_rate": win_rates(ranked, higher, cis).reindex(numeric.index), "flags": flags,
                    "unranked": unranked, "headers": {m: _column_note(part[part["metric"] == m]) for m in numeric.columns},
                    "notes": notes, "noisy": noisy})
    return out


def target_ci_notes(rows: list[dict[str, Any]], target: float) -> str:
    """Markdown: for every row with a bootstrap interval (FID, KID with ``bootstrap:``), the number of generated
    samples at which its interval's half-width would reach ``target`` (bench.metrics.bootstrap.n_for_half_width)."""
    from bench.metrics.bootstrap import n_for_half_width

    lines = []
    for r in rows:
        ex: dict[str, Any] = r["extras"] if isinstance(r.get("extras"), dict) else {}
        ci = confidence_interval(r)
        if ci is None or "bootstrap" not in ex or not r.get("n"):
            continue
        bs = ex["bootstrap"] if isinstance(ex["bootstrap"], dict) else {}
        need = n_for_half_width(int(r["n"]), ci[0], ci[1], target, bs.get("std"), bs.get("std_half_n"))
        half = (ci[1] - ci[0]) / 2
        lines.append(f"| {r.get('task')} | {r.get('model')} | {r['metric']} | {int(r['n'])} | ± {half:.3g} | {need} |")
    if not lines:
        return f"No row has a bootstrap interval (add `bootstrap: 200` to the metric's options) to size for ± {target:g}.\n"
    head = [f"### Samples for a ± {target:g} interval", "",
            "Fitted to the bootstrap's spread at n and n/2 (variance a/n + b/n², generated samples resampled, the "
            "reference fixed; 1/sqrt(n) where only one spread is recorded): conservative when n is close to the "
            "feature dimension.",
            "", "| task | model | metric | n | half-width | n for ± " + f"{target:g} |", "| --- | --- | --- | ---: | ---: | ---: |"]
    return "\n".join(head + lines) + "\n"


def _latex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}")):
        s = s.replace(a, b)
    return s.replace("—", "--").replace("×", r"$\times$")


def _latex_num(v: float, digits: int = 4) -> str:
    """A number for a paper: ``0.000123`` as ``$1.23\\times10^{-4}$``, never Python's ``1.230e-04``."""
    s = f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.{digits - 1}e}"
    if "e" not in s:
        return s
    mant, exp = s.split("e")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return rf"${mant}\times10^{{{int(exp)}}}$"


def _pm(value: float, iv: tuple[float, float] | None) -> str:
    s = _latex_num(value)
    if iv is not None:
        s += r" $\pm$ " + _latex_num((iv[1] - iv[0]) / 2, 2)
    return s


#: how a paper names the values whose row names are abbreviations (the rest: underscores become spaces)
LATEX_NAMES = {"fid": "FID", "kid": "KID", "isc": "IS", "sfid": "sFID", "fid_inf": r"FID$_\infty$",
               "clip_s": "CLIP-S", "refclip_s": "RefCLIP-S", "clip_score_tm": "CLIP score (tm)", "cider_d": "CIDEr-D",
               "rouge_l": "ROUGE-L", "bleu1": "BLEU-1", "bleu2": "BLEU-2", "bleu3": "BLEU-3", "bleu4": "BLEU-4",
               "meteor": "METEOR", "spice": "SPICE", "psnr": "PSNR", "ssim": "SSIM", "ms_ssim": "MS-SSIM",
               "lpips": "LPIPS", "l1": "L1", "f_score": "F-score", "cmmd": "CMMD", "rsum": "RSUM",
               "latency_p50": "latency p50", "latency_p90": "latency p90", "latency_p99": "latency p99",
               "step_ms": "step time", "peak_rss": "peak RSS"}


def latex_name(metric: str) -> str:
    """A metric's column name for LaTeX: its usual abbreviation, else its words (LaTeX-escaped)."""
    return LATEX_NAMES.get(metric) or _latex_escape(metric.replace("_", " "))


def to_latex(rows: list[dict[str, Any]], model_order: list[str] | None = None) -> str:
    """booktabs tables, best value per column in bold, ``±`` half-width of the interval where one exists."""
    parts = []
    for lb in leaderboards(rows, model_order):
        num: pd.DataFrame = lb["numeric"]
        cols = list(num.columns)
        arrow = {True: r"$\uparrow$", False: r"$\downarrow$"}
        head = ["model"] + [f"{latex_name(c)}{_latex_escape(lb['headers'].get(c, ''))} "
                            f"{'' if c in lb['unranked'] else arrow[lb['higher'][c]]}".rstrip() for c in cols]
        head.append(r"win rate $\uparrow$")
        if lb["flags"]:
            head.append("flags (not ranked)")
        lines = [f"% {_latex_escape(lb['title'])}", r"\begin{tabular}{l" + "r" * (len(cols) + 1) + ("l" if lb["flags"] else "") + "}",
                 r"\toprule",
                 " & ".join(head) + r" \\", r"\midrule"]
        for model in num.index:
            cells = [_latex_escape(str(model))]
            for c in cols:
                v = num.loc[model, c]
                if pd.isna(v):
                    cells.append("--")
                    continue
                txt = _pm(float(v), lb["intervals"].get((model, c)))
                if model in lb["ties"].get(c, set()):
                    txt += f" (={lb['ranks'][c][model]})"
                txt = rf"\textbf{{{txt}}}" if model in lb["best"].get(c, set()) else txt
                cells.append(txt + _latex_escape(lb["notes"].get((model, c), "")))
            wr = lb["win_rate"].get(model)
            cells.append("--" if wr is None or pd.isna(wr) else f"{wr:.2f}")
            if lb["flags"]:
                cells.append(_latex_escape("; ".join(lb["flags"].get(model, []))))
            lines.append(" & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", ""]
        parts.append("\n".join(lines))
    return "\n".join(parts)


def html_tables(rows: list[dict[str, Any]], model_order: list[str] | None = None) -> str:
    """``<table class="leaderboard">`` per (task, protocol); cells carry ``data-value`` so the report's inline
    script can sort numerically and by direction (``data-higher``)."""
    from html import escape

    parts = []
    for i, lb in enumerate(leaderboards(rows, model_order)):
        num: pd.DataFrame = lb["numeric"]
        cols = list(num.columns)
        th = ['<th data-col="0" data-higher="0">model</th>']
        for j, c in enumerate(cols, start=1):
            arrow = "·" if c in lb["unranked"] else ("↑" if lb["higher"][c] else "↓")
            th.append(f'<th data-col="{j}" data-metric="{escape(c)}" data-higher="{int(lb["higher"][c])}" '
                      f'title="{"higher" if lb["higher"][c] else "lower"} is better">{escape(c)}'
                      f'{escape(lb["headers"].get(c, ""))} {arrow}</th>')
        th.append(f'<th data-col="{len(cols) + 1}" data-metric="win_rate" data-higher="1" '
                  'title="mean over metrics of the fraction of other models beaten">win rate ↑</th>')
        if lb["flags"]:
            th.append(f'<th data-col="{len(cols) + 2}" data-metric="flags" data-higher="0" title="models whose FID '
                      'cannot be read as quality (bench.flags): not ranked">flags</th>')
        body = []
        for model in num.index:
            tds = [f'<td data-value="{escape(str(model))}">{escape(str(model))}</td>']
            for c in cols:
                v = num.loc[model, c]
                if pd.isna(v):
                    tds.append('<td data-value="">—</td>')
                    continue
                iv = lb["intervals"].get((model, c))
                txt = escape(_fmt(float(v)))
                if iv is not None:
                    txt += f' <span class="ci">[{_fmt(iv[0])}, {_fmt(iv[1])}]</span>'
                note = lb["notes"].get((model, c), "")
                if note:
                    txt += f' <span class="note">{escape(note.strip())}</span>'
                why = lb["noisy"].get((model, c))
                classes = [k for k, on in (("best", model in lb["best"].get(c, set())), ("noisy", bool(why)),
                                           ("tied", model in lb["ties"].get(c, set()))) if on]
                cls = f' class="{" ".join(classes)}"' if classes else ""
                tip = why or ""
                if "tied" in classes:
                    rank = lb["ranks"][c][model]
                    others = sorted(str(o) for o, k in lb["ranks"][c].items() if k == rank and o != model)
                    tip = f"tied #{rank} with {', '.join(others)}: confidence intervals overlap" + (f"; {tip}" if tip else "")
                    txt += f' <span class="tie">tied #{rank}</span>'
                tip_attr = f' title="{escape(tip)}"' if tip else ""
                tds.append(f'<td data-value="{float(v)!r}"{cls}{tip_attr}>{txt}</td>')
            wr = lb["win_rate"].get(model)
            tds.append(f'<td data-value="{"" if wr is None or pd.isna(wr) else repr(float(wr))}">'
                       f'{"—" if wr is None or pd.isna(wr) else f"{wr:.2f}"}</td>')
            if lb["flags"]:
                fl = "; ".join(lb["flags"].get(model, []))
                tds.append(f'<td data-value="{escape(fl)}" class="flags">{escape(fl)}</td>')
            flagged = ' class="flagged"' if model in lb["flags"] else ""
            body.append(f'<tr data-model="{escape(str(model))}"{flagged}>' + "".join(tds) + "</tr>")
        parts.append(f'<h3>{escape(lb["title"])}</h3>\n<table class="leaderboard" id="lb-{i}" '
                     f'data-task="{escape(lb["task"])}" data-protocol="{escape(str(lb["protocol_id"]))}">'
                     f'<thead><tr>{"".join(th)}</tr></thead>\n<tbody>\n' + "\n".join(body) + "\n</tbody></table>")
    return "\n".join(parts)
