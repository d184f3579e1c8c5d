"""The Python API: genbench from a notebook or a training loop, with exactly the CLI's numbers.

    import bench
    bench.score_images("samples/", "real/", metrics=["fid", "kid"])             # {"fid": 3.1, "kid": ...}
    bench.score_images(generator, "real/", n=10_000, range="-1,1")               # an nn.Module or a callable
    bench.score_images(uint8_nhwc_array, reference_tensor, protocol="digits")    # arrays and tensors
    bench.score_pairs("translated/", "ground_truth/", metrics=["l1", "psnr"])
    bench.score_captions({img_id: [refs, ...]}, {img_id: hypothesis})
    df = bench.run_suite("suites/quickstart.yaml")                               # pandas DataFrame, one row per value

Every function computes in process with the same task kinds, caches and metrics as the command line, and writes
nothing but the content cache: ``score_images`` through :func:`bench.evaluation.evaluate` (which also returns typed
rows: ``bench.evaluate``), ``score_pairs``, ``score_cycle``, ``score_caption_images`` and ``run_suite`` through
:func:`bench.evaluation.run_plan` (a suite's tasks with no run folder); ``score_captions`` and ``score_retrieval``
call the command's own scorers. They return plain floats keyed by value name. Errors are
:class:`bench.errors.GenbenchError` with the CLI's message.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import InputError

#: a folder, an .npz/.npy file or a named reference; uint8 (or float, with ``range``) images as an array or tensor
#: (NCHW or NHWC); or, for the generated side, an ``nn.Module`` / callable generator
ImageInput = str | os.PathLike | np.ndarray | torch.Tensor | torch.nn.Module | Callable[..., Any]

def _is_statistics(x: Any) -> bool:
    """Whether a path names statistics (an .npz with mu/sigma, a torch-fidelity .pt, a named reference)."""
    if not isinstance(x, str | os.PathLike):
        return False
    from bench.inputs import input_source

    try:
        return input_source(os.fspath(x))[0] == "stats"
    except InputError:
        return False


@contextlib.contextmanager
def _every_call_warned() -> Iterator[None]:
    """genbench's own warnings on every call, not once per process (Python's default): a notebook's second,
    cached call is warned about as the first was."""
    with warnings.catch_warnings():
        warnings.filterwarnings("always", module=r"bench\.")
        yield


def score_images(generated: ImageInput, reference: ImageInput, metrics: Sequence[str] = ("fid",), *,
                 protocol: str | None = None, backbone: str | None = None, weights: str | None = None,
                 n: int | None = None, range: str | None = None, latent_dim: int | None = None,  # noqa: A002
                 device: str | None = None, seed: int = 0, cache: bool = True, progress: bool = False) -> dict[str, float]:
    """``genbench score images`` from Python: value name → value (``fid``, ``kid``, ``precision``, ...).

    ``generated`` may also be a generator (an ``nn.Module`` mapping latents ``z [n, latent_dim]`` to images in
    ``range``, or an object with ``generate(request)``): it is asked for ``n`` samples with the CLI's per-sample
    seeds. The protocol defaults to the field's standard (``tf-compat``) as on the command line. Runs in process
    (:func:`bench.evaluation.evaluate`: no run folder, no temporary file); statistics as the samples' side go
    through the command's engine, which swaps the sides."""
    if not _is_statistics(generated):
        from bench.evaluation import evaluate

        with _every_call_warned():
            rows = evaluate(generated, reference, list(metrics), protocol=protocol, backbone=backbone,
                            weights=weights, n=n, range=range, latent_dim=latent_dim, device=device, seed=seed,
                            cache=cache, progress=progress)
        return {r.metric: r.value for r in rows}  # type: ignore[misc]
    from bench import score as _score

    with _every_call_warned():
        res = _score.score_images(os.fspath(generated), os.fspath(reference), list(metrics),  # type: ignore[arg-type]
                                  backbone=backbone, weights=weights, n=n, seed=seed, progress=progress, cache=cache,
                                  protocol=protocol, device=device, value_range=range)
    return {k: v["value"] for k, v in res["metrics"].items()}


def score_pairs(outputs: str | os.PathLike, truth: str | os.PathLike, metrics: Sequence[str] = ("l1", "psnr", "ssim"),
                *, net: str = "auto", device: str | None = None, cache: bool = True) -> dict[str, float]:
    """``genbench score pairs`` from Python: translations vs same-named ground truth, value name → value."""
    from bench import score as _score

    res = _score.score_pairs(os.fspath(outputs), os.fspath(truth), list(metrics), net=net, progress=False,
                             cache=cache, device=device)
    return {k: v["value"] for k, v in res["metrics"].items()}


def score_cycle(inputs: str | os.PathLike, reconstructed: str | os.PathLike, *, net: str = "auto",
                device: str | None = None, cache: bool = True) -> dict[str, float]:
    """``genbench score cycle`` from Python: reconstructions ``F(G(x))`` vs same-named inputs, value name → value."""
    from bench import score as _score

    res = _score.score_cycle(os.fspath(inputs), os.fspath(reconstructed), net=net, progress=False, cache=cache,
                             device=device)
    return {k: v["value"] for k, v in res["metrics"].items()}


def score_captions(refs: Mapping[Hashable, Sequence[str]], hyps: Mapping[Hashable, str | Sequence[str]], *,
                   meteor: bool = True, spice: bool = True) -> dict[str, float]:
    """``genbench score captions`` from Python, on dicts (image id → reference captions / hypothesis): the
    command's own scorer (bench.text.caption_scores, pycocoevalcap's numbers), in process, nothing written."""
    from bench.text.caption_scores import score_captions as _captions

    out = _captions(refs, hyps, meteor=meteor, spice=spice)
    return {k: v.value for k, v in out.metrics.items() if v.value is not None}


def score_caption_images(gt: str | os.PathLike, res: str | os.PathLike, images: str | os.PathLike, *,
                         backbone: str = "clip-vit-b32", weights: str | None = None, device: str | None = None,
                         cache: bool = True) -> dict[str, float]:
    """``genbench score captions --images`` from Python: CLIP-S and RefCLIP-S of a COCO results file on its
    images, through the captioning task kind in process (no run folder, no temporary annotations file)."""
    from bench import score as _score

    out = _score.score_caption_images(os.fspath(gt), os.fspath(res), os.fspath(images), backbone=backbone,
                                      weights=weights, progress=False, cache=cache, device=device)
    return {k: v["value"] for k, v in out["metrics"].items()}


def score_retrieval(images: str | os.PathLike | np.ndarray, texts: str | os.PathLike | np.ndarray,
                    pairs: str | os.PathLike | Sequence[Any] | Mapping[str, Any]) -> dict[str, float]:
    """``genbench score retrieval`` from Python: recall@K (%), RSUM and ranks from image and text embeddings
    (arrays or ``.npy`` paths) and the text → image pairs (a list, ``[text, image]`` pairs or a JSON path)."""
    from bench import score as _score

    out = _score.score_retrieval(os.fspath(images) if isinstance(images, str | os.PathLike) else images,
                                 os.fspath(texts) if isinstance(texts, str | os.PathLike) else texts,
                                 os.fspath(pairs) if isinstance(pairs, str | os.PathLike) else pairs)
    return dict(out["metrics"])


def run_suite(path: str | os.PathLike, *, out: str | os.PathLike | None = None, device: str | None = None,
              cache: bool = True, progress: bool = False) -> Any:
    """``genbench run`` from Python: the rows of the run as a pandas DataFrame (one row per model x task x value,
    the protocol record in ``protocol``). ``df.attrs`` holds ``run_dir`` and ``errors`` (a failed model is listed
    there and in a warning; everything computed is returned, as the CLI keeps it); ``df.attrs["rows"]`` holds the
    typed :class:`bench.results.Row` objects.

    Without ``out`` the suite runs in process (:func:`bench.evaluation.run_plan`: the same task kinds, no run folder,
    nothing written but the content cache; ``run_dir`` is None). With ``out`` a run folder is kept under it, as
    ``genbench run`` keeps one."""
    import pandas as pd

    from bench.evaluation import run_plan
    from bench.features import FeatureStore
    from bench.plan import check_suite
    from bench.results import RunDir
    from bench.runner import Runner
    from bench.suite import load_suite

    loaded = load_suite(os.fspath(path))
    plan = check_suite(loaded, device=device)
    store = FeatureStore("default" if cache else None, progress=progress)
    with _every_call_warned():
        if out is None:
            done = run_plan(plan, store=store, progress=progress)
            rows, errors, where = done.rows, done.errors, None
        else:
            run_dir = RunDir(Path(out) / loaded.suite.name / RunDir.new_id(loaded.suite.spec_hash()))
            outcome = Runner(plan, run_dir=run_dir, store=store, progress=progress, log=lambda msg: None).run()
            rows, errors, where = outcome.run_dir.rows(), outcome.errors, str(outcome.run_dir.path)
    for e in errors:
        warnings.warn(e, stacklevel=2)
    df = pd.DataFrame([r.to_dict() for r in rows])
    df.attrs.update(run_dir=where, errors=list(errors), rows=list(rows))
    return df
