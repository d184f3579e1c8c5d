"""FID, KID and precision/recall inside a training loop: a stateful, mergeable accumulator with genbench's protocols.

    m = bench.Metrics(["fid", "kid", "prc"], protocol="tf-compat", reference="ref/")
    for step, batch in enumerate(loader):
        ...
        m.update(fake_uint8)              # features of this batch, on the device the images are on
        if step % k == 0:
            print(m.compute())            # {"fid": ..., "kid": ..., "precision": ..., "recall": ..., "f_score": ...}
            m.reset()

Why a class of its own rather than :func:`bench.score_images` in a loop: the loop never holds its samples, so the
generated side must be summarised as it streams, and the summary must not make the number depend on how it was
streamed. torchmetrics' FID accumulates its sums in the features' float32 unless told otherwise (its #1620: FID
moves with the batch size) and keeps growing lists (#1959: a ~1.2 GB leak in ``training_step``). Here:

- **FID** reads float64 sums ``Σ(x − c)``, ``Σ(x − c)(x − c)ᵀ`` and ``n``, shifted by the reference's mean ``c``
  (the same on every rank), so the covariance is formed without cancellation and the sums add across batches and
  ranks (one all-reduce); memory is O(d²) whatever n. Where the rows are kept anyway (KID or precision/recall are
  asked for), or while the set is small enough that the CLI would take its exact n1 x n2 cross-product path or
  its covariance is singular (n <= d), the CLI's own :class:`bench.metrics.FID` computes on the rows instead. In
  every regime the number is the one ``genbench score images`` gives on the same features, to round-off
  (tests/test_training_metrics.py: 1e-9 relative on a well-conditioned covariance; a singular one, such as the
  digits network's dead units give, makes any two round-offs of the CLI itself differ by ~1e-7).
- **KID** and **precision/recall** need every feature; they are kept on the host (float32, 8 KB per Inception
  row) up to ``max_samples`` per process, and an ``update`` beyond it is refused with one line (never a silent
  subsample, never unbounded memory). Their values come from the CLI's metric classes on those features.
- ``reset()`` zeroes the sums in place and drops the rows: 1,000 cycles keep memory flat
  (scripts/bench_training_metrics.py).
- The reference's features come from the content-keyed feature cache (bench.features.FeatureStore): computed once
  per machine, reused by every run and by the CLI. Under ``torch.distributed`` (a group initialised before the
  accumulator is built) rank 0 computes them first and the others read its cache entry; ``compute()``, which every
  rank must call, all-reduces the sums and all-gathers the kept rows, so every rank returns what one process fed
  all the samples returns.
- Rows (:meth:`Metrics.rows`) carry the CLI's protocol record (bench.protocol.make_protocol).

Features of one image are not always the same bits whatever the batch they are computed in (a BLAS blocks a matrix
product of 7 rows differently from 64); Inception's pooled features are (tests/test_inception_cpu_batch.py), the
digits network's move by ~1e-6. The accumulator adds no dependence of its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from bench.errors import ConfigError, InputError
from bench.metrics.base import MetricValue, Reference, SampleSet, get_metric, output_info
from bench.metrics.frechet import GaussianStats, frechet_distance, gaussian_stats

T = TypeVar("T")

#: the metrics a training-loop accumulator computes (features of the protocol's distribution layer)
SUPPORTED = ("fid", "kid", "prc")
#: generated rows kept per process for KID and precision/recall (80 MB of 2048-d Inception features)
DEFAULT_MAX_SAMPLES = 10_000
#: what rows and seeds name the task and the model, so seeded options give ``genbench score images``' numbers
SCORE_TASK, SCORE_MODEL = "score", "input1"

ReferenceInput = str | os.PathLike | torch.Tensor | np.ndarray | Any


def _dist_world() -> tuple[int, int, str] | None:
    """(rank, world, backend) when this process is one of several in an initialised torch.distributed group."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return dist.get_rank(), dist.get_world_size(), str(dist.get_backend())


def _group() -> Any:
    """bench.distributed's view of the caller's process group (its error handling, its step checks)."""
    from bench.distributed import Group, current

    g = current()
    if g is not None:
        return g
    w = _dist_world()
    assert w is not None
    return Group(w[0], w[1], int(os.environ.get("LOCAL_RANK", "0")), w[2])


def _rank0_first(fn: Callable[[], T], what: str) -> T:
    """``fn()`` on rank 0, then on the other ranks (which then find rank 0's feature-cache entry); an error on rank
    0 is raised on every rank. Outside torch.distributed, or inside genbench's own group (bench.distributed
    .init_from_env: FeatureStore then splits the pass across ranks, every rank calling it together): ``fn()``."""
    from bench.distributed import current

    if _dist_world() is None or current() is not None:  # genbench's own group: the store splits the pass itself
        return fn()
    group = _group()
    result: Any = None
    error: BaseException | None = None
    if group.main:
        try:
            result = fn()
        except Exception as exc:
            error = exc
    group.agree(error, what)  # also the barrier: the others start once rank 0's entry is written
    return result if group.main else fn()


def _as_images(images: Any, value_range: tuple[float, float] | None, what: str) -> torch.Tensor:
    from bench.images import to_uint8

    if not isinstance(images, torch.Tensor | np.ndarray):
        raise InputError(f"{what}: expected a uint8 tensor or array of images [N, C, H, W], got {type(images).__name__}")
    t = torch.as_tensor(images)
    if t.dtype != torch.uint8 and not (t.is_floating_point() and value_range is not None):
        raise InputError(f"{what}: {t.dtype} images; pass uint8 (bench.images.to_uint8), or range=(lo, hi) for float "
                         "images (quantized as the CLI does: clip, round half to even)")
    return to_uint8(t, value_range, what=what)


def load_reference_set(reference: ReferenceInput, protocol: str | None, name: str = "reference") -> Any:
    """A reference as the CLI and :func:`bench.evaluate` read it (bench.evaluation's reader: a folder or an
    ``.npz``/``.npy`` of images through bench.data's dataset kinds, a uint8 tensor or array as
    ``tensor:reference@<content hash>``), or statistics (an ``.npz`` with mu/sigma, a torch-fidelity ``.pt``, a
    named reference) read under ``protocol`` (a tool's bare file is taken as made under it; a sidecar that records
    another protocol is refused); a loaded RefStats or Dataset as is."""
    from bench.data.base import Dataset
    from bench.evaluation import _dataset
    from bench.refstats import RefStats, find_reference, is_stats_file, load_reference

    if isinstance(reference, RefStats | Dataset):
        return reference
    if isinstance(reference, str | os.PathLike):
        spec = os.fspath(reference)
        p = Path(spec).expanduser()
        if p.suffix == ".pt" or is_stats_file(p) or (not p.exists() and find_reference(spec) is not None):
            return load_reference(spec, protocol)
    return _dataset(reference, None, name)


class Metrics:
    """FID / KID / precision-recall of a stream of generated batches against a fixed reference, under a protocol.

    ``metrics``: any of ``fid``, ``kid``, ``prc``. ``protocol``: a preset (``tf-compat``, ``clean``, ``digits``,
    ...; ``genbench ls protocols``). ``reference``: a folder, an ``.npz``/``.npy`` of images, statistics (an
    ``.npz`` with mu/sigma, a torch-fidelity ``.pt``, a named reference; FID only) or a uint8 tensor.
    ``weights``: the backbone's weights file where it is not in the cache. ``options``: per metric, as in a suite
    (``{"kid": {"subset_size": 100}}``); the protocol's own defaults apply first, as in the CLI. ``max_samples``:
    generated rows kept per process for KID/PR. ``range``: the value range of float images (``(-1, 1)``); uint8
    images need none. ``device``: where the reference's features are computed (default: the GPU if any); the
    generated batches are featurized on the device they are on. ``cache``: use the on-disk feature cache.
    ``seed``: as ``genbench score images --seed`` (only seeded options such as ``rng_seed: null`` read it).
    """

    def __init__(self, metrics: Sequence[str] = ("fid",), *, protocol: str = "tf-compat", reference: ReferenceInput,
                 weights: str | os.PathLike | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
                 max_samples: int = DEFAULT_MAX_SAMPLES, range: Sequence[float] | None = None,  # noqa: A002
                 device: str | torch.device | None = None, cache: bool = True, seed: int = 0,
                 model: str = SCORE_MODEL) -> None:
        from bench.protocol import get_preset

        if isinstance(metrics, str):
            metrics = [metrics]
        unknown = [m for m in metrics if m not in SUPPORTED]
        if unknown or not metrics:
            raise ConfigError(f"Metrics computes {', '.join(SUPPORTED)} (got {', '.join(unknown) or 'none'}); other "
                              "metrics: bench.score_images or a suite")
        if max_samples < 2:
            raise ConfigError(f"max_samples={max_samples}: at least 2")
        self.names = list(dict.fromkeys(metrics))
        self.preset = get_preset(protocol)
        opts = dict(options or {})
        if set(opts) - set(self.names):
            raise ConfigError(f"options for {', '.join(sorted(set(opts) - set(self.names)))}, which are not computed")
        self._metrics = {m: get_metric(m)({**self.preset.defaults_for(m), **dict(opts.get(m, {}))}) for m in self.names}
        self.max_samples, self.seed, self.model = int(max_samples), int(seed), model
        self.value_range = None if range is None else (float(range[0]), float(range[1]))
        self.weights = None if weights is None else os.fspath(weights)
        from bench.runtime import resolve_device

        home = resolve_device(None if device is None else str(device))
        self._backbones: dict[torch.device, Any] = {}
        bb = self._backbone(home)
        self.layer = bb.layer_name("default")
        if self.layer is None:
            raise ConfigError(f"protocol '{protocol}': backbone '{bb.name}' has no distribution layer")
        self.reference = self._load_reference(reference, bb, cache)
        d = self._dim
        # the rows are kept while the CLI would compute FID from them: its exact n1 x n2 path, or a singular
        # covariance (n <= d) whose d x d square root is dominated by round-off
        n_ref = len(self.reference.x) if self.reference.features is not None and self._stored is None else 0
        self._fid_rows = max(d, d * d // n_ref) if n_ref else d
        self._keep_all = any(m != "fid" for m in self.names)
        self._c = torch.as_tensor(self._center, dtype=torch.float64)
        self._s1: torch.Tensor | None = None
        self._s2: torch.Tensor | None = None
        self._n = 0
        self._rows: list[np.ndarray] | None = []
        self._last: list[MetricValue] = []
        self._last_n = 0

    # -- setup ----------------------------------------------------------------------------------------------
    def _backbone(self, device: torch.device) -> Any:
        """The protocol's backbone on ``device`` (one instance per device, built on first use)."""
        from bench.backbones import get_backbone

        key = torch.device(device)
        if key.type == "cuda" and key.index is None:
            key = torch.device("cuda", torch.cuda.current_device())
        if key not in self._backbones:
            bb = get_backbone(self.preset.backbone, weights=self.weights, device=str(key))
            bb.ensure_built()
            self._backbones[key] = bb
        return self._backbones[key]

    def _load_reference(self, reference: ReferenceInput, bb: Any, cache: bool) -> Reference:
        from bench.features import FeatureStore
        from bench.refstats import RefStats, backbone_protocol, compare_protocols, stored_statistics

        ds = load_reference_set(reference, self.preset.name)
        self._stored: Mapping[str, GaussianStats] | None = None
        if isinstance(ds, RefStats):
            bb.resolve_weights()
            compare_protocols(ds.protocol, backbone_protocol(bb), f"reference {ds.path}")
            wants = [m for m in self.names if m != "fid"]
            if wants:
                raise InputError(f"reference {ds.path}: statistics only (mu, sigma); {', '.join(wants)} need the "
                                 "reference's images")
            ref = Reference(ds.name, ds.id, stats=GaussianStats(ds.mu, ds.sigma, ds.n or 0), layer=self.layer)
            self.n_ref: int | None = ds.n
            self._ref_stats: GaussianStats = ref.stats  # type: ignore[assignment]
        else:
            if len(ds) < 2:
                raise InputError(f"reference {ds.id}: {len(ds)} sample(s); a reference set needs at least 2")
            store = FeatureStore("default" if cache else None, progress=False)
            batch = min(len(ds), bb.batch_size)
            feats = _rank0_first(lambda: store.get_stream(ds.hash, lambda a, b: ds.batches(batch, a, b), bb,
                                                          label=f"[{ds.name}]", total=len(ds)),
                                 f"the features of reference {ds.id}")
            stored = stored_statistics(ds, bb)
            self._stored = None if stored is None else stored[0]
            ref = Reference(ds.name, ds.id if stored is None else f"{ds.id}+stored-statistics@{stored[1]}",
                            features={self.layer: feats[self.layer]}, layer=self.layer, stored_stats=self._stored)
            self.n_ref = len(ds)
            fit = (self._stored or {}).get(self.layer)
            self._ref_stats = fit if fit is not None else gaussian_stats(feats[self.layer])
        self._dim = int(len(self._ref_stats.mu))
        self._center = np.asarray(self._ref_stats.mu, np.float64)
        return ref

    # -- the loop -------------------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Generated samples added on this process since the last reset."""
        return self._n

    @torch.no_grad()
    def update(self, images: torch.Tensor | np.ndarray) -> None:
        """Add a batch of generated images (uint8 NCHW or NHWC; float with ``range``), featurized on its device."""
        from bench.backbones.base import full_float32

        t = _as_images(images, self.value_range, "Metrics.update")
        if t.shape[0] == 0:
            return
        self._check_room(int(t.shape[0]))
        bb = self._backbone(t.device)
        rows = bb.forward_rows(t)
        with full_float32(bb.device):
            for start in range(0, int(t.shape[0]), rows):
                out = bb.forward(bb.preprocess(t[start: start + rows]).to(bb.device))
                self._add(out[self.layer].detach().float())

    @torch.no_grad()
    def update_features(self, features: torch.Tensor | np.ndarray) -> None:
        """Add generated rows already computed with the protocol's backbone (its distribution layer, [n, d])."""
        x = torch.as_tensor(features)
        if x.ndim != 2 or x.shape[1] != self._dim:
            raise InputError(f"Metrics.update_features: expected [n, {self._dim}] rows of the protocol's "
                             f"'{self.layer}' layer, got shape {tuple(x.shape)}")
        if x.shape[0]:
            self._check_room(int(x.shape[0]))
            self._add(x.float())

    def _check_room(self, k: int) -> None:
        if self._keep_all and self._n + k > self.max_samples:
            raise InputError(f"Metrics.update: {self._n + k} samples since the last reset exceed max_samples="
                             f"{self.max_samples} ({', '.join(m for m in self.names if m != 'fid')} keep every "
                             "feature); raise max_samples or call reset() more often. Nothing of this batch was added")

    def _add(self, f: torch.Tensor) -> None:
        if self._s1 is None or self._s1.device != f.device:
            self._to(f.device)
        assert self._s1 is not None and self._s2 is not None
        x = f.to(torch.float64) - self._c
        self._s1 += x.sum(0)
        self._s2.addmm_(x.T, x)
        self._n += int(f.shape[0])
        if self._rows is not None:
            if self._keep_all or self._n <= self._fid_rows:
                self._rows.append(f.cpu().numpy())
            else:  # FID alone, past the rows it needs: the sums carry it from here, the rows are dropped
                self._rows = None

    def _to(self, device: torch.device) -> None:
        """Hold the sums on ``device`` (the samples' device), moving what was accumulated elsewhere."""
        d = self._dim
        self._c = self._c.to(device)
        self._s1 = (torch.zeros(d, dtype=torch.float64, device=device) if self._s1 is None
                    else self._s1.to(device))
        self._s2 = (torch.zeros(d, d, dtype=torch.float64, device=device) if self._s2 is None
                    else self._s2.to(device))

    def reset(self) -> None:
        """Forget the generated samples (the reference stays): the sums are zeroed in place, the rows dropped."""
        if self._s1 is not None and self._s2 is not None:
            self._s1.zero_()
            self._s2.zero_()
        self._n = 0
        self._rows = []
        self._last = []

    # -- results --------------------------------------------------------------------------------------------
    def _synced(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """(n, c, Σ(x−c), Σ(x−c)(x−c)ᵀ, the kept rows or None) over every rank, rows in rank order. Under
        torch.distributed each rank first re-centres its sums on rank 0's ``c`` (the reference mean: the same bits
        unless a rank computed the reference's features on another device), so the all-reduced sums are exact."""
        d = self._dim
        s1 = self._s1 if self._s1 is not None else torch.zeros(d, dtype=torch.float64)
        s2 = self._s2 if self._s2 is not None else torch.zeros(d, d, dtype=torch.float64)
        rows = None if self._rows is None else (np.concatenate(self._rows) if self._rows
                                                 else np.zeros((0, d), np.float32))
        n, center = self._n, self._center
        if _dist_world() is not None:
            import torch.distributed as dist

            group = _group()
            center = group.broadcast(center, "the reference mean")
            delta = torch.as_tensor(self._center - center, dtype=torch.float64, device=s1.device)
            if bool(delta.any()):  # x − c0 = (x − c) + δ
                s2 = s2 + torch.outer(delta, s1) + torch.outer(s1, delta) + n * torch.outer(delta, delta)
                s1 = s1 + n * delta
            dev = torch.device("cuda", torch.cuda.current_device()) if group.backend == "nccl" else torch.device("cpu")
            packed = torch.cat([torch.tensor([float(n)], dtype=torch.float64, device=dev), s1.to(dev),
                                s2.to(dev).reshape(-1)])
            group._collective("summing the FID statistics", lambda: dist.all_reduce(packed))
            packed = packed.cpu()
            n, s1, s2 = int(round(float(packed[0]))), packed[1: d + 1], packed[d + 1:].reshape(d, d)
            parts = group.gather(rows, "gathering the kept features")
            rows = None if any(p is None for p in parts) else np.concatenate(parts)
        return n, center, s1.cpu().numpy(), s2.cpu().numpy(), rows

    def compute(self) -> dict[str, float]:
        """Every value (``fid``, ``kid``, ``precision``, ``recall``, ``f_score``) over the samples added since the
        last reset, on every rank; value name → float (NaN where a value is unavailable)."""
        from bench.seeding import derive_seed

        n, center, s1, s2, rows = self._synced()
        if n < 2:
            raise InputError(f"Metrics.compute: {n} generated sample(s) since the last reset; at least 2 are needed")
        values: list[MetricValue] = []
        for name, metric in self._metrics.items():
            seed = derive_seed(self.seed, SCORE_TASK, self.model, metric.seed_name or name)
            if name == "fid" and rows is None:  # FID alone, past the rows it keeps
                values.append(self._fid_from_sums(n, center, s1, s2))
                continue
            assert rows is not None
            values += metric.compute(SampleSet(features={self.layer: rows}, layer=self.layer, name=self.model),
                                     self.reference, seed=seed)
        self._last, self._last_n = values, n
        return {v.metric: float("nan") if v.value is None else float(v.value) for v in values}

    def _fid_from_sums(self, n: int, center: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> MetricValue:
        """FID from the float64 sums: the CLI's d x d path (bench.metrics.FID) with the generated fit from the sums."""
        import warnings

        mean = s1 / n
        sigma = (s2 - np.outer(s1, mean)) / (n - 1)
        sigma = (sigma + sigma.T) / 2
        sr = self._ref_stats
        res = frechet_distance(center + mean, sigma, sr.mu, sr.sigma)
        notes = list(res.warnings)
        if 0 < sr.n < self._dim:
            notes.append(f"reference set has n={sr.n} < feature dimension {self._dim}: its covariance is singular")
        for msg in notes:
            warnings.warn(f"FID: {msg}", stacklevel=3)
        out = MetricValue("fid", res.value, extras={"clipped_eigenvalues": res.clipped_eigenvalues, "warnings": notes,
                                                     "method": "d x d (float64 sums)"})
        if self._stored is not None:
            out.extras["reference_statistics"] = "stored in the reference file"
        return out

    def protocol(self, n: int | None = None) -> dict[str, Any]:
        """The protocol record of this accumulator's numbers (the CLI's: bench.protocol.make_protocol)."""
        from bench.protocol import make_protocol

        bb = next(iter(self._backbones.values()))
        return make_protocol(bb, self.layer, self.reference.id, self._n if n is None else n, self.n_ref)

    def rows(self, task: str = SCORE_TASK) -> list[Any]:
        """:meth:`compute` as :class:`bench.results.Row` s, with the CLI's protocol record and metric metadata."""
        from bench.protocol import protocol_id
        from bench.results import Row

        start = time.time()
        self.compute()
        seconds = round(time.time() - start, 4)
        proto = self.protocol(self._last_n)
        bb = next(iter(self._backbones.values()))
        out = []
        for v in self._last:
            info = output_info(v.metric)
            out.append(Row(run_id="in-process", suite="in-process", task=task, model=self.model,
                           dataset=self.reference.name, metric=v.metric,
                           value=None if v.value is None else float(v.value), ci_low=v.ci_low, ci_high=v.ci_high,
                           n=self._last_n, backbone=bb.name, higher_is_better=info.higher_is_better, unit=info.unit,
                           seconds=seconds, protocol=proto, protocol_id=protocol_id(proto), extras=dict(v.extras)))
        return out

    def __repr__(self) -> str:
        return (f"Metrics({self.names}, protocol={self.preset.name!r}, reference={self.reference.id!r}, "
                f"n={self._n})")
