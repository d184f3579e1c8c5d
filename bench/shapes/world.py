"""The embedded shapes world: 32x32 RGB scenes of 1-3 coloured shapes, with attributes and 5 captions each.

Why a procedural world: real caption/retrieval/text-to-image data (COCO, Flickr30k) cannot ship with the repo, yet
every vision-language metric needs images *and* text whose agreement is known. Here the truth is exact: each
image carries its attributes (shape, colour, size, 3x3 grid cell per object), so caption quality, retrieval and
text-to-image attribute accuracy have ground truth, and the known quality ordering (real > learned > blind) is
what the tests assert.

Determinism: scene ``i`` of split ``s`` is drawn from ``random.Random(derive_seed(VERSION, s, i))`` alone, so a
split is the same on every machine and any prefix of it is a prefix of the full split. The splits are fixed:
``train`` (5,000 scenes) and ``test`` (500 scenes) use disjoint seed streams.

Rendering: each shape is drawn on a 4x supersampled canvas and box-averaged down (anti-aliased edges), in uint8.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from bench.seeding import derive_seed

VERSION = "shapes/v1"
SIZE = 32
SPLITS = {"train": 5000, "test": 500}
N_CAPTIONS = 5

SHAPES = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 235),
    "yellow": (235, 215, 40), "purple": (165, 60, 210), "white": (240, 240, 240),
}
COLOUR_NAMES = tuple(COLOURS)
SIZES = ("small", "large")
HALF = {"small": 3.2, "large": 5.0}  # half-extent in pixels
# 3x3 grid cells in reading order, with the phrase used in captions
CELLS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
CELL_PHRASE = ("in the top left", "at the top", "in the top right", "on the left", "in the center", "on the right",
               "in the bottom left", "at the bottom", "in the bottom right")
COUNT_WORD = {1: "one", 2: "two", 3: "three"}
BACKGROUND = (16, 16, 24)


@dataclass(frozen=True)
class Obj:
    shape: str
    colour: str
    size: str
    cell: int  # index into CELLS


@dataclass(frozen=True)
class Scene:
    objects: tuple[Obj, ...]
    jitter: tuple[tuple[float, float], ...]  # per-object centre offset in pixels


# ------------------------------------------------------------------------------------------------ sampling
def sample_scene(rng: random.Random) -> Scene:
    """1-3 objects in distinct grid cells; everything else uniform."""
    n = rng.choice((1, 1, 2, 2, 3))
    cells = rng.sample(range(9), n)
    objs = tuple(sorted((Obj(rng.choice(SHAPES), rng.choice(COLOUR_NAMES), rng.choice(SIZES), c) for c in cells),
                        key=lambda o: o.cell))
    jit = tuple((rng.uniform(-1.2, 1.2), rng.uniform(-1.2, 1.2)) for _ in objs)
    return Scene(objs, jit)


def scene_rng(split: str, index: int) -> random.Random:
    return random.Random(derive_seed(VERSION, split, index))


# ------------------------------------------------------------------------------------------------ render
_SS = 4  # supersampling factor


@lru_cache(maxsize=1)
def _grid() -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(SIZE * _SS) + 0.5) / _SS
    return np.meshgrid(c, c, indexing="ij")  # (y, x)


def _mask(o: Obj, cy: float, cx: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    h = HALF[o.size]
    if o.shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= h * h
    if o.shape == "square":
        s = h * 0.88
        return (np.abs(yy - cy) <= s) & (np.abs(xx - cx) <= s)
    # upward triangle: apex at top, base at bottom
    top, bottom = cy - h, cy + h * 0.8
    t = (yy - top) / (bottom - top)
    return (t >= 0) & (t <= 1) & (np.abs(xx - cx) <= t * h * 1.1)


def cell_centre(cell: int) -> tuple[float, float]:
    r, c = divmod(cell, 3)
    step = SIZE / 3
    return (r + 0.5) * step, (c + 0.5) * step


def render(scene: Scene) -> np.ndarray:
    """uint8 [3, 32, 32]."""
    canvas = np.empty((SIZE * _SS, SIZE * _SS, 3), dtype=np.float32)
    canvas[:] = BACKGROUND
    yy, xx = _grid()
    for o, (dy, dx) in zip(scene.objects, scene.jitter, strict=True):
        cy, cx = cell_centre(o.cell)
        cy, cx = cy + dy, cx + dx
        # only the window around the shape is tested (5x faster than the whole canvas)
        y0, y1 = max(0, int((cy - 7) * _SS)), min(SIZE * _SS, int((cy + 7) * _SS))
        x0, x1 = max(0, int((cx - 7) * _SS)), min(SIZE * _SS, int((cx + 7) * _SS))
        win = canvas[y0:y1, x0:x1]
        win[_mask(o, cy, cx, yy[y0:y1, x0:x1], xx[y0:y1, x0:x1])] = COLOURS[o.colour]
    small = canvas.reshape(SIZE, _SS, SIZE, _SS, 3).mean(axis=(1, 3))
    return np.rint(small).astype(np.uint8).transpose(2, 0, 1)


def render_labels(scene: Scene) -> np.ndarray:
    """Per-pixel truth of a scene: int64 [2, 32, 32], channel 0 the colour class (0 background, 1 + index into
    COLOUR_NAMES), channel 1 the shape class (0 background, 1 + index into SHAPES).

    A pixel belongs to the object that covers most of its 4x4 supersamples (later objects over earlier ones, as
    :func:`render` paints them), or to the background when the background covers most of it: the same geometry as
    the image, so the mask of an anti-aliased edge pixel agrees with its dominant colour. What the shapes segmenter
    (the dissection's concept masks) is trained on."""
    index = np.zeros((SIZE * _SS, SIZE * _SS), dtype=np.int64)  # 0 background, k + 1 object k
    yy, xx = _grid()
    for k, (o, (dy, dx)) in enumerate(zip(scene.objects, scene.jitter, strict=True)):
        cy, cx = cell_centre(o.cell)
        cy, cx = cy + dy, cx + dx
        y0, y1 = max(0, int((cy - 7) * _SS)), min(SIZE * _SS, int((cy + 7) * _SS))
        x0, x1 = max(0, int((cx - 7) * _SS)), min(SIZE * _SS, int((cx + 7) * _SS))
        win = index[y0:y1, x0:x1]
        win[_mask(o, cy, cx, yy[y0:y1, x0:x1], xx[y0:y1, x0:x1])] = k + 1
    blocks = index.reshape(SIZE, _SS, SIZE, _SS).transpose(0, 2, 1, 3).reshape(SIZE, SIZE, _SS * _SS)
    counts = np.stack([(blocks == k).sum(-1) for k in range(len(scene.objects) + 1)])
    owner = counts.argmax(0)  # ties go to the lower index: the background, then earlier objects
    colour = np.array([0] + [1 + COLOUR_NAMES.index(o.colour) for o in scene.objects])[owner]
    shape = np.array([0] + [1 + SHAPES.index(o.shape) for o in scene.objects])[owner]
    return np.stack([colour, shape])


@lru_cache(maxsize=4)
def load_labels(split: str = "train", n: int | None = None) -> torch.Tensor:
    """:func:`render_labels` of the split's scenes (those of :func:`load`), int64 [N, 2, 32, 32]."""
    return torch.from_numpy(np.stack([render_labels(s) for s in load(split, n).scenes]))


# ------------------------------------------------------------------------------------------------ captions
def _phrase(o: Obj, rng: random.Random, *, size: bool = True, where: bool = True, art: bool = True) -> str:
    sz = {"small": rng.choice(("small", "small", "little", "tiny")), "large": rng.choice(("large", "large", "big"))}[o.size]
    words = (["a"] if art else []) + ([sz] if size else []) + [o.colour, o.shape]
    if where:
        words.append(CELL_PHRASE[o.cell])
    return " ".join(words)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def canonical_caption(scene: Scene) -> str:
    """The complete description (size, colour, shape and cell of every object, reading order): the t2i prompt."""
    return _join([f"a {o.size} {o.colour} {o.shape} {CELL_PHRASE[o.cell]}" for o in scene.objects])


def captions(scene: Scene, rng: random.Random) -> list[str]:
    """Five references: complete, count-led, colour+shape only, 'there is', and a shuffled-order variant.

    Like human references they differ in what they mention, so an n-gram metric rewards the shared content.
    """
    objs = list(scene.objects)
    n = len(objs)
    shuffled = objs[:]
    rng.shuffle(shuffled)
    c0 = _join([_phrase(o, rng) for o in objs])
    if n == 1:
        c1 = f"a single {_phrase(objs[0], rng, art=False, where=rng.random() < 0.5)}"
    else:
        c1 = f"{COUNT_WORD[n]} shapes {_join([_phrase(o, rng, size=False, where=False) for o in objs])}"
    c2 = _join([_phrase(o, rng, size=False, where=False) for o in shuffled])
    c3 = "there is " + _join([_phrase(o, rng, where=False) for o in objs])
    c4 = _join([_phrase(o, rng, size=rng.random() < 0.5) for o in shuffled])
    if n == 1:
        c4 = f"{_phrase(objs[0], rng, size=False, where=False)} on a dark background"
    return [c0, c1, c2, c3, c4]


# ------------------------------------------------------------------------------------------------ vocabulary
def tokenize(text: str) -> list[str]:
    """Lowercase alphabetic words (punctuation dropped): the shapes models' tokeniser."""
    return re.findall(r"[a-z]+", text.lower())


VOCAB: tuple[str, ...] = tuple(["<pad>", "<bos>", "<eos>", "<unk>"] + sorted(set(
    "a an the one two three single shapes shape there is and on in at of to dark background with photo depicts "
    "image picture small little tiny large big top bottom left right center middle".split()
    + list(SHAPES) + list(COLOUR_NAMES))))
PAD, BOS, EOS, UNK = 0, 1, 2, 3
_INDEX = {w: i for i, w in enumerate(VOCAB)}


def encode(text: str, max_len: int = 32) -> list[int]:
    """Token ids (unknown words → <unk>), truncated to ``max_len``."""
    return [_INDEX.get(w, UNK) for w in tokenize(text)][:max_len]


def decode(ids: list[int]) -> str:
    out = []
    for i in ids:
        if i == EOS:
            break
        if i not in (PAD, BOS):
            out.append(VOCAB[i])
    return " ".join(out)


# ------------------------------------------------------------------------------------------------ splits
@dataclass
class ShapesSplit:
    """One split: images uint8 [N, 3, 32, 32], 5 captions per image, attributes and the scenes themselves."""

    name: str
    images: torch.Tensor
    captions: list[list[str]]
    scenes: list[Scene]

    @property
    def prompts(self) -> list[str]:
        return [canonical_caption(s) for s in self.scenes]


@lru_cache(maxsize=4)
def load(split: str = "train", n: int | None = None) -> ShapesSplit:
    """The fixed ``train`` (5,000) or ``test`` (500) split, or its first ``n`` scenes."""
    if split not in SPLITS:
        raise ValueError(f"unknown shapes split '{split}'")
    total = SPLITS[split] if n is None else min(n, SPLITS[split])
    scenes, caps, imgs = [], [], []
    for i in range(total):
        rng = scene_rng(split, i)
        s = sample_scene(rng)
        scenes.append(s)
        caps.append(captions(s, rng))
        imgs.append(render(s))
    return ShapesSplit(split, torch.from_numpy(np.stack(imgs)), caps, scenes)


# ------------------------------------------------------------------------------------------------ attributes
N_ATTR = 3 + len(COLOUR_NAMES) + len(SHAPES) + 9


def attribute_targets(scene: Scene) -> np.ndarray:
    """[count one-hot (3) | colour present (6) | shape present (3) | cell occupied (9)] as float32."""
    t = np.zeros(N_ATTR, dtype=np.float32)
    t[len(scene.objects) - 1] = 1
    for o in scene.objects:
        t[3 + COLOUR_NAMES.index(o.colour)] = 1
        t[9 + SHAPES.index(o.shape)] = 1
        t[12 + o.cell] = 1
    return t


def parse_prompt(text: str) -> Scene | None:
    """The scene a canonical caption describes (``None`` if ``text`` is not one): attribute accuracy's truth."""
    parts = re.split(r", | and ", text.strip().lower())
    objs = []
    for p in parts:
        m = re.fullmatch(r"a (small|large) (\w+) (\w+) (.+)", p)
        if not m or m.group(2) not in COLOURS or m.group(3) not in SHAPES or m.group(4) not in CELL_PHRASE:
            return None
        objs.append(Obj(m.group(3), m.group(2), m.group(1), CELL_PHRASE.index(m.group(4))))
    return Scene(tuple(objs), tuple((0.0, 0.0) for _ in objs)) if objs else None


def render_prompt(text: str, seed: int) -> np.ndarray | None:
    """The scene a canonical caption describes, rendered with a fresh sub-cell jitter drawn from ``seed``: the
    world's own variation for one prompt (the oracle model, and per-prompt diversity's reference). uint8
    [3, 32, 32], or ``None`` when ``text`` is not a canonical caption."""
    scene = parse_prompt(text)
    if scene is None:
        return None
    rng = random.Random(seed)
    jitter = tuple((rng.uniform(-1.2, 1.2), rng.uniform(-1.2, 1.2)) for _ in scene.objects)
    return render(Scene(scene.objects, jitter))
