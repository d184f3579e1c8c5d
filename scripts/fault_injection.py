"""Kill a suite's run with ``kill -9`` at random points, damage its rows file, resume it, and compare every row
with an uninterrupted run (docs/reliability.md).

    python scripts/fault_injection.py --suite suites/quickstart.yaml --cycles 10 --seed 0

Each cycle starts ``genbench run``, sends SIGKILL after a random delay (uniform over 0.3 s to 80% of the clean run's duration),
then, every other cycle, damages the rows file as a crash or a bad disk could (a torn last line, a garbled middle
line), and resumes with ``genbench run --resume`` until the run completes. The rows of every resumed run are
compared with the clean run's: values and every field but timings, for every (task, model, metric) — the timing
task's rows (perf: times, memory peaks) differ from run to run by nature, so only their presence is compared. Prints the figures and
exits 1 if any row was lost, duplicated or different.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def genbench(*args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def rows(run: Path) -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from bench.results import RunDir

    return RunDir(run).row_dicts()


def comparable(all_rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    out: dict[tuple[str, str, str], Any] = {}
    timed = {r["task"] for r in all_rows if r["metric"].startswith(("latency", "throughput"))}  # perf tasks
    for r in all_rows:
        key = (r["task"], r["model"], r["metric"])
        if r["task"] in timed:
            out[key] = "measured"  # times, memory peaks: only the row's presence is compared
            continue
        extras = {k: v for k, v in (r.get("extras") or {}).items() if not k.endswith("seconds")}
        out[key] = json.dumps({**{k: v for k, v in r.items() if k not in ("seconds", "run_id")}, "extras": extras},
                              sort_keys=True)
    return out


def damage(rows_file: Path, rng: random.Random) -> str:
    """Tear the last line or garble a middle one; which one was done."""
    if not rows_file.is_file():
        return ""
    data = rows_file.read_bytes()
    lines = data.split(b"\n")[:-1]
    if len(lines) < 2:
        return ""
    if rng.random() < 0.5:
        rows_file.write_bytes(data[: len(data) - rng.randint(2, min(40, len(lines[-1])))])
        return "torn last line"
    i = rng.randrange(len(lines) - 1)
    lines[i] = lines[i][: len(lines[i]) // 2] + b"#" + lines[i][len(lines[i]) // 2 + 1:]
    rows_file.write_bytes(b"\n".join(lines) + b"\n")
    return "garbled middle line"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default=str(ROOT / "suites" / "quickstart.yaml"))
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", help="scratch folder (default: a new temporary one)")
    ap.add_argument("--no-together", action="store_true", help="skip the two runs started together")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(args.work or tempfile.mkdtemp(prefix="genbench-faults-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1",
           "GENBENCH_CACHE": str(work / "cache")}
    suite_name = None

    t0 = time.monotonic()
    p = genbench("run", args.suite, "--out", str(work / "clean"), "--quiet", env=env)
    _, err = p.communicate()
    clean_seconds = time.monotonic() - t0
    if p.returncode != 0:
        print(err.decode(), file=sys.stderr)
        return 2
    (clean_run,) = [d for s in (work / "clean").iterdir() for d in s.iterdir()]
    suite_name = clean_run.parent.name
    want = comparable(rows(clean_run))
    print(f"clean run: {len(want)} rows in {clean_seconds:.1f} s ({clean_run})")

    kills = damaged = resumes = lost = differing = duplicated = 0
    for cycle in range(args.cycles):
        out = work / f"cycle{cycle}"
        p = genbench("run", args.suite, "--out", str(out), "--quiet", env=env)
        delay = rng.uniform(0.3, 0.8 * clean_seconds)  # the clean run was timed alone: leave room for load
        try:
            p.wait(timeout=delay)
            note = "finished before the kill"
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            kills += 1
            note = f"kill -9 at {delay:.1f} s"
        folders = sorted((out / suite_name).iterdir()) if (out / suite_name).is_dir() else []
        if not folders:  # killed before the run folder existed: nothing to resume, a new run is the recovery
            p = genbench("run", args.suite, "--out", str(out), "--quiet", env=env)
            p.communicate()
            folders = sorted((out / suite_name).iterdir())
        run = folders[0]
        hurt = damage(run / "rows.jsonl", rng) if cycle % 2 else ""
        damaged += bool(hurt)
        for _ in range(3):
            p = genbench("run", args.suite, "--resume", str(run), "--quiet", env=env)
            _, err = p.communicate()
            resumes += 1
            status = json.loads((run / "manifest.json").read_text()).get("status")
            if p.returncode == 0 and status == "complete":
                break
            print(f"  resume: exit {p.returncode}, status {status}: {err.decode()[-400:]}")
        got_rows = rows(run)
        got = comparable(got_rows)
        cycle_lost = len(set(want) - set(got))
        cycle_diff = sum(1 for k in want if k in got and got[k] != want[k])
        cycle_dup = len(got_rows) - len(got)
        lost, differing, duplicated = lost + cycle_lost, differing + cycle_diff, duplicated + cycle_dup
        print(f"cycle {cycle}: {note}{'; ' + hurt if hurt else ''}; after resume {len(got)} rows, lost "
              f"{cycle_lost}, differing {cycle_diff}, duplicated {cycle_dup}")
    together = 0
    concurrent_ok = True
    if not args.no_together:
        # two runs started together into one output folder (two terminals, a job array): two folders, both whole;
        # then two resumes of one folder at once: one of them is refused (the folder is locked), nothing is mixed
        both = [genbench("run", args.suite, "--out", str(work / "together"), "--quiet", env=env) for _ in range(2)]
        codes = [(p.communicate(), p.returncode)[1] for p in both]
        runs = sorted((work / "together" / suite_name).iterdir())
        for run in runs:
            got_rows = rows(run)
            got = comparable(got_rows)
            lost += len(set(want) - set(got))
            differing += sum(1 for k in want if k in got and got[k] != want[k])
            duplicated += len(got_rows) - len(got)
        twice = [genbench("run", args.suite, "--resume", str(runs[0]), "--quiet", env=env) for _ in range(2)]
        outcomes = [(p.returncode, err.decode()) for p in twice for _, err in [p.communicate()]]
        refused = sum(code == 2 and "is writing this run folder" in err for code, err in outcomes)
        concurrent_ok = codes == [0, 0] and len(runs) == 2 and sorted(c for c, _ in outcomes) in ([0, 0], [0, 2])
        print(f"two runs started together: exit codes {codes}, {len(runs)} run folders; two resumes of one folder at "
              f"once: exit codes {[c for c, _ in outcomes]} ({refused} refused by the lock)")
        together = 2
    print(f"kills survived: {kills}; rows files damaged: {damaged}; concurrent starts: {together}; faults tried: "
          f"{kills + damaged + together}; resumes: {resumes}; rows expected per run: {len(want)}")
    print(f"rows lost: {lost}; rows differing: {differing}; rows duplicated: {duplicated}")
    return 0 if lost == differing == duplicated == 0 and concurrent_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
