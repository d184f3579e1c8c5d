"""The Python API: genbench from a notebook or a training loop, with exactly the CLI's numbers.

    import bench
    bench.score_images("samples/", "real/", metrics=["fid", "kid"])             # {"fid": 3.1, "kid": ...}
    bench.score_images(generator, "real/", n=10_000, range="-1,1")               # an nn.Module or a callable
    bench.score_images(uint8_nhwc_array, reference_tensor, protocol="digits")    # arrays and tensors
    bench.score_pairs("translated/", "ground_truth/", metrics=["l1", "psnr"])
    bench.score_captions({img_id: [refs, ...]}, {img_id: hypothesis})
    df = bench.run_suite("suites/quickstart.yaml")                               # pandas DataFrame, one row per value

Every function runs the same planner, runner, caches and metrics as the command line (arrays are written to a
temporary ``.npy`` and read like a file; a generator goes through the ``python`` adapter with per-sample seeds), and
returns plain floats keyed by value name. Errors are :class:`bench.errors.GenbenchError` with the CLI's message.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import types
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.errors import InputError

#: a folder, an .npz/.npy file or a named reference; uint8 (or float, with ``range``) images as an array or tensor
#: (NCHW or NHWC); or, for the generated side, an ``nn.Module`` / callable generator
ImageInput = str | os.PathLike | np.ndarray | torch.Tensor | torch.nn.Module | Callable[..., Any]

#: generators handed to score_images, reachable by the python adapter as ``bench.api:_LIVE.<name>``
_LIVE = types.SimpleNamespace()
_COUNTER = itertools.count()


def _as_file(x: Any, folder: str, name: str, value_range: str | None) -> str:
    """A path the CLI engine reads: paths as given; arrays and tensors as uint8 NCHW in a temporary .npy."""
    if isinstance(x, str | os.PathLike):
        return os.fspath(x)
    if isinstance(x, np.ndarray | torch.Tensor):
        from bench.images import parse_range, to_uint8

        t = torch.as_tensor(x)
        if not t.dtype == torch.uint8 and value_range is None:
            raise InputError(f"{name}: float images need range= (for example '-1,1' or '0,1')")
        u8 = to_uint8(t, None if t.dtype == torch.uint8 else parse_range(value_range), what=name)
        path = Path(folder) / f"{name}.npy"
        np.save(path, u8.numpy())
        return str(path)
    raise InputError(f"{name}: expected a path, a numpy array or a torch tensor, got {type(x).__name__}")


def score_images(generated: ImageInput, reference: ImageInput, metrics: Sequence[str] = ("fid",), *,
                 protocol: str | None = None, backbone: str | None = None, weights: str | None = None,
                 n: int | None = None, range: str | None = None, latent_dim: int | None = None,  # noqa: A002
                 device: str | None = None, seed: int = 0, cache: bool = True, progress: bool = False) -> dict[str, float]:
    """``genbench score images`` from Python: value name → value (``fid``, ``kid``, ``precision``, ...).

    ``generated`` may also be a generator (an ``nn.Module`` mapping latents ``z [n, latent_dim]`` to images in
    ``range``, or an object with ``generate(request)``): it is asked for ``n`` samples with the CLI's per-sample
    seeds. The protocol defaults to the field's standard (``tf-compat``) as on the command line."""
    from bench import score as _score

    with tempfile.TemporaryDirectory(prefix="genbench-api-") as tmp:
        ref = _as_file(reference, tmp, "reference", range)
        model, name = None, ""
        if isinstance(generated, torch.nn.Module) or (callable(generated) and not isinstance(generated, type)
                                                      and not isinstance(generated, str | os.PathLike)):
            if n is None:
                raise InputError("a generator needs n= (how many samples to draw)")
            name = f"m{next(_COUNTER)}"
            setattr(_LIVE, name, generated)
            model = {"adapter": "python", "args": {"target": f"bench.api:_LIVE.{name}", "range": range or "-1,1",
                                                   **({"latent_dim": latent_dim} if latent_dim else {})}}
            gen = "<generator>"
        else:
            gen = _as_file(generated, tmp, "generated", range)
        try:
            with warnings.catch_warnings():  # genbench's own warnings on every call, not once per process: a
                warnings.filterwarnings("always", module=r"bench\.")  # notebook's second call is warned as the first
                res = _score.score_images(gen, ref, list(metrics), backbone=backbone, weights=weights, n=n, seed=seed,
                                          progress=progress, cache=cache, protocol=protocol, device=device, model=model)
        finally:
            if name:
                delattr(_LIVE, name)
    return {k: v["value"] for k, v in res["metrics"].items()}


def score_pairs(outputs: str | os.PathLike, truth: str | os.PathLike, metrics: Sequence[str] = ("l1", "psnr", "ssim"),
                *, net: str = "auto", device: str | None = None, cache: bool = True) -> dict[str, float]:
    """``genbench score pairs`` from Python: translations vs same-named ground truth, value name → value."""
    from bench import score as _score

    res = _score.score_pairs(os.fspath(outputs), os.fspath(truth), list(metrics), net=net, progress=False,
                             cache=cache, device=device)
    return {k: v["value"] for k, v in res["metrics"].items()}


def score_captions(refs: Mapping[Hashable, Sequence[str]], hyps: Mapping[Hashable, str | Sequence[str]], *,
                   meteor: bool = True, spice: bool = True) -> dict[str, float]:
    """``genbench score captions`` from Python, on dicts (image id → reference captions / hypothesis)."""
    from bench.text.caption_scores import score_captions as _captions

    out = _captions(refs, hyps, meteor=meteor, spice=spice)
    return {k: v.value for k, v in out.metrics.items() if v.value is not None}


def run_suite(path: str | os.PathLike, *, out: str | os.PathLike | None = None, device: str | None = None,
              cache: bool = True, progress: bool = False) -> Any:
    """``genbench run`` from Python: the rows of the run as a pandas DataFrame (one row per model x task x value,
    the protocol record in ``protocol``). ``df.attrs`` holds ``run_dir`` and ``errors`` (a failed model is listed
    there and in a warning; everything computed is returned, as the CLI keeps it)."""
    import warnings

    import pandas as pd

    from bench.features import FeatureStore
    from bench.plan import check_suite
    from bench.results import RunDir
    from bench.runner import Runner
    from bench.suite import load_suite

    loaded = load_suite(os.fspath(path))
    plan = check_suite(loaded, device=device)
    run_dir = None if out is None else RunDir(Path(out) / loaded.suite.name / RunDir.new_id(loaded.suite.spec_hash()))
    outcome = Runner(plan, run_dir=run_dir, store=FeatureStore("default" if cache else None, progress=progress),
                     progress=progress, log=lambda msg: None).run()
    for e in outcome.errors:
        warnings.warn(e, stacklevel=2)
    df = pd.DataFrame(outcome.rows)
    df.attrs.update(run_dir=str(outcome.run_dir.path), errors=list(outcome.errors))
    return df
