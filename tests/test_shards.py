"""Job arrays (``genbench run --shard I/N``): every (task, model) pair in exactly one shard, and the shards' run
folders read by table/report/compare/check as the one run an unsharded job would have written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_tiny

TWO_TASKS = """
  - name: second
    reference: digits-test
    n: 100
    batch_size: 100
    metrics: [fid]
"""


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(suite, folder of 3 shard runs, one unsharded run) of the tiny suite with a second task: 6 pairs."""
    from bench.cli import main

    root = tmp_path_factory.mktemp("shards")
    suite = write_tiny(root)
    suite.write_text(suite.read_text().replace("\noutput:", TWO_TASKS.rstrip("\n") + "\noutput:"))
    for i in range(3):
        assert main(["run", str(suite), "--shard", f"{i}/3", "--out", str(root / "sharded"), "--quiet"]) == 0
    assert main(["run", str(suite), "--out", str(root / "whole"), "--quiet"]) == 0
    (whole,) = (root / "whole" / "tiny").iterdir()
    return suite, root / "sharded" / "tiny", whole


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in (path / "rows.jsonl").read_text().splitlines()]


def test_every_pair_in_exactly_one_shard(sharded: tuple[Path, Path, Path]) -> None:
    _, folder, whole = sharded
    shards = sorted(folder.iterdir())
    assert [p.name[-5:] for p in shards] == ["s0of3", "s1of3", "s2of3"]
    pairs = [tuple(p) for s in shards for p in json.loads((s / "manifest.json").read_text())["shard"]["pairs"]]
    # suite order: (unconditional: heldout-real, gmm, noise), (second: heldout-real, gmm, noise), dealt round-robin
    assert pairs == [("unconditional", "heldout-real"), ("second", "heldout-real"),
                     ("unconditional", "gmm"), ("second", "gmm"),
                     ("unconditional", "noise"), ("second", "noise")]
    got = sorted((r["task"], r["model"], r["metric"]) for s in shards for r in _rows(s))
    assert got == sorted((r["task"], r["model"], r["metric"]) for r in _rows(whole))


def test_table_of_the_shards_is_the_table_of_the_whole_run(sharded: tuple[Path, Path, Path],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, folder, whole = sharded
    code, one, _ = run_cli(["table", str(whole)], capsys)
    assert code == 0
    code, many, err = run_cli(["table", str(folder)], capsys)  # the folder holding the shards
    assert code == 0 and "warning" not in err
    assert many == one  # same values, same suite order
    shards = sorted(folder.iterdir())
    code, listed, _ = run_cli(["table", *map(str, shards)], capsys)  # or the shard folders themselves
    assert code == 0 and listed == one
    with pytest.warns(UserWarning, match="shard\\(s\\) 1 of 3 not given"):  # the CLI prints "genbench: warning: ..."
        code, partial, err = run_cli(["table", str(shards[0]), str(shards[2])], capsys)
    assert code == 0 and "| gmm" not in partial and "| noise" in partial  # shard 1 held both tasks of gmm


def test_compare_report_and_check_take_the_shards_as_one_run(sharded: tuple[Path, Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    suite, folder, whole = sharded
    shards = sorted(folder.iterdir())
    code, out, err = run_cli(["compare", ",".join(map(str, shards)), str(whole)], capsys)
    assert code == 0, err
    assert "unconditional" in out and "second" in out and "gmm" in out
    code, out, _ = run_cli(["report", str(folder), "--out", str(tmp_path / "rep")], capsys)
    html = (tmp_path / "rep" / "index.html").read_text()
    assert code == 0 and "-3shards" in html and html.count('class="grid"') >= 3
    assert run_cli(["baseline", "save", str(whole), "tiny", "--dir", str(tmp_path / "b")], capsys)[0] == 0
    code, out, err = run_cli(["check", str(suite), "--baseline", str(tmp_path / "b" / "tiny.json"), "--run",
                              str(folder), "--junit", str(tmp_path / "j.xml"), "--summary", str(tmp_path / "s.md")],
                             capsys)
    assert code == 0, err
    code, _, err = run_cli(["check", str(suite), "--baseline", str(tmp_path / "b" / "tiny.json"), "--run",
                            str(shards[0]), "--junit", str(tmp_path / "j.xml")], capsys)
    assert code == 2 and "shard(s) 1, 2 of 3 not given" in err


def test_shards_that_cannot_be_one_run_are_refused(sharded: tuple[Path, Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    suite, folder, _ = sharded
    shards = sorted(folder.iterdir())
    other = write_tiny(tmp_path, seed=1)  # another suite (hash): its shard cannot join the first run's
    assert main(["run", str(other), "--shard", "1/3", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    (foreign,) = (tmp_path / "o" / "tiny").iterdir()
    code, _, err = run_cli(["table", str(shards[0]), str(foreign)], capsys)
    assert code == 2 and "shards of different suites cannot be read as one run" in err
    code, _, err = run_cli(["table", str(shards[0]), str(shards[0])], capsys)
    assert code == 2 and "shard 0/3 given twice" in err
    # a shard's folder resumes as that shard only
    code, _, err = run_cli(["run", str(suite), "--resume", str(shards[1]), "--shard", "0/3", "--quiet"], capsys)
    assert code == 2 and "is a run of shard 1/3, not of shard 0/3" in err
    with pytest.raises(SystemExit):
        main(["run", str(suite), "--shard", "3/3"])
    assert "expected I/N with 0 <= I < N" in capsys.readouterr().err
