"""Invalid suites fail early: file:line: field.path: problem, exit code 2, no traceback."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, run_cli

GOOD = (ROOT / "suites/quickstart.yaml").read_text()


def line_of(fragment: str) -> int:
    return next(i for i, line in enumerate(GOOD.splitlines(), 1) if fragment in line)


def _check(write_suite, capsys, text: str) -> str:
    p = write_suite(text)
    code, out, err = run_cli(["validate", str(p)], capsys)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    return err


def test_quickstart_validates(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["validate", str(ROOT / "suites/quickstart.yaml")], capsys)
    assert code == 0 and "ok — 4 models" in out


def test_unknown_key_did_you_mean(write_suite, capsys) -> None:
    err = _check(write_suite, capsys, GOOD.replace("    batch_size: 250", "    batch_sise: 250"))
    assert f"suite.yaml:{line_of('batch_size')}: tasks.0.batch_sise: unknown field 'batch_sise'; did you mean 'batch_size'?" in err


def test_unknown_adapter_argument_did_you_mean(write_suite, capsys) -> None:
    err = _check(write_suite, capsys, GOOD.replace("args: {components: 10", "args: {componets: 10"))
    assert f"suite.yaml:{line_of('components')}: models.gmm.args.componets: unknown field 'componets'; did you mean 'components'?" in err


def test_duplicate_key(write_suite, capsys) -> None:
    err = _check(write_suite, capsys, GOOD.replace("    n: 500\n", "    n: 500\n    n: 400\n"))
    n = line_of("n: 500")
    assert f"suite.yaml:{n + 1}: tasks.0.n: duplicate key 'n' (first given at line {n})" in err


def test_wrong_type_and_missing_field(write_suite, capsys) -> None:
    err = _check(write_suite, capsys, GOOD.replace("    n: 500\n", "    n: many\n"))
    assert f"suite.yaml:{line_of('n: 500')}: tasks.0.n: Input should be a valid integer" in err
    err = _check(write_suite, capsys, GOOD.replace("    reference: digits-train\n", ""))
    assert "tasks.0.reference: required field is missing" in err


def test_unknown_names_did_you_mean(write_suite, capsys) -> None:
    err = _check(write_suite, capsys, GOOD.replace("      fid: {}", "      fdi: {}"))
    assert "tasks.0.metrics.fdi: unknown metric 'fdi'; did you mean 'fid'?" in err
    err = _check(write_suite, capsys, GOOD.replace("adapter: noise", "adapter: nosie"))
    assert "models.noise.adapter: unknown adapter 'nosie'; did you mean 'noise'?" in err
    err = _check(write_suite, capsys, GOOD.replace("backbone: digits", "backbone: digit"))
    assert "tasks.0.backbone: unknown backbone 'digit'; did you mean 'digits'?" in err
    err = _check(write_suite, capsys, GOOD.replace("reference: digits-train", "reference: digits-tarin"))
    assert "tasks.0.reference: unknown dataset 'digits-tarin'; did you mean 'digits-train'?" in err


def test_bad_metric_option_and_invalid_yaml(write_suite, capsys) -> None:
    err = _check(write_suite, capsys, GOOD.replace("isc: {splits: 10}", "isc: {splits: 0}"))
    assert "tasks.0.metrics.isc.splits: Input should be greater than 0" in err
    err = _check(write_suite, capsys, GOOD + "\n  - [unclosed\n")
    assert "invalid YAML" in err


def test_several_problems_are_all_reported(write_suite, capsys) -> None:
    err = _check(write_suite, capsys, GOOD.replace("fid: {}", "fdi: {}").replace("adapter: noise", "adapter: nosie"))
    assert "unknown metric 'fdi'" in err and "unknown adapter 'nosie'" in err


def test_missing_suite_file(capsys) -> None:
    code, _, err = run_cli(["validate", "no/such/suite.yaml"], capsys)
    assert code == 2 and "no/such/suite.yaml: suite file does not exist" in err
