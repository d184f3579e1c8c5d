"""Weights resolution: explicit path, cache (sha256-checked), verified download, clear offline error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bench.errors import WeightsError
from bench.weights import WeightsFile, resolve, sha256_file, weights_dir


@pytest.fixture(autouse=True)
def _empty(empty_cache: Path) -> None:
    """Each test starts with an empty weights cache."""


def _spec(tmp_path: Path, payload: bytes = b"weights-bytes" * 1000) -> tuple[WeightsFile, Path]:
    src = tmp_path / "published.pt"
    src.write_bytes(payload)
    spec = WeightsFile(name="toy", filename="toy-1234.pt", url=src.as_uri(), sha256=hashlib.sha256(payload).hexdigest(),
                       size=len(payload), used_by="test")
    return spec, src


def test_offline_missing_file_names_url_and_path(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path)
    with pytest.raises(WeightsError) as exc:
        resolve(spec)  # GENBENCH_OFFLINE=1 in tests
    msg = str(exc.value)
    assert spec.url in msg and str(weights_dir() / "toy-1234.pt") in msg


def test_download_verifies_and_fills_the_cache(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path)
    r = resolve(spec, download=True)
    assert r.source == "download" and r.path == weights_dir() / "toy-1234.pt"
    assert sha256_file(r.path) == spec.sha256
    again = resolve(spec, download=False)
    assert again.source == "cache" and again.sha256 == spec.sha256
    assert not list(r.path.parent.glob("*.part"))


def test_download_with_wrong_hash_leaves_nothing(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path)
    bad = WeightsFile(spec.name, spec.filename, spec.url, "0" * 64)
    with pytest.raises(WeightsError, match="expected 000000"):
        resolve(bad, download=True)
    assert not (weights_dir() / spec.filename).exists()
    assert not list(weights_dir().glob("*.part"))


def test_corrupted_cache_file_is_refused(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path)
    p = weights_dir() / spec.filename
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"truncated")
    with pytest.raises(WeightsError, match="does not match the published"):
        resolve(spec)


def test_explicit_path_is_hashed_not_required_to_match(tmp_path: Path) -> None:
    spec, _ = _spec(tmp_path)
    mine = tmp_path / "finetuned.pt"
    mine.write_bytes(b"other")
    r = resolve(spec, mine)
    assert r.source == "explicit" and r.sha256 == hashlib.sha256(b"other").hexdigest()
    with pytest.raises(WeightsError, match="does not exist"):
        resolve(spec, tmp_path / "nope.pt")


def test_weights_in_torch_hub_checkpoints_are_used_when_their_hash_is_the_published_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files torchvision / lpips / pytorch-fid already downloaded ($TORCH_HOME/hub/checkpoints) are found, never
    trusted by name alone: a file of another hash under the same name is not used."""
    import hashlib

    from bench.errors import WeightsError
    from bench.weights import WeightsFile, is_present, resolve

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path / "cache"))
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "net-1234.pth").write_bytes(b"published bytes")
    spec = WeightsFile(name="net", filename="net-1234.pth", url=None,
                       sha256=hashlib.sha256(b"published bytes").hexdigest())
    assert is_present(spec)
    r = resolve(spec, download=False)
    assert r.source == "torch-hub" and r.path == hub / "net-1234.pth"
    (hub / "net-1234.pth").write_bytes(b"other bytes")
    from bench.weights import sha256_file

    sha256_file.cache_clear() if hasattr(sha256_file, "cache_clear") else None
    assert not is_present(spec)
    with pytest.raises(WeightsError, match="weights 'net' not found"):
        resolve(spec, download=False)


def test_clean_fids_own_download_is_used_after_its_hash_check(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """clean-fid keeps NVIDIA's Inception in the system temporary folder: genbench uses that file when its sha256 is
    the pinned one, and never a file of that name with other bytes (a TorchScript file runs code when loaded)."""
    import dataclasses
    import tempfile

    from bench.backbones.inception import INCEPTION_TORCHSCRIPT
    from bench.weights import library_path, sha256_file

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    planted = tmp_path / INCEPTION_TORCHSCRIPT.filename
    planted.write_bytes(b"not NVIDIA's file")
    assert library_path(INCEPTION_TORCHSCRIPT) is None  # the name alone is not enough
    pinned = dataclasses.replace(INCEPTION_TORCHSCRIPT, sha256=sha256_file(planted))  # as if these were its bytes
    assert library_path(pinned) == (planted, "clean-fid")
