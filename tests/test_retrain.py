"""The reproduction rule of bench.retrain on hand-made manifest entries: same bytes under the recorded versions,
the recorded quality within the band under others."""

from __future__ import annotations

import json
from pathlib import Path

from bench.retrain import QUALITY_BAND, compare, outside_band, record_in_manifest, training_environment

ENTRY = {"sha256": "ab" * 32, "quality": {"fid_test": 54.9139, "n": 597, "classes_covered": 10,
                                          "per_direction": {"a2b": {"test_l1": 0.041}}}}


def test_outside_band_names_each_figure_outside() -> None:
    q = ENTRY["quality"]
    assert outside_band(q, q) == []
    near = {"fid_test": 55.92, "n": 597, "classes_covered": 9, "per_direction": {"a2b": {"test_l1": 0.045}}}
    assert outside_band(near, q) == []  # +1.8% FID (a torch release), one class fewer, +0.004 L1
    far = {"fid_test": 61.0, "n": 500, "classes_covered": 7, "per_direction": {"a2b": {}}}
    msgs = outside_band(far, q)
    assert [m.split(":")[0] for m in msgs] == ["fid_test", "n", "classes_covered", "per_direction.a2b.test_l1"]
    assert "61.0 vs 54.9139" in msgs[0] and "None vs 0.041" in msgs[3]
    # the band itself: 10% + 0.01 of a real-valued figure
    assert outside_band({"x": 1.0 * (1 + QUALITY_BAND["rel"]) + QUALITY_BAND["abs"] - 1e-9}, {"x": 1.0}) == []
    assert outside_band({"x": 1.0 * (1 + QUALITY_BAND["rel"]) + QUALITY_BAND["abs"] + 1e-9}, {"x": 1.0}) != []


def test_recorded_versions_demand_the_same_bytes() -> None:
    here = {**ENTRY, "trained_with": training_environment()}
    assert compare(here, ENTRY["quality"], ENTRY["sha256"]).ok
    r = compare(here, ENTRY["quality"], "cd" * 32)  # same versions, other bytes: not reproduced
    assert not r.ok and "sha256 DIFFERS" in r.describe()
    r = compare(here, {**ENTRY["quality"], "fid_test": 55.0}, ENTRY["sha256"])  # within the band, but not equal
    assert not r.ok and "quality DIFFERS" in r.describe()


def test_other_versions_demand_the_quality_within_the_band() -> None:
    other = {**ENTRY, "trained_with": {**training_environment(), "torch": "0.0.1"}}
    r = compare(other, {**ENTRY["quality"], "fid_test": 55.92}, "cd" * 32)
    assert r.ok and not r.same_environment and "torch: " in r.describe() and "within the band" in r.describe()
    r = compare(other, {**ENTRY["quality"], "fid_test": 70.0}, "cd" * 32)
    assert not r.ok and "OUTSIDE the band: fid_test" in r.describe()
    assert compare(ENTRY, ENTRY["quality"], "cd" * 32).ok  # an entry that records no versions: the band
    wide = {**other, "quality_band": {"rel": 0.35}}  # an entry may widen its own band (adversarial training)
    assert compare(wide, {**ENTRY["quality"], "fid_test": 70.0}, "cd" * 32).ok


def test_an_entry_recorded_without_the_cpu_capability_counts_as_another_machine() -> None:
    """Two "AMD EPYC" machines with the same versions trained other bytes (the VQ-VAE: rFID 1.7613 shipped, 1.5487
    here): a record that does not name the instruction set is judged by the band, not by its bytes."""
    old = {k: v for k, v in training_environment().items() if k != "cpu_capability"}
    r = compare({**ENTRY, "trained_with": old}, {**ENTRY["quality"], "fid_test": 55.92}, "cd" * 32)
    assert not r.same_environment and r.ok and "cpu_capability: " in r.describe()


def test_record_in_manifest_adds_the_versions(tmp_path: Path) -> None:
    m = tmp_path / "MANIFEST.json"
    m.write_text(json.dumps({"z": {"sha256": "00"}}))
    record_in_manifest(m, "a.pt", {"sha256": "11", "quality": {"x": 1}})
    data = json.loads(m.read_text())
    assert list(data) == ["a.pt", "z"] and data["z"] == {"sha256": "00"}
    assert data["a.pt"]["trained_with"] == training_environment()
    assert set(training_environment()) == {"python", "torch", "numpy", "machine", "cpu", "cpu_capability"}
