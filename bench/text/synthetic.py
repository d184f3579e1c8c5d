"""A deterministic, vocabulary-rich synthetic COCO-style caption set for tests and benchmarks.

Real COCO captions cannot ship with the repo, but speed and parity need realistic inputs: varied lengths, casing,
punctuation that the PTB tokenizer splits or drops (commas, periods, apostrophes, hyphens, parentheses), numbers,
and hypotheses that range from near-copies of a reference to unrelated sentences, so every n-gram order, length
penalty and METEOR module (exact, stem, synonym, paraphrase) is exercised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_DETS = ["a", "the", "an old", "a young", "two", "three", "several", "a group of", "a pair of", "some"]
_ADJS = ["red", "blue", "small", "large", "wooden", "shiny", "dirty", "happy", "tall", "striped", "furry",
         "white", "black", "green", "yellow", "colorful", "empty", "crowded", "tiny", "giant", "rusty", "fresh"]
_NOUNS = ["man", "woman", "dog", "cat", "child", "bus", "train", "horse", "bird", "pizza", "plate", "table",
          "bicycle", "skateboard", "surfer", "giraffe", "elephant", "kitchen", "street", "truck", "boat", "clock",
          "laptop", "umbrella", "banana", "sandwich", "player", "girl", "boy", "zebra", "sheep", "cow", "kite",
          "motorcycle", "airplane", "bench", "toilet", "couch", "teddy bear", "fire hydrant", "stop sign"]
_VERBS = ["sitting on", "standing next to", "riding", "holding", "eating", "walking down", "looking at",
          "lying on", "parked near", "flying over", "playing with", "jumping over", "carrying", "waiting for",
          "driving along", "resting beside", "running across", "sits on", "stands by", "rides", "holds", "eats",
          "walks along", "looks at", "lies under", "is parked in front of", "plays with", "jumps off"]
_PLACES = ["in a park", "on the beach", "at night", "in the snow", "on a sunny day", "in a city", "near the water",
           "inside a room", "on a busy street", "in the grass", "at the airport", "under a tree", "in the kitchen",
           "by the river", "on a field", "in front of a building", ""]
_SYN = {"man": "guy", "woman": "lady", "child": "kid", "large": "big", "small": "little", "dog": "puppy",
        "sitting": "seated", "street": "road", "couch": "sofa", "boat": "ship", "happy": "cheerful"}
_EXTRAS = [", smiling", " (blurry photo)", " -- close up", ", isn't it", "'s owner", " with 2 friends",
           " at 5 o'clock", "; nearby", " for £3", " and a half-eaten cake", "...", "!", "?", " \"outdoors\""]


@dataclass(frozen=True)
class CaptionSet:
    """References (several per image) and exactly one hypothesis per image, keyed by integer image id."""

    refs: dict[int, list[str]]
    hyps: dict[int, str]

    def coco_annotations(self) -> dict[str, object]:
        """The COCO annotations-file shape: ``{"images": [...], "annotations": [...]}``."""
        anns = [{"image_id": i, "id": n, "caption": c}
                for n, (i, c) in enumerate((i, c) for i, cs in self.refs.items() for c in cs)]
        return {"images": [{"id": i} for i in self.refs], "annotations": anns}

    def coco_results(self) -> list[dict[str, object]]:
        """The COCO results-file shape: ``[{"image_id", "caption"}]``."""
        return [{"image_id": i, "caption": c} for i, c in self.hyps.items()]


def _sentence(rng: random.Random) -> list[str]:
    words = [rng.choice(_DETS)]
    words += [rng.choice(_ADJS) for _ in range(rng.choice([0, 1, 1, 2]))]
    words += [rng.choice(_NOUNS), rng.choice(_VERBS), rng.choice(_DETS)]
    words += [rng.choice(_ADJS) for _ in range(rng.choice([0, 0, 1]))]
    words.append(rng.choice(_NOUNS))
    place = rng.choice(_PLACES)
    if place:
        words.append(place)
    return " ".join(words).split()


def _render(rng: random.Random, words: list[str]) -> str:
    s = " ".join(words)
    if rng.random() < 0.15:
        s += rng.choice(_EXTRAS)
    r = rng.random()
    if r < 0.5:
        s = s[0].upper() + s[1:]
    elif r < 0.55:
        s = s.upper()
    if rng.random() < 0.6:
        s += rng.choice([".", ".", " .", "!", ""])
    return s


def _perturb(rng: random.Random, words: list[str]) -> list[str]:
    out = []
    for w in words:
        r = rng.random()
        if r < 0.05:
            continue
        if r < 0.15 and w in _SYN:
            w = _SYN[w]
        elif r < 0.19:
            w = rng.choice(_ADJS + _NOUNS)
        out.append(w)
    if rng.random() < 0.2:
        out.insert(rng.randrange(len(out) + 1), rng.choice(_ADJS))
    return out or words[:1]


def synthetic_captions(n_images: int, n_refs: int = 5, seed: int = 0, first_id: int = 1) -> CaptionSet:
    """``n_images`` images with ``n_refs`` references each and one hypothesis each; same seed → same set.

    Each image has a "scene" sentence; references are perturbations of it (synonyms, drops, inserted
    adjectives, different casing and punctuation), and the hypothesis is a perturbation (70 %), an exact copy of
    a reference (10 %) or an unrelated sentence (20 %), so scores spread over the whole range.
    """
    rng = random.Random(seed)
    refs: dict[int, list[str]] = {}
    hyps: dict[int, str] = {}
    for k in range(n_images):
        img = first_id + k
        scene = _sentence(rng)
        refs[img] = [_render(rng, _perturb(rng, scene)) for _ in range(n_refs)]
        r = rng.random()
        if r < 0.7:
            hyps[img] = _render(rng, _perturb(rng, _perturb(rng, scene)))
        elif r < 0.8:
            hyps[img] = rng.choice(refs[img])
        else:
            hyps[img] = _render(rng, _sentence(rng))
    return CaptionSet(refs=refs, hyps=hyps)
