"""Comparison tables from result rows (pandas): Markdown and CSV, one table per task and protocol.

Values of different protocols never share a column: the table is split by ``protocol_id`` and each part names
its protocol. Column headers carry the metric's direction (↓ lower is better, ↑ higher is better).
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


def comparison_tables(rows: list[dict[str, Any]], model_order: list[str] | None = None) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """``[(title, display_frame, numeric_frame)]``: one per (task, protocol), models as rows, metrics as columns."""
    df = rows_frame(rows)
    if df.empty:
        return []
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
            display.loc[r["model"], r["metric"]] = _fmt(r["value"], std)
        arrows = {m: ("↑" if bool(part[part["metric"] == m]["higher_is_better"].iloc[0]) else "↓") for m in metrics}
        display.columns = [f"{m} {arrows[m]}" for m in metrics]
        display.index.name = "model"
        numeric.index.name = "model"
        first = part.iloc[0]
        proto = first.get("protocol") if isinstance(first.get("protocol"), dict) else None
        title = f"task {task}"
        if proto:
            if proto.get("backbone"):
                title += (f" — protocol {pid}: backbone {proto.get('backbone')} (weights {str(proto.get('weights_sha256'))[:12]}), "
                          f"reference {proto.get('reference')}, n={proto.get('n')}")
            else:  # vision-language protocols without a feature network (retrieval, caption n-gram metrics)
                title += f" — protocol {pid}: reference {proto.get('reference')}, n_images={proto.get('n_images')}"
        out.append((title, display.fillna("—"), numeric))
    return out


def to_markdown(rows: list[dict[str, Any]], model_order: list[str] | None = None) -> str:
    parts = []
    for title, display, _ in comparison_tables(rows, model_order):
        parts.append(f"### {title}\n\n{display.to_markdown() if _has_tabulate() else _plain_markdown(display)}\n")
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
