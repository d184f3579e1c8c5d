"""Features, computed once per (image set, backbone) and cached on disk by content.

The cache key is the sha256 of: the images' content key, the backbone name, the backbone's weights sha256, its
preprocessing record and the feature-format version. Changing any of them (a different weights file above all)
gives a different key, so a stale entry can never be returned. Entries are written atomically, readable by the
group (a team's shared cache), and verify themselves: each holds its key and a sha256 of its arrays, checked on
load, so an entry copied under the wrong key or damaged on disk is discarded (with a warning) and recomputed. A
cache that cannot be written (read-only, full) is dropped for the rest of the process with one warning: the cache
is optional, the run goes on without it.

A content key never needs the whole set in memory: a tensor's is :func:`bench.images.content_hash`, a streamed
set's the same digest fed batch by batch (:class:`bench.images.StreamHash`), a set of files the ordered digest of
the files' own sha256 (:meth:`bench.images.ImageFiles.digest`), known before any pixel is decoded, so a cached
folder is never decoded again.

A long stream is written as it goes (:class:`PartialFeatures`): every ``PARTIAL_SECONDS`` the finished rows of
every backbone of the pass, with their images' digests, land in ``<cache>/partial/<id>/``; a killed pass resumed
under the same id (same set, same backbones) starts after them, and ends with the features and the content key an
uninterrupted pass would have given.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from bench.backbones.base import Backbone, extract_many
from bench.distributed import current
from bench.errors import InputError
from bench.images import StreamHash, content_hash
from bench.streams import prefetch
from bench.weights import cache_root

# 2: content keys of streamed sets (ImageFiles.digest); 3: per-image StreamHash (resumable); 4: self-verifying
FORMAT_VERSION = 4
Features = dict[str, np.ndarray]
#: seconds between two writes of a stream's finished part (0: after every batch)
PARTIAL_SECONDS = 30.0
#: the stream of batches of samples ``first..stop-1`` (a resumed pass skips the finished part unread; a rank of a
#: distributed run reads only its slice)
Batches = Callable[[int, int], Iterator[torch.Tensor]]


#: names inside a cache entry that are not features: the entry's key and the sha256 of its feature arrays
KEY_ENTRY, SHA_ENTRY = "__key__", "__sha256__"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: a shared team cache needs the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: the entry of a partial chunk holding the sha256 (features_sha256, hex) of the chunk's other arrays
CHUNK_SHA = "sha256"


class PartialFeatures:
    """The finished part of one feature pass on disk: chunk files of consecutive rows, each holding every layer of
    every backbone of the pass and the per-image digests of its rows (bench.images.StreamHash state), written
    atomically. A chunk that does not continue the previous one, or a damaged one, ends what is trusted."""

    def __init__(self, directory: Path, backbones: list[Backbone], every: float | None = None) -> None:
        self.directory, self.backbones = directory, backbones
        self.every = PARTIAL_SECONDS if every is None else every
        self.written = 0
        #: the cache could not be written: the pass goes on without writing its finished part
        self.broken = False
        self._blocks = [{k: 0 for k in b.layers} for b in backbones]
        self._last = time.monotonic()

    def load(self) -> tuple[int, list[dict[str, list[np.ndarray]]], tuple[bytes, tuple[int, ...] | None] | None]:
        """(rows finished, each backbone's layers as row blocks, the digests' state) of an earlier killed pass."""
        outs: list[dict[str, list[np.ndarray]]] = [{k: [] for k in b.layers} for b in self.backbones]
        digests, item, done = b"", None, 0
        for path in sorted(self.directory.glob("chunk-*.npz")) if self.directory.is_dir() else []:
            try:
                start, stop = (int(x) for x in path.stem.split("-")[1:3])
                if start != done:
                    break
                with np.load(path, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
                # each chunk carries the sha256 of its arrays: an altered chunk is recomputed, never trusted
                if arrays.pop(CHUNK_SHA, np.zeros(0, np.uint8)).tobytes().decode() != features_sha256(arrays):
                    break
                got = [{k: arrays[f"{i}/{k}"] for k in b.layers} for i, b in enumerate(self.backbones)]
                if any(len(a) != stop - start for g in got for a in g.values()):
                    break
            except Exception:  # damaged or foreign: recompute from here
                break
            for o, g in zip(outs, got, strict=True):
                for k, a in g.items():
                    o[k].append(a)
            digests += arrays["digests"].tobytes()
            item = tuple(int(x) for x in arrays["item"]) if arrays["item"].size else None
            done = stop
        self.written = done
        self._blocks = [{k: len(v) for k, v in o.items()} for o in outs]
        return done, outs, ((digests, item) if done else None)

    def write(self, done: int, outs: list[dict[str, list[np.ndarray]]], hasher: StreamHash, force: bool = False) -> None:
        """Write rows ``written..done`` when ``every`` seconds have passed since the last write (or ``force``)."""
        if self.broken or done <= self.written or not (force or time.monotonic() - self._last >= self.every):
            return
        arrays: dict[str, np.ndarray] = {}
        for i, (o, seen) in enumerate(zip(outs, self._blocks, strict=True)):
            for k, blocks in o.items():
                arrays[f"{i}/{k}"] = np.concatenate(blocks[seen[k]:])
                seen[k] = len(blocks)
        digests, item = hasher.state()
        arrays["digests"] = np.frombuffer(digests[32 * self.written: 32 * done], dtype=np.uint8)
        arrays["item"] = np.asarray(item or (), dtype=np.int64)
        arrays[CHUNK_SHA] = np.frombuffer(features_sha256(arrays).encode(), dtype=np.uint8)
        try:
            _atomic_savez(self.directory / f"chunk-{self.written:09d}-{done:09d}.npz", arrays)
        except OSError as exc:  # a read-only or full cache: the pass goes on, only not resumable
            _cache_warning(str(self.directory), exc)
            self.broken = True
            return
        self.written, self._last = done, time.monotonic()

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def features_sha256(feats: Features) -> str:
    """sha256 of feature arrays (names, dtypes, shapes, bytes): what a cache entry holds, checked on load."""
    h = hashlib.sha256()
    for k in sorted(feats):
        a = np.ascontiguousarray(feats[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.data)  # the array's own buffer: no copy of 600 MB of 50k Inception rows
    return h.hexdigest()


def _cache_warning(what: str, exc: OSError) -> None:
    warnings.warn(f"feature cache: {exc.filename or what}: {exc.strerror or exc}; continuing without the disk "
                  "cache (features are computed, not cached)", stacklevel=3)


def feature_key(images_hash: str, backbone: Backbone) -> str:
    backbone.resolve_weights()
    blob = json.dumps({"images": images_hash, "v": FORMAT_VERSION, **backbone.describe()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class FeatureStore:
    """In-memory and on-disk feature cache. ``directory=None`` disables the disk layer."""

    def __init__(self, directory: str | os.PathLike[str] | None = "default", progress: bool = True) -> None:
        if directory == "default":
            directory = cache_root() / "features"
        self.directory = Path(directory) if directory is not None else None
        self.progress = progress
        self._memory: dict[str, Features] = {}
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path | None:
        return self.directory / key[:2] / f"{key}.npz" if self.directory is not None else None

    def lookup(self, key: str, backbone: Backbone, n: int | None = None) -> Features | None:
        """The cached features under ``key`` (memory, then disk), or None; a damaged or mismatched entry is None."""
        group = current()
        if group is not None and group.world > 1:  # a hit only where every rank has it: the ranks take one path
            found = self._lookup(key, backbone, n)
            return found if group.all_true(found is not None, "a feature-cache lookup") else None
        return self._lookup(key, backbone, n)

    def _lookup(self, key: str, backbone: Backbone, n: int | None) -> Features | None:
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        path = self._path(key)
        try:
            present = path is not None and path.is_file()
        except OSError:  # an unreadable cache folder (permissions) is a miss, like no cache
            present = False
        if path is not None and present:
            why = ""
            try:
                with np.load(path, allow_pickle=False) as z:
                    feats = {k: z[k] for k in z.files}
                stored_key = str(feats.pop(KEY_ENTRY, np.asarray("")))
                stored_sha = str(feats.pop(SHA_ENTRY, np.asarray("")))
                lengths = {len(v) for v in feats.values()}
                if stored_key != key:
                    why = f"holds the entry of key {stored_key[:12] or '(none)'}..., not of its own key"
                elif stored_sha != features_sha256(feats):
                    why = "its features do not match their recorded sha256"
                elif set(feats) == set(backbone.layers) and len(lengths) == 1 and (n is None or lengths == {n}):
                    self.hits += 1
                    self._memory[key] = feats
                    return feats
                else:
                    why = "its layers or row count are not the ones asked for"
            except Exception as exc:  # a damaged entry is recomputed, never trusted
                why = f"unreadable ({exc.__class__.__name__})"
            warnings.warn(f"feature cache: {path}: {why}; discarded and recomputed", stacklevel=3)
            try:
                path.unlink()
            except OSError:
                pass
        return None

    def put(self, key: str, feats: Features) -> None:
        self._memory[key] = feats
        path = self._path(key)
        group = current()
        if path is not None and (group is None or group.writes_cache):
            try:
                _atomic_savez(path, {**feats, KEY_ENTRY: np.asarray(key), SHA_ENTRY: np.asarray(features_sha256(feats))})
            except OSError as exc:  # read-only or full: the cache is optional
                _cache_warning(str(path), exc)
                self.directory = None

    def get(self, images: torch.Tensor, backbone: Backbone, label: str = "", images_hash: str | None = None) -> Features:
        """Features of a whole uint8 tensor."""
        return self.get_stream(images_hash or content_hash(images), lambda start, stop: iter([images[start:stop]]), backbone,
                               label, total=int(images.shape[0]))

    def get_stream(self, content_key: str, batches: Batches, backbone: Backbone, label: str = "",
                   total: int | None = None) -> Features:
        """Features of a set known by its content key and readable as a stream of batches: from the cache when
        present (``batches`` is then never called: nothing is decoded or generated), else computed batch by batch
        (resuming a killed pass of the same set) and cached."""
        key = feature_key(content_key, backbone)
        cached = self.lookup(key, backbone, total)
        if cached is not None:
            return cached
        self.misses += 1
        feats, _ = self.compute(content_key, [backbone], batches, total=total, label=label, decode=True)
        self.put(key, feats[0])
        return feats[0]

    def partial(self, pass_id: str, backbones: list[Backbone], span: tuple[int, ...] = ()) -> PartialFeatures | None:
        """Where the finished part of the pass ``pass_id`` over ``backbones`` is kept (None without a disk cache)."""
        if self.directory is None:
            return None
        # under torchrun each rank keeps the finished part of its own slice
        blob = json.dumps([pass_id, FORMAT_VERSION, [b.describe() for b in backbones], *span], sort_keys=True)
        return PartialFeatures(self.directory / "partial" / hashlib.sha256(blob.encode()).hexdigest()[:32], backbones)

    def compute(self, pass_id: str | None, backbones: list[Backbone], batches: Batches, *, total: int | None = None,
                label: str = "", decode: bool = False, progress: Any = None) -> tuple[list[Features], str]:
        """One pass of ``batches`` through every backbone (each batch made once for all of them), returning their
        features and the set's content key (bench.images.StreamHash). With a ``pass_id`` (a stable name of the
        set: its content key, or the run's name of a model's samples) the finished part is written as it goes and a
        killed pass resumes after it. ``decode``: the batches are files being read; reading the next overlaps the
        networks (bench.streams.prefetch). Does not cache: callers put each backbone's features under their key.

        Under torchrun (bench.distributed) each rank makes and featurizes only its slice of ``range(total)``; the
        rows and the per-image digests are gathered in index order, so every rank returns what one process would."""
        group = current()
        if group is None or group.world == 1 or total is None:
            feats, (digests, item) = self._pass(pass_id, backbones, batches, 0, total, label, decode, progress)
            return feats, StreamHash((digests, item)).hexdigest()
        lo, hi = group.span(total)
        error: Exception | None = None
        mine: Any = None
        try:
            mine = self._pass(pass_id, backbones, batches, lo, hi, label, decode, progress, span=(lo, hi))
        except Exception as exc:  # every rank learns of it and raises, so none waits for this one's rows
            error = exc
        group.agree(error, f"the feature pass of {label or 'a set'}")
        parts = group.gather(mine, f"gathering the features of {label or 'a set'}")
        items = {item for _, (d, item) in parts if d}
        if len(items) > 1:
            raise InputError(f"{label or 'samples'}: ranks made images of different shapes {sorted(items)}")
        feats = [{k: _rows([p[0][i][k] for p in parts]) for k in b.layers} for i, b in enumerate(backbones)]
        digests = b"".join(d for _, (d, _) in parts)
        return feats, StreamHash((digests, next(iter(items), None))).hexdigest()

    def _pass(self, pass_id: str | None, backbones: list[Backbone], batches: Batches, lo: int, hi: int | None,
              label: str, decode: bool, progress: Any, span: tuple[int, ...] = ()
              ) -> tuple[list[Features], tuple[bytes, tuple[int, ...] | None]]:
        """Samples ``lo..hi-1`` through every backbone: their features, and their digests' state."""
        part = self.partial(pass_id, backbones, span) if pass_id is not None else None
        done, initial, state = part.load() if part is not None else (0, None, None)
        hasher = StreamHash(state)
        stop = hi if hi is not None else 1 << 62

        def hashed() -> Iterator[torch.Tensor]:
            for b in batches(lo + done, stop):
                hasher.update(b)
                yield b

        def written(rows: int, outs: list[dict[str, list[np.ndarray]]]) -> None:
            if part is not None:
                part.write(done + rows, outs, hasher)

        names = "+".join(b.name for b in backbones)
        group = current()
        quiet = not self.progress or progress is not None or (group is not None and not group.main)
        with tqdm(total=None if hi is None else hi - lo, initial=done, desc=f"features {names} {label}".rstrip(),
                  unit="img", leave=False, disable=True if quiet else None) as bar:
            feats = extract_many(backbones, prefetch(hashed()) if decode else hashed(), progress or bar,
                                 on_batch=written, initial=initial)
        if part is not None:
            part.clear()
        return feats, hasher.state()


def _rows(blocks: list[np.ndarray]) -> np.ndarray:
    """The ranks' row blocks of one layer, in order (a rank with an empty slice gives a placeholder: skipped)."""
    full = [b for b in blocks if b.ndim > 1 or b.shape[0]]
    return np.concatenate(full) if full else blocks[0]
