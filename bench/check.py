"""The CI quality gate: compare a run with a saved baseline under the suite's per-metric rules.

Rules (the suite's optional ``check:`` section, see :class:`bench.suite.CheckSpec`) give each metric an absolute
and/or relative band around the baseline value; a value may move by ``max(abs, rel × |baseline|)``. The worse
direction comes from the metric's own metadata (``higher_is_better``), never from the suite, so a rule cannot be
written backwards. With ``two_sided: true`` a value that is *better* than the band also fails: a sudden large
improvement usually means a broken reference, a leaked test set or a changed protocol (MLPerf accepts SDXL FID only
inside [23.01, 23.95]). ``windows`` pins a model's value inside a fixed interval regardless of the baseline.

Outcomes: exit 0 when every rule holds, 1 on any regression or missing value, 2 on bad input (raised as
GenbenchError) — including a run whose protocol differs from the baseline's, which no tolerance can excuse.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from bench.errors import (
    EXIT_OK,
    EXIT_REGRESSION,
    ConfigError,
    InputError,
    ProtocolMismatchError,
    did_you_mean,
)
from bench.results import RunDir, atomic_write_text, git_sha

BASELINE_VERSION = 1
BASELINE_DIR = Path("results") / "baselines"
_ROW_KEYS = ("task", "model", "metric", "value", "ci_low", "ci_high", "n", "protocol_id", "higher_is_better", "unit")


# ----------------------------------------------------------------------------------------------------------------
# Baselines


def save_baseline(run: str | os.PathLike[str], name: str, directory: str | os.PathLike[str] = BASELINE_DIR) -> Path:
    """Write ``directory/NAME.json``: the values of a run plus what is needed to refuse a mismatched comparison."""
    rd = RunDir(run)
    scan = rd.scan()
    # a baseline is what later runs are judged against: damaged, missing or repeated rows are refused, not skipped
    short = sorted({(r["task"], r["model"]) for _, _, r in scan.good} - scan.complete())
    problems = ([f"{rd.rows_file}:{i}: {why}" for i, why in scan.bad]
                + [f"{rd.rows_file}: task {t}, model {m}: rows incomplete" for t, m in short]
                + [f"{rd.rows_file}:{i}: a repeat of an earlier line" for i in scan.duplicates()])
    if problems:
        raise InputError(f"{problems[0]}{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}; a baseline "
                         f"must come from sound rows (genbench run --resume {rd.path} recomputes them)")
    rows = rd.row_dicts()
    if not rows:
        raise InputError(f"{rd.path}: not a run folder or no rows (no rows.jsonl)")
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"baseline name '{name}' must be a plain file name")
    manifest = rd.read_json("manifest.json") if (rd.path / "manifest.json").exists() else {}
    if manifest.get("status") not in (None, "complete"):
        raise InputError(f"{rd.path}: run status is '{manifest.get('status')}'; a baseline must come from a complete run")
    base = {
        "baseline_version": BASELINE_VERSION,
        "name": name,
        "suite": manifest.get("suite", rows[0].get("suite")),
        "suite_hash": manifest.get("suite_hash"),
        "seed": manifest.get("seed"),
        "run_id": rd.path.name,
        "git_sha": manifest.get("git_sha") or git_sha(),
        "created_unix": round(time.time()),
        "protocols": {r["protocol_id"]: r.get("protocol") for r in rows if r.get("protocol_id")},
        # a row its own run flagged as too noisy (a timing on a loaded machine) is kept but marked: check never
        # gates a run against it (the band would be centred on chance)
        "rows": [{k: r.get(k) for k in _ROW_KEYS} | {"std": (r.get("extras") or {}).get("std")}
                 | ({"noisy": (r.get("extras") or {})["noisy"]} if (r.get("extras") or {}).get("noisy") else {})
                 for r in rows],
    }
    out = Path(directory) / f"{name}.json"
    atomic_write_text(out, json.dumps(base, indent=1, sort_keys=True) + "\n")
    return out


def noisy_rows(baseline: dict[str, Any]) -> list[str]:
    """``task/model/metric: why`` for each baseline row marked too noisy to gate on."""
    return [f"{b['task']}/{b['model']}/{b['metric']}: {b['noisy']}" for b in baseline["rows"] if b.get("noisy")]


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: baseline file does not exist (create one with: genbench baseline save RUN NAME)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not a readable baseline JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("baseline_version") != BASELINE_VERSION or not isinstance(data.get("rows"), list):
        raise InputError(f"{p}: not a genbench baseline (version {BASELINE_VERSION})")
    return data


# ----------------------------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class Verdict:
    task: str
    model: str
    metric: str
    baseline: float | None
    value: float | None
    low: float | None
    high: float | None
    ok: bool
    gated: bool
    message: str
    #: outside its band, but the run's or the baseline's value was flagged too noisy to gate on: not a failure
    noisy: bool = False

    @property
    def status(self) -> str:
        return "info" if not self.gated else "noisy" if self.noisy else ("pass" if self.ok else "FAIL")


def _acceptance(rule: Any, model: str, base: float, higher: bool) -> tuple[float, float]:
    """``[low, high]`` accepted for a value whose baseline is ``base``."""
    if rule.windows and model in rule.windows:
        lo, hi = rule.windows[model]
        return float(lo), float(hi)
    tol = max(rule.abs or 0.0, (rule.rel or 0.0) * abs(base))
    lo, hi = base - tol, base + tol
    if not rule.two_sided:  # only the worse side is bounded
        lo, hi = (lo, float("inf")) if higher else (float("-inf"), hi)
    return lo, hi


def protocol_diff(base: Any, run: Any) -> str:
    """``" (n: baseline 500, run 400; ...)"``: the fields that differ between two protocol records, or ""."""
    if not isinstance(base, dict) or not isinstance(run, dict):
        return ""
    diffs = [f"{k}: baseline {base.get(k)!r}, run {run.get(k)!r}" for k in sorted(set(base) | set(run))
             if base.get(k) != run.get(k)]
    return f" ({'; '.join(diffs)})" if diffs else ""


def precheck(plan: Any, baseline: dict[str, Any]) -> None:
    """Refuse, before anything runs, a suite whose protocols visibly differ from the baseline's: the fields a
    plan knows without computing (n, backbone, its weights sha256 and preprocessing), per task, against the
    baseline's protocol records of that task. What only the run can know (the reference's id) is compared after."""
    protos = baseline.get("protocols") or {}
    seen: dict[str, list[dict[str, Any]]] = {}
    for b in baseline["rows"]:
        p = protos.get(b.get("protocol_id"))
        if isinstance(p, dict) and p.get("backbone") and "@" not in b["metric"]:
            seen.setdefault(b["task"], []).append(p)
    bad: list[str] = []
    for task in plan.tasks:
        if task.backbone is None or task.name not in seen:
            continue
        task.backbone.resolve_weights()  # hashes the file; builds nothing
        mine = {"backbone": task.backbone.name, "weights_sha256": task.backbone.weights_sha256,
                "preprocessing": task.backbone.preprocessing(), "n": task.n}
        for p in seen[task.name]:
            if p.get("backbone") != mine["backbone"]:
                continue  # another part of the task (a metric's own backbone)
            diffs = [f"{k}: baseline {p.get(k)!r}, suite {v!r}" for k, v in mine.items() if k in p and p[k] != v]
            if diffs:
                bad.append(f"task {task.name}: " + "; ".join(diffs))
                break
    if bad:
        raise ProtocolMismatchError("the suite's protocols differ from the baseline's; refusing before running "
                                    "(a gate across protocols compares nothing):\n" + "\n".join(dict.fromkeys(bad)))


def evaluate(run_rows: list[dict[str, Any]], baseline: dict[str, Any], check: Any, where: Any = None) -> list[Verdict]:
    """One verdict per baseline value. Raises ProtocolMismatchError when a (task, metric) was computed under a
    different protocol in the run than in the baseline."""
    from bench.tasks.base import value_info as output_info  # metric and measurement values

    rules = dict(check.metrics) if check is not None else {}
    for name in rules:
        try:
            output_info(name)
        except KeyError:
            from bench.metrics import METRICS

            known = [o for m in METRICS.names() for o in METRICS.get(m).outputs]
            loc = where("check", "metrics", name) if where else f"check.metrics.{name}"
            raise ConfigError(f"{loc}: unknown metric value '{name}'{did_you_mean(name, known)}") from None
    run = {(r["task"], r["model"], r["metric"]): r for r in run_rows}
    base_pids = {(b["task"], b["metric"]): b.get("protocol_id") for b in baseline["rows"]}
    run_pids = {(r["task"], r["metric"]): r.get("protocol_id") for r in run_rows}
    run_protos = {r.get("protocol_id"): r.get("protocol") for r in run_rows}
    base_protos = baseline.get("protocols") or {}
    bad = [f"task {t}, metric {m}: baseline protocol {p}, run protocol {run_pids[(t, m)]}"
           + protocol_diff(base_protos.get(p), run_protos.get(run_pids[(t, m)]))
           for (t, m), p in base_pids.items()
           if m in rules and (t, m) in run_pids and run_pids[(t, m)] != p]  # only what this gate compares
    if bad:
        raise ProtocolMismatchError("run and baseline were computed under different protocols "
                                    "(backbone, weights, preprocessing, reference or n differ); refusing to compare:\n"
                                    + "\n".join(bad[:10]))
    out: list[Verdict] = []
    for b in baseline["rows"]:
        key = (b["task"], b["model"], b["metric"])
        rule = rules.get(b["metric"])
        if rule is not None and rule.models is not None and b["model"] not in rule.models:
            rule = None
        if rule is not None and rule.abs is None and rule.rel is None and b["model"] not in (rule.windows or {}):
            rule = None  # a windows-only rule gates just its windowed models (no band means no zero-width band)
        r = run.get(key)
        bv = b.get("value")
        if r is None or r.get("value") is None:
            out.append(Verdict(*key, bv, None, None, None, ok=rule is None, gated=rule is not None,
                               message="missing from the run"))
            continue
        v = float(r["value"])
        if rule is None or bv is None:
            msg = "no rule (informational)"
            if bv is not None and bv != 0 and abs(v - bv) > 0.1 * abs(bv):  # said, so no change goes unnoticed
                msg += f"; changed {100 * (v - bv) / abs(bv):+.0f}% with no rule to gate it"
            out.append(Verdict(*key, bv, v, None, None, ok=True, gated=False, message=msg))
            continue
        higher = bool(b.get("higher_is_better", r.get("higher_is_better")))
        lo, hi = _acceptance(rule, b["model"], float(bv), higher)
        ok = lo <= v <= hi
        if ok:
            msg = "within band"
        else:
            worse = (v < lo) if higher else (v > hi)
            msg = "regression (worse than accepted)" if worse else "suspiciously better than accepted (two-sided window)"
        why = [f"{x} (this run)" for x in [(r.get("extras") or {}).get("noisy")] if x] + \
              [f"{x} (the baseline's run)" for x in [b.get("noisy")] if x]
        if why and not ok:  # a timing on a loaded machine: outside its band by chance as likely as not; never a
            # silent failure and never a silent pass: its own status, and the reason beside it
            msg = "outside the band but NOT GATED, too noisy: " + "; ".join(why)
        elif why:
            msg += "; WARNING: " + "; ".join(why)
        out.append(Verdict(*key, float(bv), v, lo, hi, ok=ok or bool(why), gated=True, message=msg,
                           noisy=bool(why) and not ok))
    return out


def exit_code(verdicts: list[Verdict]) -> int:
    return EXIT_OK if all(v.ok for v in verdicts) else EXIT_REGRESSION


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    if x in (float("inf"), float("-inf")):
        return "∞" if x > 0 else "−∞"
    return f"{x:.4g}"


def markdown_summary(verdicts: list[Verdict], title: str) -> str:
    """GitHub-flavoured Markdown, suitable for ``$GITHUB_STEP_SUMMARY``."""
    fails = [v for v in verdicts if not v.ok]
    gated = [v for v in verdicts if v.gated]
    noisy = [v for v in verdicts if v.noisy]
    head = (f"## genbench check: {'✅ passed' if not fails else '❌ failed'} — {title}\n\n"
            f"{len(gated) - len(fails) - len(noisy)}/{len(gated)} gated values within their bands"
            f"{f', {len(fails)} failing' if fails else ''}"
            f"{f', {len(noisy)} outside but too noisy to gate (status noisy)' if noisy else ''}.\n\n")
    lines = ["| status | task | model | metric | baseline | value | accepted | note |", "|---|---|---|---|---:|---:|---|---|"]
    for v in sorted(verdicts, key=lambda v: (v.ok, not v.noisy, not v.gated)):
        acc = f"[{_num(v.low)}, {_num(v.high)}]" if v.gated and v.low is not None else ""
        lines.append(f"| {v.status} | {v.task} | {v.model} | {v.metric} | {_num(v.baseline)} | {_num(v.value)} | {acc} | {v.message} |")
    return head + "\n".join(lines) + "\n"


def junit_xml(verdicts: list[Verdict], suite_name: str) -> str:
    """One testcase per gated value; informational values are reported as skipped."""
    fails = sum(1 for v in verdicts if not v.ok)
    skipped = sum(1 for v in verdicts if not v.gated or v.noisy)
    cases = []
    for v in verdicts:
        name = quoteattr(f"{v.task}/{v.model}/{v.metric}")
        body = ""
        if not v.gated or v.noisy:
            body = f'<skipped message={quoteattr(v.message)}/>'
        elif not v.ok:
            detail = f"value {_num(v.value)}, baseline {_num(v.baseline)}, accepted [{_num(v.low)}, {_num(v.high)}]"
            body = f'<failure message={quoteattr(v.message)}>{escape(detail)}</failure>'
        cases.append(f'  <testcase classname={quoteattr("genbench." + suite_name)} name={name}>{body}</testcase>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<testsuite name={quoteattr("genbench check " + suite_name)} tests="{len(verdicts)}" failures="{fails}" '
            f'errors="0" skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n")


def write_reports(verdicts: list[Verdict], suite_name: str, junit: Path, summary: Path) -> str:
    md = markdown_summary(verdicts, suite_name)
    atomic_write_text(junit, junit_xml(verdicts, suite_name))
    atomic_write_text(summary, md)
    gh = os.environ.get("GITHUB_STEP_SUMMARY")
    if gh:
        with open(gh, "a", encoding="utf-8") as f:  # appended by contract: other steps write there too
            f.write(md + "\n")
    return md
