"""``genbench compare RUN_A RUN_B``: per-metric deltas and whether they are distinguishable from sampling noise.

* Set-level metrics (FID, KID) have one number per model, so their noise is estimated by a bootstrap: both
  generated feature sets are resampled with replacement (the reference set is held fixed) and the metric is
  recomputed with the options the suite used (FID exactly as reported; KID as the full-set unbiased MMD² with the
  suite's kernel, which estimates the same quantity as the subset mean at a fraction of the cost). The features come from the on-disk feature cache through the keys
  the runner records in each row's ``extras.feature_keys``; when they are not cached the delta is reported without
  a test rather than guessed. Caveat, stated rather than hidden: resampling with replacement duplicates samples,
  which biases FID upward a little; both sides get the same bias, so the *delta's* interval is what is used.
* Metrics with per-sample scores (``extras.per_sample``, same sample ids in both runs) get a paired Wilcoxon
  signed-rank test.
* Anything else is reported as a delta with no test.

Runs whose protocols differ for a shared (task, metric) are refused (ProtocolMismatchError, exit 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import InputError, ProtocolMismatchError, did_you_mean
from bench.results import open_runs

BOOTSTRAP_METRICS = {"fid": "fid", "kid": "kid"}  # value name → metric class name


@dataclass
class Delta:
    task: str
    model: str
    metric: str
    a: float
    b: float
    higher_is_better: bool
    test: str
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    significant: bool | None = None

    @property
    def delta(self) -> float:
        return self.b - self.a

    @property
    def verdict(self) -> str:
        if self.significant is None:
            return "untested"
        if not self.significant:
            return "no significant change"
        improved = (self.delta > 0) == self.higher_is_better
        return "better" if improved else "worse"


def _load(run: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any], Path]:
    """(rows, manifest, folder) of one side: a run folder, or the shard folders of one sharded run
    (bench.results.open_runs: ``A1,A2,...`` or the folder holding them)."""
    runs = open_runs([run])
    if len(runs) != 1:
        raise InputError(f"{run}: holds {len(runs)} runs; compare takes one run per side (name its folder)")
    if runs[0].missing:
        raise InputError(f"{run}: {runs[0].missing_shards} missing; give every shard of the run")
    return runs[0].row_dicts(), runs[0].manifest, runs[0].path


def per_sample_scores(run: str | Path, row: dict[str, Any]) -> list[float] | None:
    """A row's per-sample scores wherever the task kept them: ``extras.per_sample``, the JSON file named in
    ``extras.per_sample_file`` (every task kind's ``per_sample/<task>/<model>.json``), or, for run folders made
    before the per-sample file was unified, the translation task's ``per_image/<task>/<model>.csv``."""
    import csv
    import json

    extras = row.get("extras") or {}
    if extras.get("per_sample") is not None:
        return [float(x) for x in extras["per_sample"]]
    metric = row["metric"]
    if extras.get("per_sample_file"):
        p = Path(run) / extras["per_sample_file"]
        if p.is_file():
            data = json.loads(p.read_text(encoding="utf-8"))
            vals = data.get(metric) if isinstance(data, dict) else None
            if isinstance(vals, list) and vals and all(isinstance(x, int | float) for x in vals):
                return [float(x) for x in vals]
    p = Path(run) / "per_image" / row["task"] / f"{row['model']}.csv"
    if p.is_file():
        with open(p, newline="", encoding="utf-8") as f:
            table = list(csv.DictReader(f))
        if table and metric in table[0]:
            return [float(r[metric]) for r in table]
    return None


def _metric_options(manifest: dict[str, Any], task: str, metric: str) -> dict[str, Any]:
    for t in (manifest.get("suite_spec") or {}).get("tasks", []):
        if t.get("name") == task:
            return dict((t.get("metrics") or {}).get(metric) or {})
    return {}


def _features(key: str | None, store_dir: Path) -> dict[str, np.ndarray] | None:
    if not key:
        return None
    path = store_dir / key[:2] / f"{key}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class _KIDReplicates:
    """Unbiased MMD² with KID's polynomial kernel (same options as the suite) for resampled generated sets."""

    def __init__(self, gen: np.ndarray, ref: np.ndarray, opts: dict[str, Any]) -> None:
        g, r = gen.astype(np.float64), ref.astype(np.float64)
        d = g.shape[1]
        gamma = opts.get("gamma") or 1.0 / d
        degree, coef0 = int(opts.get("degree", 3)), float(opts.get("coef0", 1.0))

        def k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return (gamma * x @ y.T + coef0) ** degree

        self.n = len(g)
        self.kgg, self.kgr_row = k(g, g), k(g, r).mean(axis=1)
        krr = k(r, r)
        m = len(r)
        self.rr = (krr.sum() - np.trace(krr)) / (m * (m - 1))

    def __call__(self, idx: np.ndarray) -> float:
        sub = self.kgg[np.ix_(idx, idx)]
        n = len(idx)
        gg = (sub.sum() - np.trace(sub)) / (n * (n - 1))
        return float(gg + self.rr - 2 * self.kgr_row[idx].mean())


def _bootstrap(ra: dict[str, Any], rb: dict[str, Any], ma: dict[str, Any], mb: dict[str, Any], n_boot: int,
               alpha: float, store_dir: Path) -> tuple[float, float] | None:
    from bench.seeding import derive_seed

    keys_a, keys_b = (ra.get("extras") or {}).get("feature_keys") or {}, (rb.get("extras") or {}).get("feature_keys") or {}
    ga, gb = _features(keys_a.get("generated"), store_dir), _features(keys_b.get("generated"), store_dir)
    ref = _features(keys_a.get("reference"), store_dir)
    if ga is None or gb is None or ref is None:
        return None
    layer = (ra.get("protocol") or {}).get("layer")
    if layer not in ga:
        return None
    name = BOOTSTRAP_METRICS[ra["metric"]]
    opts_a, opts_b = _metric_options(ma, ra["task"], name), _metric_options(mb, rb["task"], name)
    rng = np.random.default_rng(derive_seed("compare", ra["task"], ra["model"], ra["metric"]))
    deltas = []
    if name == "kid":
        # torch-fidelity's subset KID costs ~0.4 s a call; the full-set unbiased MMD² estimates the same quantity
        # and, with kernel matrices computed once, a replicate is just indexing.
        fa, fb = _KIDReplicates(ga[layer], ref[layer], opts_a), _KIDReplicates(gb[layer], ref[layer], opts_b)
        for _ in range(n_boot):
            deltas.append(fb(rng.integers(0, fb.n, fb.n)) - fa(rng.integers(0, fa.n, fa.n)))
    else:  # fid: the reference is fixed across replicates, so its statistics and matrix square root are
        # computed once (two 2048-d eigendecompositions per replicate otherwise)
        from bench.metrics.frechet import frechet_distance, gaussian_stats, psd_sqrt

        sr = gaussian_stats(ref[layer])
        root = psd_sqrt(sr.sigma)

        def fid_of(x: np.ndarray) -> float:
            s = gaussian_stats(x)
            return frechet_distance(sr.mu, sr.sigma, s.mu, s.sigma, sqrt_sigma1=root).value

        for _ in range(n_boot):
            ia = rng.integers(0, len(ga[layer]), len(ga[layer]))
            ib = rng.integers(0, len(gb[layer]), len(gb[layer]))
            deltas.append(fid_of(gb[layer][ib]) - fid_of(ga[layer][ia]))
    lo, hi = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def compare_runs(run_a: str | Path, run_b: str | Path, n_boot: int = 200, alpha: float = 0.05,
                 store_dir: str | Path | None = None, model_map: dict[str, str] | None = None) -> list[Delta]:
    """Per-metric deltas B − A for every (task, model, metric) both runs have. ``model_map`` pairs a model of A
    with a differently named model of B (``{"old": "new"}``: a renamed or retrained model); its deltas are
    labelled ``old→new``."""
    from bench.weights import cache_root

    rows_a, man_a, path_a = _load(run_a)
    rows_b, man_b, path_b = _load(run_b)
    sdir = Path(store_dir) if store_dir is not None else cache_root() / "features"
    model_map = dict(model_map or {})
    for old, new in model_map.items():  # a misspelt name would silently compare nothing: refused, with the names
        for name, rows, run in ((old, rows_a, run_a), (new, rows_b, run_b)):
            names = sorted({r["model"] for r in rows})
            if name not in names:
                raise InputError(f"--map {old}={new}: {run}: no model '{name}'{did_you_mean(name, names)}")
    back = {new: old for old, new in model_map.items()}
    a = {(r["task"], r["model"], r["metric"]): r for r in rows_a}
    b = {(r["task"], back.get(r["model"], r["model"]), r["metric"]): r for r in rows_b}
    shared = [k for k in a if k in b]
    if not shared:
        raise InputError(f"{run_a} and {run_b} share no (task, model, metric); nothing to compare")
    bad = sorted({f"task {k[0]}, metric {k[2]}: {a[k].get('protocol_id')} vs {b[k].get('protocol_id')}"
                  for k in shared if a[k].get("protocol_id") != b[k].get("protocol_id")})
    if bad:
        raise ProtocolMismatchError("the runs were computed under different protocols; refusing to compare:\n"
                                    + "\n".join(bad[:10]))
    out = []
    for k in shared:
        ra, rb = a[k], b[k]
        if ra.get("value") is None or rb.get("value") is None:
            continue
        label = f"{k[1]}→{rb['model']}" if rb["model"] != k[1] else k[1]
        d = Delta(k[0], label, k[2], a=float(ra["value"]), b=float(rb["value"]),
                  higher_is_better=bool(ra["higher_is_better"]), test="none")
        pa, pb = per_sample_scores(path_a, ra), per_sample_scores(path_b, rb)
        if pa is not None and pb is not None and len(pa) == len(pb) and len(pa) > 5:
            from scipy.stats import wilcoxon

            diff = np.asarray(pb, dtype=float) - np.asarray(pa, dtype=float)
            d.test = "paired Wilcoxon"
            d.p_value = 1.0 if not np.any(diff) else float(wilcoxon(diff).pvalue)
            d.significant = d.p_value < alpha
        elif k[2] in BOOTSTRAP_METRICS:
            ci = _bootstrap(ra, rb, man_a, man_b, n_boot, alpha, sdir)
            if ci is None:
                d.test = "none (features not in cache)"
            else:
                d.test = f"bootstrap ×{n_boot}"
                d.ci_low, d.ci_high = ci
                d.significant = not (ci[0] <= 0 <= ci[1])
        out.append(d)
    return out


def compare_markdown(deltas: list[Delta], run_a: str | Path, run_b: str | Path) -> str:
    lines = [f"# compare A={Path(run_a).name} → B={Path(run_b).name}\n",
             "| task | model | metric | A | B | Δ (B−A) | interval of Δ | p | test | verdict |",
             "|---|---|---|---:|---:|---:|---|---:|---|---|"]
    for d in deltas:
        arrow = "↑" if d.higher_is_better else "↓"
        iv = f"[{d.ci_low:.4g}, {d.ci_high:.4g}]" if d.ci_low is not None and d.ci_high is not None else ""
        p = f"{d.p_value:.3g}" if d.p_value is not None else ""
        lines.append(f"| {d.task} | {d.model} | {d.metric} {arrow} | {d.a:.4g} | {d.b:.4g} | {d.delta:+.4g} | {iv} | {p} | "
                     f"{d.test} | {d.verdict} |")
    return "\n".join(lines) + "\n"
