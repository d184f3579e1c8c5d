"""Contract tests over every registered component, in the spirit of scikit-learn's ``parametrize_with_checks``.

Each registered adapter, metric, backbone, task kind and dataset kind is checked for what the rest of genbench
relies on: its metadata is present, its options validate (and refuse unknown keys), a tiny input runs through it,
and the same seed gives the same output. A newly registered component fails ``test_every_*_has_an_example`` until
it is given a tiny example here (or an explicit reason why it is exercised elsewhere), so nothing is registered
unchecked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from bench.adapters import (
    ADAPTERS,
    KIND_PROTOCOLS,
    AdapterArgs,
    AdapterContext,
    GenerationRequest,
    build_adapter,
)
from bench.adapters.base import protocol_problem
from pydantic import ValidationError

from bench.backbones import BACKBONES, get_backbone
from bench.data import DATASETS, DatasetArgs
from bench.images import save_png, to_uint8
from bench.metrics import (
    INPUTS,
    METRICS,
    ArtifactSink,
    Codes,
    Metric,
    OutputInfo,
    Reference,
    SampleSet,
    Translator,
)
from bench.metrics.base import output_info
from bench.seeding import sample_seeds
from bench.tasks import TASKS

UNKNOWN = {"definitely_not_an_option": 1}


# ============================================================================================ shared tiny data
def _digits(split: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from bench.data import digits

    x, y = digits.load(split)
    return x[:n], y[:n]


def _datasets() -> dict[str, Any]:
    from bench.data.base import Dataset
    from bench.shapes import world
    from bench.translation.data import load_digits_pair

    x, y = _digits("train", 80)
    sp = world.load("test", 12)
    return {"digits": Dataset("digits", "digits:train", x, y),
            "edges": load_digits_pair("edges", "digits-edges", "test"),
            "shapes": Dataset("shapes", "shapes:test", sp.images, captions=sp.captions, prompts=sp.prompts)}


@pytest.fixture(scope="module")
def datasets() -> dict[str, Any]:
    return _datasets()


def _ctx(root: Path, datasets: dict[str, Any]) -> AdapterContext:
    return AdapterContext(resolve_path=lambda p: Path(p) if Path(p).is_absolute() else root / p,
                          datasets=datasets.__getitem__, dataset_names=tuple(datasets))


# ============================================================================================ adapters
def _folder(root: Path, images: torch.Tensor, names: list[str] | None = None) -> str:
    d = root / "imgs"
    d.mkdir(exist_ok=True)
    for i, im in enumerate(images):
        save_png(im, d / f"{names[i] if names else f'{i:03d}'}.png")
    return str(d)


def _npz(root: Path, images: torch.Tensor) -> str:
    np.savez(root / "s.npz", arr_0=images.permute(0, 2, 3, 1).numpy())
    return str(root / "s.npz")


def _script(root: Path, module: torch.nn.Module, name: str) -> str:
    torch.jit.save(torch.jit.script(module), str(root / name))
    return str(root / name)


def _export(root: Path, module: torch.nn.Module, name: str) -> str:
    batch = torch.export.Dim("batch", min=1, max=4096)
    prog = torch.export.export(module.eval(), (torch.zeros(4, 16),), dynamic_shapes=({0: batch},))
    torch.export.save(prog, str(root / name))
    return str(root / name)


def _onnx(root: Path, module: torch.nn.Module, name: str, example: torch.Tensor) -> str:
    import warnings

    dynamic = {0: "n", 2: "h", 3: "w"} if example.dim() == 4 else {0: "n"}  # the latent size stays fixed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter (no onnxscript needed)
        torch.onnx.export(module.eval(), (example,), str(root / name), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": dynamic, "y": dynamic}, dynamo=False)
    return str(root / name)


def _ddpm(root: Path) -> str:
    """A tiny random-weight DDPM pipeline from configs (diffusers' own fast-test style), saved with save_pretrained."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(root / "ddpm")
    return str(root / "ddpm")


def _vqmodel(root: Path) -> str:
    """A tiny random-weight diffusers VQModel from its config, saved with save_pretrained."""
    from diffusers import VQModel

    torch.manual_seed(0)
    VQModel(in_channels=3, out_channels=3, latent_channels=4, num_vq_embeddings=16, vq_embed_dim=4, norm_num_groups=4,
            block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2, sample_size=8).save_pretrained(root / "vq")
    return str(root / "vq")


def _edges_names(datasets: dict[str, Any], n: int) -> list[str]:
    return list(datasets["edges"].domain("a")[2][:n])


#: name → (root, datasets) → adapter args. Every registered adapter needs an entry or a reason in ADAPTER_SKIPS.
ADAPTER_EXAMPLES: dict[str, Callable[[Path, dict[str, Any]], dict[str, Any]]] = {
    "folder": lambda r, d: {"path": _folder(r, _digits("test", 6)[0])},
    "npz": lambda r, d: {"path": _npz(r, _digits("test", 6)[0])},
    "python": lambda r, d: {"target": "tests.models:LinearDigits"},
    "torchscript": lambda r, d: {"path": _script(r, __import__("tests.models").models.LinearDigits(), "g.pt"),
                                 "latent_dim": 16},
    "onnx": lambda r, d: {"path": _onnx(r, __import__("tests.models").models.LinearDigits(), "g.onnx",
                                        torch.zeros(2, 16))},
    "diffusers": lambda r, d: {"pretrained": _ddpm(r), "num_inference_steps": 2},
    "export": lambda r, d: {"path": _export(r, __import__("tests.models").models.LinearDigits(), "g.pt2"),
                            "latent_dim": 16},
    "dataset": lambda r, d: {"dataset": "digits"},
    "noise": lambda r, d: {},
    "digits-gmm": lambda r, d: {"components": 3},
    "disturbed": lambda r, d: {"dataset": "digits", "kind": "gaussian_noise", "level": 0.5},
    "blur": lambda r, d: {"dataset": "digits"},
    "copier": lambda r, d: {"dataset": "digits"},
    "zoo": lambda r, d: {"name": "dcgan"},
    "shapes-gan": lambda r, d: {},
    "python-translator": lambda r, d: {"target": "tests.models:NoisyInvert"},
    "torchscript-translator": lambda r, d: {"a2b": _script(r, __import__("tests.models").models.NegModule(), "t.pt")},
    "onnx-translator": lambda r, d: {"a2b": _onnx(r, __import__("tests.models").models.NegModule(), "t.onnx",
                                                  torch.zeros(2, 1, 8, 8))},
    "folder-translator": lambda r, d: {"a2b": _folder(r, d["edges"].domain("b")[0][:6], _edges_names(d, 6))},
    "zoo-translator": lambda r, d: {"name": "pix2pix-edges"},
    "identity": lambda r, d: {},
    "random-target": lambda r, d: {"dataset": "edges"},
    "blurred-oracle": lambda r, d: {"dataset": "edges"},
    "shapes-clip": lambda r, d: {},
    "python-retriever": lambda r, d: {"target": "tests.models:TinyRetriever"},
    "npy-embeddings": lambda r, d: (np.save(r / "i.npy", np.eye(12, 8, dtype=np.float32)),
                                    np.save(r / "t.npy", np.ones((3, 8), np.float32)),
                                    {"images": str(r / "i.npy"), "texts": str(r / "t.npy")})[-1],
    "random-retriever": lambda r, d: {},
    "transformers-retriever": lambda r, d: {"pretrained": str(__import__("tests.hf_tiny").hf_tiny.tiny_clip(r / "clip"))},
    "transformers-captioner": lambda r, d: {"pretrained": str(__import__("tests.hf_tiny").hf_tiny.tiny_git(r / "git")),
                                            "max_new_tokens": 6},
    "shapes-captioner": lambda r, d: {},
    "blind-captioner": lambda r, d: {"dataset": "shapes"},
    "python-captioner": lambda r, d: {"target": "tests.models:ColourCaptioner"},
    "torchscript-captioner": lambda r, d: {"path": _script(r, __import__("tests.models").models.StringCaptioner(), "c.pt")},
    "coco-results": lambda r, d: ((r / "res.json").write_text(json.dumps(
        [{"image_id": i, "caption": f"caption {i}"} for i in range(12)])), {"path": str(r / "res.json")})[-1],
    "shapes-t2i": lambda r, d: {},
    "shapes-oracle": lambda r, d: {},
    "random-scene": lambda r, d: {},
    "python-t2i": lambda r, d: {"target": "tests.models:PromptLength"},
    "diffusers-t2i": lambda r, d: {"pretrained": str(__import__("tests.hf_tiny").hf_tiny.tiny_stable_diffusion(r)),
                                   "num_inference_steps": 2},
    "python-autoencoder": lambda r, d: {"target": "tests.models:TinyVQ"},
    "torchscript-autoencoder": lambda r, d: {"path": _script(r, __import__("tests.models").models.TinyVQ(), "ae.pt")},
    "zoo-autoencoder": lambda r, d: {"name": "vae", "elbo_samples": 2},
    "diffusers-autoencoder": lambda r, d: {"pretrained": _vqmodel(r)},
    "identity-autoencoder": lambda r, d: {},
    "blur-autoencoder": lambda r, d: {"sigma": 0.7},
}
ADAPTER_SKIPS = {
    "open-clip": "needs open_clip weights: tests/test_vl_adapters.py runs it on real-format random weights",
}


def test_every_adapter_has_an_example() -> None:
    assert set(ADAPTER_EXAMPLES) | set(ADAPTER_SKIPS) == set(ADAPTERS.names())


@pytest.mark.parametrize("name", ADAPTERS.names())
def test_adapter_metadata(name: str) -> None:
    cls = ADAPTERS.get(name)
    assert (cls.__doc__ or "").strip(), f"adapter '{name}' has no docstring (genbench ls adapters shows it)"
    assert cls.kind in KIND_PROTOCOLS and protocol_problem(cls) is None
    assert issubclass(cls.Args, AdapterArgs)
    with pytest.raises(ValidationError, match="definitely_not_an_option"):
        cls.Args.model_validate(UNKNOWN)


def _call(adapter: Any, kind: str, datasets: dict[str, Any], seeds: list[int], idx: range) -> Any:
    """One call of the adapter's protocol on a tiny input (samples ``idx`` with ``seeds``)."""
    if kind == "image-generator":
        classes = [i % 10 for i in idx] if type(adapter).accepts_classes(adapter.args) else None
        return to_uint8(adapter.generate(GenerationRequest(indices=idx, seeds=seeds, classes=classes)), None)
    if kind == "text-to-image":
        prompts = [datasets["shapes"].prompts[i % 12] for i in idx]
        return to_uint8(adapter.generate(GenerationRequest(indices=idx, seeds=seeds, prompts=prompts)), None)
    if kind == "translator":
        from bench.adapters.translators import TranslationRequest

        x, _, names = datasets["edges"].domain("a")
        return to_uint8(adapter.translate(TranslationRequest(x[idx.start:idx.stop], "a2b", seeds, idx,
                                                             names[idx.start:idx.stop])), None)
    if kind == "autoencoder":  # (reconstructions, codes or None, log-likelihoods or None)
        out, enc = adapter.reconstruct(datasets["digits"].images[idx.start:idx.stop], seeds)
        return out, enc.codes, enc.log_likelihood
    images = datasets["shapes"].images[idx.start:idx.stop]
    if adapter.data_only:  # replayed outputs answer for the whole dataset at once, by id
        images, idx = datasets["shapes"].images, range(len(datasets["shapes"].images))
    if kind == "captioner":
        return adapter.caption(images, ids=list(idx)) if adapter.data_only else adapter.caption(images)
    assert kind == "retriever"
    if adapter.data_only:
        return adapter.embed_images(images, ids=list(idx))
    return np.asarray(adapter.embed_images(images)), np.asarray(adapter.embed_texts(["a red circle", "two blue squares"]))


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, tuple):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return bool(a == b)


@pytest.mark.parametrize("name", sorted(ADAPTER_EXAMPLES))
def test_adapter_runs_tiny_input_and_is_deterministic_per_seed(name: str, tmp_path: Path,
                                                               datasets: dict[str, Any]) -> None:
    args = ADAPTER_EXAMPLES[name](tmp_path, datasets)
    ctx = _ctx(tmp_path, datasets)
    adapter = build_adapter(name, args, ctx)
    kind = adapter.kind
    seeds = sample_seeds(1234, 0, 4)
    first = _call(adapter, kind, datasets, seeds, range(0, 4))
    again = _call(build_adapter(name, args, ctx), kind, datasets, seeds, range(0, 4))
    assert _same(first, again), f"adapter '{name}': same seeds, different outputs"
    if kind in ("image-generator", "text-to-image", "translator"):
        assert first.dtype == torch.uint8 and first.ndim == 4 and first.shape[0] == 4
        # one seed per sample: the same samples whatever the batch they come in
        halves = torch.cat([_call(adapter, kind, datasets, seeds[:2], range(0, 2)),
                            _call(adapter, kind, datasets, seeds[2:], range(2, 4))])
        assert torch.equal(first, halves), f"adapter '{name}': outputs depend on the batch size"
    elif kind == "autoencoder":
        assert first[0].dtype == torch.uint8 and first[0].shape[0] == 4 and first[0].shape[2:] == (8, 8)
        halves = [_call(adapter, kind, datasets, seeds[:2], range(0, 2)), _call(adapter, kind, datasets, seeds[2:], range(2, 4))]
        assert torch.equal(first[0], torch.cat([h[0] for h in halves])), f"adapter '{name}': outputs depend on the batch"
    elif kind == "captioner":
        assert len(first) == (12 if adapter.data_only else 4) and all(isinstance(c, str) and c.strip() for c in first)
    else:
        im = first[0] if isinstance(first, tuple) else first
        assert im.ndim == 2 and im.shape[0] == (12 if adapter.data_only else 4)


# ============================================================================================ metrics
#: options for a tiny, offline run of each metric (defaults where they already are)
METRIC_OPTIONS: dict[str, dict[str, Any]] = {
    "fid": {"bootstrap": 3}, "kid": {"subsets": 5, "subset_size": 10}, "isc": {"splits": 2}, "prc": {},
    "fid_curve": {"ns": [10, 20], "repeats": 2}, "density_coverage": {}, "class_coverage": {},
    "lpips_diversity": {"distance": "digits-features", "pairs": 12}, "memorization": {"train": "train", "grid": 2},
    "cond_acc": {}, "intra_fid": {}, "ppl": {"samples": 8, "batch_size": 4},
    "l1": {}, "psnr": {}, "ssim": {}, "ms_ssim": {}, "lpips": {"net": "digits"}, "cycle": {"net": "digits"},
    "identity": {}, "diversity": {"net": "digits", "inputs": 4, "samples": 2}, "label_preservation": {},
    "rfid": {}, "codebook": {}, "bits_per_dim": {},
    "retrieval_recall": {}, "coco_captions": {"meteor": False, "spice": False}, "clipscore": {},
    "clipscore_torchmetrics": {}, "attribute_accuracy": {}, "prompt_diversity": {"distance": "shapes-features"},
    "vendi": {"q": 1}, "prc_vgg16": {},
}
METRIC_SKIPS = {"sfid": "reads Inception's spatial layer, which the tiny backbones here lack (tests/test_adm.py)",
                "cmmd": "reads a CLIP ViT-L/14@336 embedding (tests/test_cmmd.py, on a random model of that format)"}
TEXT_INPUTS = {"texts", "image_text_pairs", "prompt_index", "embeddings", "reference.captions"}


def test_every_metric_has_an_example() -> None:
    assert set(METRIC_OPTIONS) | set(METRIC_SKIPS) == set(METRICS.names())


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_metadata(name: str) -> None:
    cls = METRICS.get(name)
    assert cls.name == name and cls.description
    assert cls.outputs and all(isinstance(v, OutputInfo) for v in cls.outputs.values())
    assert cls.requires and cls.requires <= set(INPUTS), f"undeclared inputs: {set(cls.requires) - set(INPUTS)}"
    assert cls.uses <= set(INPUTS) and not cls.uses & cls.requires
    assert isinstance(cls.layer, str) and cls.layer
    with pytest.raises(ValidationError, match="definitely_not_an_option"):
        cls.Opts.model_validate({**METRIC_OPTIONS.get(name, {}), **UNKNOWN})
    assert isinstance(cls(METRIC_OPTIONS.get(name)), Metric)
    # some registered task kind provides every input the metric needs: it can run somewhere
    assert any(cls.requires <= TASKS.get(t)().provided(TASKS.get(t).Args(classes=10) if t == "generation"
                                                         else TASKS.get(t).Args()) for t in TASKS.names())


class _Resources:
    def __init__(self, backbone: Any, datasets: dict[str, Any]) -> None:
        self.backbone, self._d = backbone, datasets

    def dataset(self, name: str) -> Any:
        return self._d[name]

    def features(self, name: str) -> dict[str, np.ndarray]:
        return self.backbone.extract(self._d[name].images)


def _inputs(metric: Metric) -> tuple[SampleSet, Reference, Any, dict[str, Any]]:
    """A tiny SampleSet/Reference providing exactly what ``metric`` requires, from real data."""
    from bench.data.base import Dataset

    req = metric.requires
    if req & TEXT_INPUTS:
        from bench.shapes import world

        sp = world.load("test", 12)
        bb = get_backbone("shapes-clip")
        pi = np.repeat(np.arange(6), 2)
        images = sp.images[:12]
        feats = bb.extract(images)
        texts = [sp.prompts[i] for i in pi] if "prompt_index" in req else list(sp.prompts)
        emb = {"images": np.random.default_rng(0).standard_normal((12, 16)).astype(np.float32),
               "texts": np.random.default_rng(1).standard_normal((24, 16)).astype(np.float32),
               "pairs": np.repeat(np.arange(12), 2)}
        samples = SampleSet(name="m", features=feats, images=images, texts=texts, prompt_index=pi,
                            embeddings=emb, backbone=bb)
        ref = Reference("shapes", "shapes:test", features=feats, images=images, captions=sp.captions)
        return samples, ref, bb, {}
    bb = get_backbone("digits")
    bb.load()
    x, y = _digits("test", 40)
    r, ry = _digits("train", 60)
    truth = x.flip(-1).contiguous()
    translator = Translator("a2b", translate=lambda imgs, d, names, tag: (255 - imgs).to(torch.uint8),
                            cycle=lambda d: (x, truth), other_side=lambda k: (r[:k], [f"r{i}" for i in range(k)]))
    samples = SampleSet(name="m", features=bb.extract(x), images=x, classes=y.numpy(), backbone=bb, truth=truth,
                        source=x, source_names=[f"x{i}" for i in range(40)], source_labels=y.numpy(),
                        translator=translator, model=build_adapter("zoo", {"name": "cgan"}, AdapterContext()),
                        codes=Codes(x[:, 0, ::2, ::2].reshape(40, -1).numpy().astype(np.int64) // 16, 16),
                        log_likelihood=-np.linspace(100.0, 200.0, 40), item_shape=tuple(x.shape[1:]))
    ref = Reference("ref", "digits:train", features=bb.extract(r), images=r, labels=ry.numpy())
    train = Dataset("train", "digits:train", *_digits("train", 100))
    return samples, ref, bb, {"train": train}


def _values(vals: list[Any]) -> list[tuple[str, float | None]]:
    return [(v.metric, None if v.value is None else (math.nan if v.value != v.value else float(v.value))) for v in vals]


@pytest.mark.parametrize("name", sorted(METRIC_OPTIONS))
def test_metric_runs_tiny_input_and_is_deterministic_per_seed(name: str) -> None:
    import warnings

    metric = METRICS.get(name)(METRIC_OPTIONS[name])
    samples, ref, bb, extra = _inputs(metric)
    layer = bb.layer_name(metric.layer)
    assert layer is not None
    s, r = SampleSet(**{**samples.__dict__, "layer": layer}), Reference(**{**ref.__dict__, "layer": layer})
    runs = []
    for _ in range(2):
        sink = ArtifactSink()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny sets: singular covariances are expected
            state = metric.fit(r, _Resources(bb, extra))
            vals = metric.compute(s, r, seed=7, state=state, sink=sink)
        runs.append((_values(vals), sink.per_sample_values))
    assert runs[0][0], f"metric '{name}' produced no values"
    for value_name, _ in runs[0][0]:  # every value has its direction and unit (a variant name@x: those of name)
        assert isinstance(output_info(value_name), OutputInfo)
    assert str(runs[0]) == str(runs[1]), f"metric '{name}': same seed, different values"
    for value_name, per in runs[0][1].items():  # the per-sample channel: plain numbers, one per sample or query
        assert per and all(isinstance(v, int | float | bool) for v in per), value_name


# ============================================================================================ backbones
@pytest.mark.parametrize("name", BACKBONES.names())
def test_backbone_metadata_and_weights(name: str) -> None:
    from bench.weights import WeightsFile

    cls = BACKBONES.get(name)
    assert cls.name == name and (cls.__doc__ or "").strip()
    assert cls.layers and cls.default_layer in cls.layers
    assert cls.logits_layer is None or cls.logits_layer in cls.layers
    assert all(v in cls.layers for v in cls.layer_aliases.values())
    assert all(isinstance(w, WeightsFile) and w.filename for w in cls.weights_files)
    b = cls()
    assert b.layer_name("default") == cls.default_layer
    if cls.weights_files:  # third-party weights: offline and absent, the problem names the file and where it goes
        problems = b.check_weights()
        assert problems and any(str(w.cache_path()) in problems[0] or w.filename in problems[0] for w in cls.weights_files)
        return
    if b.dry_run() is not None:  # a Hugging Face model (a hub id or a folder): absent, the problem says how to get it
        problems = b.check_weights()
        assert problems and "(hf download " in problems[0]  # the CLI the pinned huggingface_hub ships
        return
    images = _digits("test", 5)[0] if name == "digits" else __import__("bench.shapes.world").shapes.world.load("test", 5).images
    a, c = b.extract(images), cls().extract(images)
    assert set(a) == set(cls.layers) and all(v.shape[0] == 5 and v.dtype == np.float32 for v in a.values())
    assert all(np.array_equal(a[k], c[k]) for k in a)
    d = b.describe()
    assert d["backbone"] == name and d["weights_sha256"] and isinstance(d["preprocessing"], dict)


# ============================================================================================ task and dataset kinds
@pytest.mark.parametrize("name", TASKS.names())
def test_task_kind_metadata(name: str) -> None:
    from bench.tasks.base import MeasurementKind

    cls = TASKS.get(name)
    if issubclass(cls, MeasurementKind):  # a measurement kind declares its rows' metadata itself
        assert cls.outputs and all(isinstance(v, OutputInfo) for v in cls.outputs.values())
    assert cls.name == name and (cls.__doc__ or "").strip()
    assert cls.provides and cls.provides <= set(INPUTS)
    assert cls.adapter_kinds and cls.adapter_kinds <= set(KIND_PROTOCOLS)
    with pytest.raises(ValidationError, match="definitely_not_an_option"):
        cls.Args.model_validate(UNKNOWN)


@pytest.mark.parametrize("name", DATASETS.names())
def test_dataset_kind_metadata(name: str, tmp_path: Path) -> None:
    cls = DATASETS.get(name)
    assert cls.name == name and (cls.__doc__ or "").strip()
    assert issubclass(cls.Args, DatasetArgs)
    with pytest.raises(ValidationError):
        cls.Args.model_validate(UNKNOWN)
    try:
        args = cls.Args()
    except ValidationError:
        return  # needs files or names: loaded from real folders by the kind's own tests
    if cls().statistics_protocol(args, lambda p: tmp_path / p) is None:  # embedded worlds load with their defaults
        ds = cls().load("x", args, lambda p: tmp_path / p)
        assert ds.images.dtype == torch.uint8 and ds.images.ndim == 4 and ds.images.shape[0] > 0 and ds.id
