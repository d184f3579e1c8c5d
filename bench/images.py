"""The one place where images change representation.

Images cross every boundary in genbench as ``torch.uint8`` tensors ``[N, C, H, W]``, C = 1 or 3, RGB.
Float outputs of models are quantized here, with an explicit, recorded rule (round, as StudioGAN and
torch-fidelity's generator wrapper do); files are decoded here with the checks users need when a folder holds
something odd.
"""

from __future__ import annotations

import hashlib
import math
import os
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from bench.errors import InputError
from bench.weights import sha256_file

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}


class RangeMonitor:
    """What a model's float outputs did against their declared range over a whole run: observed min and max, and
    how many values fell outside (clipped by the conversion to uint8). :meth:`problem` names a range that is
    probably wrong: a [0, 1] model declared [-1, 1] (the default) loses half the scale and gets a silently wrong
    FID (743 instead of 4.9 on a user's DCGAN); values clipped beyond a small fraction mean a wider range."""

    #: fraction of values outside the range above which the range is reported as wrong
    CLIPPED_MAX = 1e-3

    def __init__(self, value_range: tuple[float, float]) -> None:
        self.lo, self.hi = value_range
        self.min, self.max = math.inf, -math.inf
        self.clipped = self.total = 0

    def update(self, t: torch.Tensor) -> None:
        if not t.numel():
            return
        self.min, self.max = min(self.min, float(t.min())), max(self.max, float(t.max()))
        eps = (self.hi - self.lo) / 510  # half a uint8 step: rounding, not clipping
        self.clipped += int(((t < self.lo - eps) | (t > self.hi + eps)).sum())
        self.total += t.numel()

    def problem(self) -> str | None:
        if not self.total:
            return None
        seen = f"observed min {self.min:.3g}, max {self.max:.3g}"
        if self.clipped > self.CLIPPED_MAX * self.total:
            return (f"{self.clipped:,} of {self.total:,} output values ({self.clipped / self.total:.2%}) fell outside "
                    f"the declared range [{self.lo:g}, {self.hi:g}] and were clipped ({seen}): declare the model's "
                    "real range (args.range; score images: --range)")
        if self.lo < 0 and self.min >= self.lo + (self.hi - self.lo) / 2:
            return (f"outputs never use the lower half of the declared range [{self.lo:g}, {self.hi:g}] ({seen}): "
                    "a [0, 1] model declared as [-1, 1]? set args.range: 0,1 (score images: --range=0,1)")
        return None


def to_uint8(x: torch.Tensor | np.ndarray, value_range: tuple[float, float] | None = None, *, what: str = "images",
             monitor: RangeMonitor | None = None) -> torch.Tensor:
    """Convert model output to uint8 NCHW.

    uint8 input passes through unchanged. Float input needs ``value_range`` (lo, hi): values are mapped to
    [0, 255], clipped and **rounded** (never truncated). NaN or inf raise :class:`InputError` naming the first bad
    sample.
    """
    t = torch.as_tensor(x)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4:
        raise InputError(f"{what}: expected a [N, C, H, W] array, got shape {tuple(t.shape)}")
    if t.shape[1] not in (1, 3) and t.shape[-1] in (1, 3):
        t = t.permute(0, 3, 1, 2)
    if t.shape[1] not in (1, 3):
        raise InputError(f"{what}: expected 1 or 3 channels, got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.contiguous()
    if t.dtype in (torch.int16, torch.int32, torch.int64, torch.uint16 if hasattr(torch, "uint16") else torch.int16):
        if value_range is None:
            value_range = (0.0, 255.0)
        t = t.double()
    if not t.is_floating_point():
        raise InputError(f"{what}: unsupported dtype {t.dtype}")
    bad = ~torch.isfinite(t.reshape(t.shape[0], -1)).all(dim=1)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise InputError(f"{what}: sample {i} contains NaN or inf ({int(bad.sum())} bad samples in all)")
    if value_range is None:
        raise InputError(f"{what}: float images need an explicit value range (for example [-1, 1] or [0, 1]): "
                         "`score images --range=-1,1`, or `range:` in the suite's model or dataset arguments")
    if monitor is not None:
        monitor.update(t)
    lo, hi = value_range
    t = (t.double() - lo) * (255.0 / (hi - lo))
    return t.clamp_(0, 255).round_().to(torch.uint8).contiguous()


def parse_range(spec: str | Sequence[float] | None) -> tuple[float, float] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        key = spec.replace(" ", "").strip("[]()")
        if key not in RANGES:
            raise InputError(f"unknown value range '{spec}'; use one of {', '.join(RANGES)}")
        return RANGES[key]
    lo, hi = (float(v) for v in spec)
    return lo, hi


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grayscale → RGB by repetition; RGB → grayscale with ITU-R 601 luma (PIL's 'L' rule), rounded."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        # (299 R + 587 G + 114 B + 500) // 1000 in int32 (at most 255 * 1000 + 500), accumulated channel by
        # channel in place: two one-channel int32 buffers alive, not three-channel products and their sum
        acc = images[:, 0:1].to(torch.int32).mul_(299)
        acc.add_(images[:, 1:2].to(torch.int32).mul_(587)).add_(images[:, 2:3].to(torch.int32).mul_(114)).add_(500)
        return acc.div_(1000, rounding_mode="floor").to(torch.uint8)
    raise InputError(f"cannot convert {c}-channel images to {channels} channels")


class StreamHash:
    """The content key of an image set fed batch by batch: sha256 over the sha256 of each image's bytes, then the
    set's shape. The same digest whether the set came in one tensor or in batches of any size, so a streamed set is
    keyed without ever being held whole; and resumable (:meth:`state`, ``StreamHash(state)``): a killed stream's
    finished part keeps its digests, so the resumed stream ends with the key an uninterrupted one would have."""

    def __init__(self, state: tuple[bytes, tuple[int, ...] | None] | None = None) -> None:
        self._digests = bytearray(state[0]) if state else bytearray()
        self._item: tuple[int, ...] | None = state[1] if state else None

    def update(self, batch: torch.Tensor) -> StreamHash:
        if batch.dtype != torch.uint8:
            raise InputError(f"content hash: expected uint8 images, got {batch.dtype}")
        if self._item is not None and tuple(batch.shape[1:]) != self._item:
            raise InputError(f"content hash: batch of shape {tuple(batch.shape[1:])} after {self._item}")
        self._item = tuple(batch.shape[1:])
        flat = batch.detach().cpu().contiguous().numpy().reshape(batch.shape[0], -1)
        for row in flat:  # per image: the buffer itself, no copy
            self._digests += hashlib.sha256(row.data).digest()
        return self

    @property
    def n(self) -> int:
        return len(self._digests) // 32

    def state(self) -> tuple[bytes, tuple[int, ...] | None]:
        return bytes(self._digests), self._item

    def hexdigest(self) -> str:
        h = hashlib.sha256(b"genbench-images/3")
        h.update(self._digests)
        h.update(str((self.n, *(self._item or ()))).encode())
        return h.hexdigest()


def content_hash(images: torch.Tensor) -> str:
    """sha256 of the image bytes and their shape: the key under which features are cached."""
    return StreamHash().update(images).hexdigest()


# --------------------------------------------------------------------------------------------- files


def _decode(path: Path | str) -> np.ndarray:
    """Decode one image file to HWC uint8 (C = 1 or 3), or raise InputError naming the file."""
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I;16N") or (mode == "I" and im.format == "PNG"):
                # a 16-bit PNG (grey): its scale is defined, 0..65535; rounded to 8 bits like any float output
                wide = np.asarray(im, dtype=np.float64)
                return np.clip(np.rint(wide * (255.0 / 65535.0)), 0, 255).astype(np.uint8)[..., None]
            if mode in ("I", "F"):
                raise InputError(
                    f"{path}: {mode} image (16-bit or float); genbench does not guess how to scale it to 8 bits: "
                    "convert it to 8-bit first"
                )
            if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                alpha = np.asarray(rgba)[..., 3]
                if alpha.min() < 255:
                    raise InputError(
                        f"{path}: image has transparent pixels (mode {mode}); flatten it onto a background first"
                    )
                im2 = rgba.convert("RGB") if mode != "LA" else im.convert("L")
            elif mode in ("L", "1"):
                im2 = im.convert("L")
            else:
                im2 = im.convert("RGB")
            arr = np.asarray(im2)
    except InputError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot decode image ({exc.__class__.__name__}: {exc})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr


def list_image_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise InputError(f"{folder}: folder does not exist")
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise InputError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
    return files


#: below this many pixels per image, decoding in threads costs more than it saves (PIL holds the GIL for most of a
#: tiny PNG's decode: 1,000 32x32 PNGs take 0.05 s in one thread, 0.12 s in four; 256x256 ones 0.51 s vs 0.27 s)
PARALLEL_DECODE_MIN_PIXELS = 64 * 64


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """One long-lived decode pool per size: a stream of thousands of batches reuses the same threads (and their
    malloc arenas) instead of starting new ones per batch."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genbench-decode")
    return _POOLS[workers]


def _decode_into(out: np.ndarray, files: Sequence[Path | str], workers: int) -> None:
    """Decode ``files`` into the uint8 NCHW ``out`` (one slot per file, grey broadcast to RGB where ``out`` has 3
    channels): each image is written to its place and dropped, so a batch costs its own bytes and one image per
    thread, not a list of images plus a stacked and a transposed copy. Sequentially for small images, else in
    ``workers`` threads, one contiguous chunk each (per-file futures cost more than a small image's decode). An
    error is the first bad file's in file order (chunks are read back in order)."""
    h, w = out.shape[2:]

    def fill(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            a = _decode(files[i])
            if a.shape[:2] != (h, w):
                raise InputError(f"{files[i]}: image is {a.shape[1]}x{a.shape[0]} but the set's images are {w}x{h}")
            out[i] = a.transpose(2, 0, 1)

    n = len(files)
    if workers <= 1 or n < 2 * workers or h * w < PARALLEL_DECODE_MIN_PIXELS:
        fill(0, n)
        return
    step = -(-n // workers)
    list(_pool(workers).map(lambda lo: fill(lo, min(n, lo + step)), range(0, n, step)))  # raises in file order


def load_image_files(files: Sequence[Path | str], *, workers: int | None = None) -> torch.Tensor:
    """Decode files in parallel into one uint8 NCHW tensor (:class:`ImageFiles`, read whole).

    All images must share one size (resizing is a backbone's business, never a loader's). Grayscale images in a
    set that also holds colour images are expanded to RGB.
    """
    files = list(files)
    return ImageFiles(files).read(range(len(files)), workers)


def load_folder(folder: str | os.PathLike[str]) -> torch.Tensor:
    return load_image_files(list_image_files(Path(folder)))


def file_digest(path: Path | str) -> str:
    """sha256 of a file's bytes (bench.weights.sha256_file: memoised on path, size and mtime, so a set is re-hashed
    only when a file changed)."""
    return sha256_file(path)


#: uint8 bytes of one decoded batch read from files: small enough that a prefetched batch or two and the
#: backbone's input stay well under the 2 GiB a 50,000-image run may use, large enough to keep threads busy
DECODE_BATCH_BYTES = 16 * 2**20


def decode_batch_size(item_bytes: int, wanted: int) -> int:
    """Images per decoded batch: ``wanted``, fewer where images are large (``DECODE_BATCH_BYTES``)."""
    return max(1, min(wanted, DECODE_BATCH_BYTES // max(1, item_bytes)))


class ImageFiles:
    """An ordered set of image files read batch by batch, never all in memory unless :meth:`load` is asked for.

    ``scan`` reads every file's header (size and colour mode, no pixels) so a file of another size fails before
    any compute, naming it, and so the channel count is known up front (a set holding any colour image is read as
    RGB). ``digest`` is an ordered digest of the files' own sha256: the content
    key of the set (a changed byte in any file is another set) without decoding anything. ``batches`` decodes in
    parallel threads, one batch at a time; :func:`load_image_files` reads a set whole through it."""

    def __init__(self, files: Sequence[Path | str], what: str = "") -> None:
        #: the paths as plain strings: 50,000 Path objects from a folder listing hold ~32 MB, their strings ~6 MB
        self.files: list[str] = [os.fspath(f) for f in files]
        self.what = what or (str(Path(self.files[0]).parent) if self.files else "images")
        self._shape: tuple[int, int, int] | None = None
        self._digest: str | None = None

    def __len__(self) -> int:
        return len(self.files)

    def scan(self) -> tuple[int, int, int]:
        """(channels, height, width) of the set; InputError naming the first file of another size."""
        if self._shape is None:
            if not self.files:
                raise InputError(f"{self.what}: no image files")
            sizes: list[tuple[int, int]] = []
            channels = 1
            for p in self.files:
                try:
                    with Image.open(p) as im:
                        sizes.append(im.size)
                        if im.mode not in ("L", "1", "LA", "I;16", "I;16B", "I;16L", "I", "F", "I;16N"):
                            channels = 3
                except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
                    raise InputError(f"{p}: cannot decode image ({exc.__class__.__name__}: {exc})") from None
            for p, s in zip(self.files, sizes, strict=True):
                if s != sizes[0]:
                    raise InputError(f"{p}: image is {s[0]}x{s[1]} but {Path(self.files[0]).name} is {sizes[0][0]}x"
                                     f"{sizes[0][1]}; all images of a set must have one size")
            self._shape = (channels, sizes[0][1], sizes[0][0])
        return self._shape

    def digest(self) -> str:
        """The set's content key: sha256 over the ordered per-file sha256 and the decoded shape."""
        if self._digest is None:
            h = hashlib.sha256(b"genbench-files/1")
            for p in self.files:
                h.update(file_digest(p).encode())
            h.update(str((len(self.files), *self.scan())).encode())
            self._digest = h.hexdigest()
        return self._digest

    def read(self, indices: Sequence[int], workers: int | None = None) -> torch.Tensor:
        """The images at ``indices`` as uint8 NCHW (gray expanded to RGB where the set is colour)."""
        channels, h, w = self.scan()
        files = [self.files[i] for i in indices]
        out = np.empty((len(files), channels, h, w), np.uint8)
        if files:
            _decode_into(out, files, workers or min(8, os.cpu_count() or 1))
        return torch.from_numpy(out)

    def item_bytes(self) -> int:
        c, h, w = self.scan()
        return c * h * w

    def batches(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        stop = len(self.files) if stop is None else stop
        size = decode_batch_size(self.item_bytes(), size)
        for i in range(start, stop, size):
            yield self.read(range(i, min(stop, i + size)))

    def load(self) -> torch.Tensor:
        return self.read(range(len(self.files)))


NPZ_SAMPLE_KEYS = ("samples", "images", "arr_0", "x")


def npz_sample_key(path: Path, keys: list[str], key: str | None = None) -> str:
    """Which array of an ``.npz`` holds the samples: ``key`` if given, else the first of NPZ_SAMPLE_KEYS present,
    else the only array."""
    if key is None:
        key = next((k for k in NPZ_SAMPLE_KEYS if k in keys), None)
        if key is None:
            if len(keys) != 1:
                raise InputError(f"{path}: holds arrays {keys}; name the one to use with 'key'")
            key = keys[0]
    if key not in keys:
        raise InputError(f"{path}: no array '{key}' (it holds {keys})")
    return key


def load_npz(path: str | os.PathLike[str], key: str | None = None, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Load samples from an ``.npz`` (or ``.npy``): uint8 NHWC/NCHW, or float with an explicit range."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: file does not exist")
    try:
        if p.suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
        else:
            with np.load(p, allow_pickle=False) as z:
                arr = z[npz_sample_key(p, list(z.keys()), key)]
    except InputError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, pickle refusal, ...
        raise InputError(f"{p}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if arr.size == 0 or arr.shape[0] == 0:
        raise InputError(f"{p}: holds no samples")
    return to_uint8(arr, value_range, what=str(p))


class ArrayFile:
    """Images stored in a ``.npy`` file or one array of an ``.npz`` (ADM's ``arr_0``), read in order batch by batch
    through the format's own header: an ``.npz`` member is read through its zip stream (stored or deflated), so a
    50,000 x 256 x 256 x 3 batch (9.8 GB) is never in memory. Layout and dtype rules are :func:`to_uint8`'s."""

    def __init__(self, path: str | os.PathLike[str], key: str | None = None,
                 value_range: tuple[float, float] | None = None) -> None:
        self.path, self.value_range = Path(path), value_range
        #: what float samples read so far did against value_range (a [0, 1] file declared -1,1 is reported)
        self.monitor: RangeMonitor | None = RangeMonitor(value_range) if value_range is not None else None
        if not self.path.is_file():
            raise InputError(f"{self.path}: file does not exist")
        self.key: str | None = None
        if self.path.suffix != ".npy":
            try:
                with zipfile.ZipFile(self.path) as z:
                    names = [n[:-4] for n in z.namelist() if n.endswith(".npy")]
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(f"{self.path}: cannot read ({exc.__class__.__name__}: {exc})") from None
            self.key = npz_sample_key(self.path, names, key)
        f, close = self._open()
        close()
        if len(self.shape) < 3 or self.shape[0] == 0:
            raise InputError(f"{self.path}: holds no samples (array of shape {self.shape})")
        self._row = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        self._f: Any = None
        self._close: Any = None
        self._cursor = 0
        self._digest: str | None = None

    def _open(self) -> tuple[Any, Any]:
        try:
            if self.key is None:
                f: Any = open(self.path, "rb")
                close = f.close
            else:
                z = zipfile.ZipFile(self.path)
                f = z.open(self.key + ".npy")

                def close() -> None:
                    f.close()
                    z.close()
            version = np.lib.format.read_magic(f)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(f))
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{self.path}: cannot read ({exc.__class__.__name__}: {exc})") from None
        if dtype.hasobject:
            close()
            raise InputError(f"{self.path}: holds Python objects (pickled data is refused); save a numeric array")
        if fortran and len(shape) > 1:
            close()
            raise InputError(f"{self.path}: Fortran-ordered array; save it with np.ascontiguousarray")
        self.shape, self.dtype = tuple(shape), dtype
        return f, close

    def __len__(self) -> int:
        return int(self.shape[0])

    def digest(self) -> str:
        if self._digest is None:
            self._digest = hashlib.sha256(f"genbench-array/1:{file_digest(self.path)}:{self.key}:{self.value_range}"
                                          .encode()).hexdigest()
        return self._digest

    def _rows(self, start: int, stop: int) -> np.ndarray:
        if self._f is None or start < self._cursor:
            if self._close is not None:
                self._close()
            self._f, self._close = self._open()
            self._cursor = 0
        while self._cursor < start:  # skip forward (sequential streams cannot seek)
            step = min(start - self._cursor, max(1, (64 << 20) // self._row))
            self._f.read(step * self._row)
            self._cursor += step
        raw = self._f.read((stop - start) * self._row)
        if len(raw) != (stop - start) * self._row:
            raise InputError(f"{self.path}: truncated: rows {start}..{stop - 1} are missing")
        self._cursor = stop
        return np.frombuffer(raw, dtype=self.dtype).reshape(stop - start, *self.shape[1:])

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """The samples at ``indices`` (contiguous ascending runs are read sequentially) as uint8 NCHW."""
        idx = list(indices)
        if not idx:
            raise InputError(f"{self.path}: no samples asked for")
        if max(idx) >= len(self):
            raise InputError(f"{self.path}: holds {len(self)} samples, sample {max(idx)} asked for")
        runs: list[np.ndarray] = []
        i = 0
        while i < len(idx):
            j = i
            while j + 1 < len(idx) and idx[j + 1] == idx[j] + 1:
                j += 1
            runs.append(self._rows(idx[i], idx[j] + 1))
            i = j + 1
        arr = np.concatenate(runs) if len(runs) > 1 else runs[0]
        if arr.dtype.kind == "f":  # name the sample by its index in the file, not in the batch
            bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
            if bad.any():
                raise InputError(f"{self.path}: sample {idx[int(np.argmax(bad))]} contains NaN or inf "
                                 f"({int(bad.sum())} bad samples among samples {idx[0]}..{idx[-1]})")
        return to_uint8(np.array(arr), self.value_range, what=str(self.path), monitor=self.monitor)

    def item_bytes(self) -> int:
        return int(np.prod(self.shape[1:]))

    def batches(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[torch.Tensor]:
        stop = len(self) if stop is None else stop
        size = decode_batch_size(self.item_bytes(), size)
        for i in range(start, stop, size):
            yield self.read(range(i, min(stop, i + size)))

    def load(self) -> torch.Tensor:
        return self.read(range(len(self)))


def save_png(images: torch.Tensor, path: str | os.PathLike[str]) -> None:
    """Save one uint8 CHW image (or a grid made by :func:`make_grid`) as PNG, atomically."""
    arr = images.permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        arr = arr[:, :, 0]
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    Image.fromarray(arr).save(tmp, format="PNG")
    os.replace(tmp, p)


def make_grid(images: torch.Tensor, ncol: int = 8, pad: int = 1, scale: int = 1) -> torch.Tensor:
    """Tile uint8 NCHW images into one CHW grid (nearest-neighbour upscaled by ``scale``)."""
    n, c, h, w = images.shape
    if scale > 1:
        images = images.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
        h, w = h * scale, w * scale
    nrow = (n + ncol - 1) // ncol
    grid = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), 255, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    return grid
