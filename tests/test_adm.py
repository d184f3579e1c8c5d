"""The ``adm`` protocol: OpenAI's guided-diffusion evaluator (ADM) on torch-fidelity's Inception, offline.

Random-init weights in torch-fidelity's real ``.pth`` format (bench.parity); ADM-style batches (``arr_0``, uint8
NHWC, with and without stored ``mu``/``sigma``/``mu_s``/``sigma_s``). What is checked: the layer mapping of ADM's
``mixed_6/conv`` (a hook on torch-fidelity's own network), IS over 5,000-sample blocks in file order against the
evaluator's formula, stored statistics used for FID/sFID and images for precision/recall, and FID equal to
tf-compat's on the same inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.metrics.base import Reference, SampleSet
from bench.metrics.distribution import FID, SFID, InceptionScore, inception_score_in_blocks
from bench.metrics.frechet import GaussianStats, frechet_distance, gaussian_stats


def _adm_is_formula(logits: np.ndarray, split_size: int) -> float:
    """guided-diffusion evaluator.py ``compute_inception_score`` written out (float32 softmax, as TF returns it)."""
    x = logits.astype(np.float32)
    e = np.exp(x - x.max(1, keepdims=True))
    preds = e / e.sum(1, keepdims=True)
    scores = []
    for i in range(0, len(preds), split_size):
        part = preds[i: i + split_size]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores))


def test_inception_score_in_blocks_hand_computed() -> None:
    k = 8
    confident = np.full((k, k), -1e4, np.float32)
    np.fill_diagonal(confident, 0.0)  # each sample certain of its own class, classes uniform: IS = K
    assert inception_score_in_blocks(confident, k)[0] == pytest.approx(k, rel=1e-9)
    assert inception_score_in_blocks(np.zeros((6, 5)), 3)[0] == pytest.approx(1.0)  # p(y|x) = p(y): IS = 1
    # two blocks in file order: [confident on 4 classes] then [all on one class]: (4 + 1) / 2
    blocks = np.concatenate([confident[:4, :4], np.tile(confident[:1, :4], (4, 1))])
    mean, std, splits = inception_score_in_blocks(blocks, 4)
    assert (mean, std, splits) == (pytest.approx(2.5), pytest.approx(1.5), 2)
    # shuffling would mix the blocks: ADM's order matters
    assert inception_score_in_blocks(blocks[[0, 4, 1, 5, 2, 6, 3, 7]], 4)[0] != pytest.approx(2.5)


def test_inception_score_in_blocks_equals_the_evaluator_formula() -> None:
    logits = np.random.default_rng(0).normal(0, 3, (1234, 1008)).astype(np.float32)
    for size in (5000, 500, 123):  # one block, several, a short last block
        ours = InceptionScore({"split_size": size, "shuffle": False}).compute(
            SampleSet(features={"logits": logits}, layer="logits"), Reference(), seed=0)[0]
        assert ours.value == pytest.approx(_adm_is_formula(logits, size), rel=1e-5)
        assert ours.extras["splits"] == -(-1234 // size)


def test_split_size_refuses_shuffling() -> None:
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="shuffle: false"):
        InceptionScore({"split_size": 10}).compute(SampleSet(features={"logits": np.zeros((4, 3))}, layer="logits"),
                                                   Reference(), seed=0)


def test_stored_statistics_are_used_for_frechet_metrics() -> None:
    rng = np.random.default_rng(1)
    g, r = rng.normal(size=(300, 6)), rng.normal(0.5, 1, size=(200, 6))
    stored = GaussianStats(np.full(6, 2.0), np.eye(6) * 3, 0)
    ref = Reference("ref", features={"spatial": r}, layer="spatial", stored_stats={"spatial": stored})
    sg = gaussian_stats(g)
    got = SFID().compute(SampleSet(features={"spatial": g}, layer="spatial"), ref, seed=0)[0]
    assert got.metric == "sfid" and got.extras["reference_statistics"] == "stored in the reference file"
    assert got.value == pytest.approx(frechet_distance(sg.mu, sg.sigma, stored.mu, stored.sigma).value, rel=1e-12)
    # another layer of the same reference has no stored fit: its images' features are used
    plain = FID().compute(SampleSet(features={"pool": g}, layer="pool"),
                          Reference("ref", features={"pool": r}, layer="pool", stored_stats={"spatial": stored}), seed=0)[0]
    sr = gaussian_stats(r)
    assert plain.value == pytest.approx(frechet_distance(sg.mu, sg.sigma, sr.mu, sr.sigma).value, rel=1e-9)


# ------------------------------------------------------------------------------------- on the network (slow)


def _images(n: int, size: int, shift: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for i in range(n):
        a = rng.uniform(0, 1, 3)
        im = np.stack([np.sin(6 * xx * a[0] + i) * 0.5 + 0.5, np.cos(5 * yy * a[1]) * 0.5 + 0.5,
                       (xx * yy * a[2] + shift) % 1], -1) * 255 + rng.normal(0, 10 + 20 * shift, (size, size, 3))
        out.append(np.clip(im, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def adm_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from bench.parity import random_inception_state_dict

    root = tmp_path_factory.mktemp("adm")
    w = {"pth": root / "weights-inception-2015-12-05-6726825d.pth"}  # torch-fidelity's file format
    torch.save(random_inception_state_dict(), w["pth"])
    samples, ref = _images(14, 48, 0.0, 0), _images(16, 48, 0.5, 1)
    np.savez(root / "samples.npz", arr_0=samples)
    np.savez(root / "ref.npz", arr_0=ref)
    return {"weights": w["pth"], "samples": root / "samples.npz", "ref": root / "ref.npz", "root": root}


def _backbone(weights: Path, name: str = "inception-v3-adm") -> object:
    from bench.backbones import get_backbone

    b = get_backbone(name, weights=str(weights))
    b.load()
    return b


@pytest.mark.slow
def test_spatial_layer_is_mixed_6_conv(adm_files: dict[str, Path]) -> None:
    """ADM's ``mixed_6/conv`` is torch-fidelity's Mixed_6d.branch1x1 (TF names the mixed blocks mixed, mixed_1, ...
    in order), post-ReLU, 17x17; genbench's ``spatial`` is its first 7 channels in NHWC order (2023-d)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    blocks = [n for n, _ in FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                        feature_extractor_weights_path=str(adm_files["weights"]))
              .named_children() if n.startswith("Mixed_")]
    assert blocks[6] == "Mixed_6d"  # mixed_6
    net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(adm_files["weights"])).eval()
    seen: list[torch.Tensor] = []
    net.Mixed_6d.branch1x1.register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.from_numpy(np.load(adm_files["samples"])["arr_0"][:3]).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        net(x)
    hooked = seen[0]
    assert hooked.shape == (3, 192, 17, 17) and float(hooked.min()) >= 0.0  # the scope's output follows its ReLU
    b = _backbone(adm_files["weights"])
    with torch.no_grad():
        ours = b.forward(b.preprocess(x))  # type: ignore[attr-defined]
    want = hooked[:, :7].permute(0, 2, 3, 1).reshape(3, -1)
    assert ours["spatial"].shape == (3, 2023)
    torch.testing.assert_close(ours["spatial"], want, rtol=0, atol=0)
    # pool and unbiased logits are inception-v3-compat's, unchanged
    compat = _backbone(adm_files["weights"], "inception-v3-compat")
    with torch.no_grad():
        theirs = compat.forward(compat.preprocess(x))  # type: ignore[attr-defined]
    for layer in ("pool", "logits"):
        torch.testing.assert_close(ours[layer], theirs[layer], rtol=0, atol=0)


def _score(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    from bench.cli import main

    capsys.readouterr()
    code = main(["score", "images", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_adm_cli_report_and_stored_statistics(adm_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    w = str(adm_files["weights"])
    s, r = str(adm_files["samples"]), str(adm_files["ref"])
    adm = _score(capsys, s, r, "--protocol", "adm", "--weights", w)
    assert set(adm["metrics"]) == {"isc", "fid", "sfid", "precision", "recall", "f_score"}
    assert adm["protocol"]["name"] == "adm" and adm["protocol"]["backbone"] == "inception-v3-adm"
    assert adm["metrics"]["isc"]["extras"]["split_size"] == 5000 and adm["metrics"]["isc"]["extras"]["splits"] == 1
    # same inputs under tf-compat: the same FID and precision/recall (same network, pipeline, k = 3)
    tf = _score(capsys, s, r, "--protocol", "tf-compat", "--weights", w, "--fid", "--prc")
    for m in ("fid", "precision", "recall"):
        assert adm["metrics"][m]["value"] == pytest.approx(tf["metrics"][m]["value"], rel=1e-9), m

    # a reference batch with stored statistics (as VIRTUAL_imagenet256_labeled.npz): FID/sFID use them, PR the images
    from bench.backbones import get_backbone

    b = get_backbone("inception-v3-adm", weights=w)
    feats = b.extract(torch.from_numpy(np.load(r)["arr_0"]).permute(0, 3, 1, 2).contiguous())
    shifted = {k: gaussian_stats(v + 0.25) for k, v in feats.items()}  # not the images' own fit
    batch = adm_files["root"] / "ref_with_stats.npz"
    np.savez(batch, arr_0=np.load(r)["arr_0"], mu=shifted["pool"].mu, sigma=shifted["pool"].sigma,
             mu_s=shifted["spatial"].mu, sigma_s=shifted["spatial"].sigma)
    stored = _score(capsys, s, str(batch), "--protocol", "adm", "--weights", w)
    gen = b.extract(torch.from_numpy(np.load(s)["arr_0"]).permute(0, 3, 1, 2).contiguous())
    for metric, layer in (("fid", "pool"), ("sfid", "spatial")):
        sg = gaussian_stats(gen[layer])
        want = frechet_distance(sg.mu, sg.sigma, shifted[layer].mu, shifted[layer].sigma).value
        assert stored["metrics"][metric]["value"] == pytest.approx(want, rel=1e-6), metric
        assert stored["metrics"][metric]["extras"]["reference_statistics"] == "stored in the reference file"
        assert stored["metrics"][metric]["value"] != pytest.approx(adm["metrics"][metric]["value"], rel=1e-3)
    for m in ("precision", "recall", "isc"):
        assert stored["metrics"][m]["value"] == adm["metrics"][m]["value"], m
    assert "+stored-statistics@" in stored["protocol"]["reference"]
    # under another protocol the same file is statistics of an unknown protocol, refused with one line
    from bench.cli import main

    capsys.readouterr()
    assert main(["score", "images", s, str(batch), "--protocol", "tf-compat", "--weights", w, "--json"]) == 2
    assert "Traceback" not in capsys.readouterr().err
