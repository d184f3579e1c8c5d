"""Inception-v3 feature networks, exactly as the reference tools compute them.

Why several backbones for "the" Inception: FID values differ between tools because of preprocessing, not
matrix math (torch-fidelity resizes with a TF1-compatible bilinear, clean-fid with PIL bicubic per channel,
pytorch-fid with ``F.interpolate``, torchmetrics >= 1.8 with antialias; docs/parity.md). Each backbone here
reproduces one tool's pipeline by calling that tool's own code,
with weights resolved by :mod:`bench.weights` (never the tool's own cache or hard-coded paths):

==========================  ==================================================  ==========================
backbone                    pipeline (reference)                                weights file
==========================  ==================================================  ==========================
inception-v3-compat         torch-fidelity FeatureExtractorInceptionV3:         inception-v3-compat (.pth)
                            TF1-compatible bilinear to 299, (x-128)/128
inception-v3-tm-antialias   torchmetrics>=1.8 NoTrainInceptionV3 default:       inception-v3-compat (.pth)
                            torch bilinear antialias=True to 299
inception-v3-clean          clean-fid mode "clean": PIL bicubic per channel     inception-torchscript (.pt)
                            on float32 (cleanfid.resize.build_resizer), clip,
                            TorchScript ``layers`` on (x-128)/128
inception-v3-legacy-tf      clean-fid mode "legacy_tensorflow": the             inception-torchscript (.pt)
                            TorchScript file resizes inside
inception-v3-legacy-pytorch clean-fid mode "legacy_pytorch" (= pytorch-fid):    inception-v3-compat (.pth)
                            torch bilinear align_corners=False on floats,
                            pytorch-fid's FID Inception on x/255
inception-v3-adm            OpenAI guided-diffusion ``evaluations/evaluator.py``: inception-v3-compat (.pth)
                            inception-v3-compat's pipeline, plus ADM's spatial
                            layer ``mixed_6/conv`` (first 7 channels) for sFID
==========================  ==================================================  ==========================

torch-fidelity's and pytorch-fid's published ``.pth`` files are the same file (same size and sha256, checked
against several public manifests), so one manifest entry serves both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.backbones.base import Backbone
from bench.images import match_channels
from bench.weights import WeightsFile, is_present, missing_message, resolve

INCEPTION_PTH = WeightsFile(
    name="inception-v3-compat",
    filename="weights-inception-2015-12-05-6726825d.pth",
    url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    size=95_628_359,
    used_by="torch-fidelity (inception-v3-compat), torchmetrics FID/KID/IS, pytorch-fid, clean-fid legacy_pytorch",
    backbones=("inception-v3-compat", "inception-v3-tm-antialias", "inception-v3-legacy-pytorch", "inception-v3-adm"),
    aliases=("pt_inception-2015-12-05-6726825d.pth",),  # pytorch-fid's (and clean-fid legacy_pytorch's) name
    library_paths=(
        "torch-fidelity / torchmetrics: $TORCH_HOME/hub/checkpoints/weights-inception-2015-12-05-6726825d.pth "
        "(or feature_extractor_weights_path=...)",
        "pytorch-fid / clean-fid legacy_pytorch: $TORCH_HOME/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth "
        "(mirror: https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth)",
    ),
)

INCEPTION_TORCHSCRIPT = WeightsFile(
    name="inception-torchscript",
    filename="inception-2015-12-05.pt",
    url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    # the hash k-diffusion (k_diffusion/evaluation.py) and others pin for NVIDIA's file; a TorchScript file runs its
    # own code when loaded, so only this file loads (bench.weights.check_executable)
    sha256="f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4",
    size=95_607_719,
    executable=True,
    used_by="clean-fid clean / legacy_tensorflow, StyleGAN2-ADA / StyleGAN3 metrics",
    backbones=("inception-v3-clean", "inception-v3-legacy-tf"),
    library_paths=("clean-fid: /tmp/inception-2015-12-05.pt (hard-coded; ./ on Windows)",),
)

WEIGHTS_FILES: tuple[WeightsFile, ...] = (INCEPTION_PTH, INCEPTION_TORCHSCRIPT)


class _InceptionBase(Backbone):
    """Shared: 2048-d pool features for FID/KID/PR; torch-fidelity's unbiased logits for IS where the net has them."""

    layers: tuple[str, ...] = ("pool",)
    default_layer = "pool"
    batch_size = 32  # 299x299 float activations: keep peak memory modest
    #: 4 images per call on the CPU: ~1.6x faster than 32 (their largest activation, 4 x 5.5 MB, stays in the heap;
    #: scripts/bench_inception_cpu.py), and the features are bit-identical (tests/test_inception_cpu_batch.py)
    cpu_batch_size = 4
    weights_spec: ClassVar[WeightsFile]

    net: Any = None  # built on first use (ensure_built)

    def resolve_weights(self) -> None:
        # hashing the file is enough for cache keys and protocols: a fully cached re-score never builds the network
        if self.weights_sha256 is None:
            self._resolve()

    def ensure_built(self) -> None:
        if self.net is None:
            self.load()

    def check_weights(self) -> list[str]:
        if is_present(self.weights_spec, self.weights_arg):
            return []
        if self.weights_arg is not None:
            return [f"{self.weights_arg}: weights file for '{self.weights_spec.name}' does not exist"]
        return [missing_message(self.weights_spec)]

    def _resolve(self) -> Path:
        r = resolve(self.weights_spec, self.weights_arg)
        self.weights_sha256 = r.sha256
        return r.path

    def published_weights_sha256(self) -> str | None:
        return self.weights_spec.sha256

    def required_weights(self) -> WeightsFile:
        return self.weights_spec

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["weights_file"] = self.weights_spec.name
        return d


class InceptionCompat(_InceptionBase):
    """torch-fidelity's inception-v3-compat (the original TF FID network and resize), called directly."""

    name = "inception-v3-compat"
    layers: tuple[str, ...] = ("pool", "logits")
    logits_layer = "logits"
    #: torch-fidelity's and TF FID's names of the same layers
    layer_aliases = {"2048": "pool", "pool_3": "pool", "logits_unbiased": "logits"}
    weights_spec = INCEPTION_PTH
    weights_files = (INCEPTION_PTH,)
    _features = ("2048", "logits_unbiased")

    def _build(self, path: Path) -> torch.nn.Module:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        # torch-fidelity's own loader uses weights_only=False; we load the state dict safely ourselves and hand
        # it over through its documented path argument only after our own check (see _safe_torch_load).
        with _safe_torch_load():
            return FeatureExtractorInceptionV3(self.name, list(self._features), feature_extractor_weights_path=str(path))

    supports_fast_inference = True

    def load(self) -> None:
        net = self._build(self._resolve()).eval()
        if self.inference == "fast":
            net = fold_batchnorm_channels_last(net)
        self.net = net.to(self.device)

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated)", "resize": "299x299 bilinear, TF1-compatible (torch_fidelity."
                "interpolate_compat_tensorflow), no antialias", "normalize": "(x-128)/128", "dtype": "float32",
                "reference": "torch-fidelity 0.4.0 FeatureExtractorInceptionV3"}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return match_channels(images, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.inference == "fast":
            pool, logits = _tf_forward_separable_resize(self.net, x)
        else:
            pool, logits = self.net(x)
        return {"pool": pool, "logits": logits}


class InceptionTMAntialias(InceptionCompat):
    """torchmetrics>=1.8 default FID network: torch-fidelity's weights, torch bilinear resize with antialias."""

    name = "inception-v3-tm-antialias"

    def _build(self, path: Path) -> torch.nn.Module:
        from torchmetrics.image.fid import NoTrainInceptionV3

        with _safe_torch_load():
            return NoTrainInceptionV3(self.name, list(self._features), feature_extractor_weights_path=str(path), antialias=True)

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated)", "resize": "299x299 torch bilinear align_corners=False antialias=True",
                "normalize": "(x-128)/128", "dtype": "float32", "reference": "torchmetrics 1.9 NoTrainInceptionV3(antialias=True)"}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pool, logits = self.net._torch_fidelity_forward(x)  # type: ignore[operator]
        return {"pool": pool.reshape(x.shape[0], -1), "logits": logits.reshape(x.shape[0], -1)}


#: ADM's ``mixed_6/conv`` in torch-fidelity's module names. The TF graph names its mixed blocks ``mixed``, ``mixed_1``
#: ... ``mixed_10`` (= Mixed_5b, 5c, 5d, 6a, 6b, 6c, 6d, 6e, 7a, 7b, 7c), so ``mixed_6`` is Mixed_6d, and its ``conv``
#: scope is the block's first convolution, the 1x1 branch, whose scope output follows BatchNorm and ReLU as
#: torch-fidelity's BasicConv2d does. tests/test_adm.py checks the mapping with a hook on the network.
ADM_SPATIAL_MODULE = "Mixed_6d.branch1x1"
#: evaluator.py keeps ``spatial[..., :7]``: 17 x 17 x 7 = 2023 features, flattened in TF's NHWC order
ADM_SPATIAL_CHANNELS = 7


class InceptionADM(InceptionCompat):
    """The network of OpenAI's guided-diffusion evaluator (ADM), which class-conditional ImageNet papers report.

    evaluator.py feeds float images in [0, 255] to the 2015 TF Inception graph at ``ExpandDims:0``: the graph's own
    TF1 bilinear resize to 299 and (x-128)/128, i.e. exactly torch-fidelity's inception-v3-compat pipeline (same
    weights), whose pool and unbiased logits it reads (``pool_3``, and ``softmax/logits/MatMul``'s weight without
    its bias, for IS). sFID adds ``spatial``: the first 7 channels of ``mixed_6/conv`` (ADM_SPATIAL_MODULE), in NHWC
    order so that a reference batch's stored ``mu_s``/``sigma_s`` line up feature by feature.
    ``stored_statistics``: which arrays of an ADM reference batch hold each layer's Gaussian fit (the evaluator
    uses them instead of recomputing from the batch's images)."""

    name = "inception-v3-adm"
    layers = ("pool", "logits", "spatial")
    layer_aliases = {**InceptionCompat.layer_aliases, "mixed_6/conv": "spatial"}
    stored_statistics = {"pool": ("mu", "sigma"), "spatial": ("mu_s", "sigma_s")}
    _spatial: torch.Tensor | None = None

    def _build(self, path: Path) -> torch.nn.Module:
        net = super()._build(path)
        net.get_submodule(ADM_SPATIAL_MODULE).register_forward_hook(self._keep_spatial)
        return net

    def _keep_spatial(self, module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self._spatial = output

    def preprocessing(self) -> dict[str, Any]:
        return {**super().preprocessing(), "spatial": f"{ADM_SPATIAL_MODULE} (ADM mixed_6/conv) channels "
                f":{ADM_SPATIAL_CHANNELS}, NHWC-flattened", "reference": "guided-diffusion evaluations/evaluator.py "
                "(TF Inception 2015-12-05) on torch-fidelity 0.4.0 FeatureExtractorInceptionV3"}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(x)
        spatial, self._spatial = self._spatial, None
        assert spatial is not None, f"the {ADM_SPATIAL_MODULE} hook did not run"
        out["spatial"] = spatial[:, :ADM_SPATIAL_CHANNELS].permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return out


class _CleanFIDBase(_InceptionBase):
    """clean-fid's pipelines: its resizer per image (HWC numpy, as its ResizeDataset does), then its network."""

    mode: ClassVar[str]

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        from cleanfid.resize import build_resizer

        fn = build_resizer(self.mode)
        out = []
        for img in match_channels(images, 3).permute(0, 2, 3, 1).numpy():
            r = fn(img)
            # clean-fid's ResizeDataset: ToTensor()*255 for uint8 output, ToTensor() (no scaling) for float32
            t = torch.from_numpy(np.ascontiguousarray(r)).permute(2, 0, 1)
            out.append(t.float() if r.dtype == np.uint8 else t)
        return torch.stack(out)


class InceptionCleanFID(_CleanFIDBase):
    """clean-fid mode 'clean' with the StyleGAN2-ADA TorchScript Inception, loaded from our resolved path."""

    name = "inception-v3-clean"
    weights_spec = INCEPTION_TORCHSCRIPT
    weights_files = (INCEPTION_TORCHSCRIPT,)
    mode = "clean"
    resize_inside = False

    def load(self) -> None:
        path = self._resolve()
        self.net = _clean_fid_torchscript(path, resize_inside=self.resize_inside).to(self.device)

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated)", "resize": "cleanfid.resize.build_resizer('clean'): PIL bicubic "
                "per channel on float32 to 299x299, clip [0,255], not quantized", "normalize": "(x-128)/128",
                "dtype": "float32", "reference": "clean-fid 0.1.35 mode=clean"}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pool": self.net(x)}


class InceptionLegacyTF(InceptionCleanFID):
    """clean-fid mode 'legacy_tensorflow': the TorchScript file's own resize emulating TF1."""

    name = "inception-v3-legacy-tf"
    mode = "legacy_tensorflow"
    resize_inside = True

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated)", "resize": "inside the TorchScript file (TF1 bilinear emulation)",
                "normalize": "inside the TorchScript file", "dtype": "float32", "reference": "clean-fid 0.1.35 mode=legacy_tensorflow"}


class InceptionLegacyPytorch(_CleanFIDBase):
    """pytorch-fid's FID Inception as clean-fid's 'legacy_pytorch' mode runs it (resize outside, then x/255)."""

    name = "inception-v3-legacy-pytorch"
    weights_spec = INCEPTION_PTH
    weights_files = (INCEPTION_PTH,)
    mode = "legacy_pytorch"

    def load(self) -> None:
        import cleanfid.inception_pytorch as ip

        path = self._resolve()
        # clean-fid builds the network and fetches weights by URL in one function (fid_inception_v3); we swap only
        # the fetch for a safe load of our verified file, for the duration of the call.
        orig = ip.load_state_dict_from_url
        ip.load_state_dict_from_url = lambda *a, **k: torch.load(path, map_location="cpu", weights_only=True)
        try:
            self.net = ip.InceptionV3(output_blocks=[3], resize_input=False).eval().to(self.device)
        finally:
            ip.load_state_dict_from_url = orig

    def preprocessing(self) -> dict[str, Any]:
        return {"input": "uint8 RGB (grayscale repeated)", "resize": "cleanfid.resize.build_resizer('legacy_pytorch'): torch "
                "bilinear align_corners=False on float32 to 299x299, clip, not quantized", "normalize": "x/255 then 2x-1",
                "dtype": "float32", "reference": "clean-fid 0.1.35 mode=legacy_pytorch (pytorch-fid network)"}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pool": self.net(x / 255)[0].squeeze(-1).squeeze(-1)}


@torch.no_grad()
def fold_batchnorm_channels_last(net: torch.nn.Module) -> torch.nn.Module:
    """The library's own network, made ~1.7x faster on CPU without changing what it computes.

    torch-fidelity's (and torchmetrics') ``BasicConv2d`` is conv (no bias) -> BatchNorm (eval) -> ReLU. In eval mode
    the BatchNorm is an affine map per channel, so it folds exactly into the conv: w' = w * g / sqrt(v + eps),
    b' = beta - mean * g / sqrt(v + eps). With the weights in channels_last layout oneDNN picks its NHWC kernels,
    the main speed-up on CPU (cuDNN prefers NHWC too). The blocks and heads stay the library's; for
    inception-v3-compat the TF1 resize runs as two matrix products (:func:`tf1_bilinear_matrix`).
    Outputs differ from the unfolded network only by float32 round-off (~5e-7 relative, asserted against
    torch-fidelity in tests/test_inception_fast.py); the network must be in eval mode. Opt-in (``inference: fast``):
    KID on small sets amplifies that round-off to ~1e-5 relative, above the 1e-6 parity genbench guarantees by default.
    """
    for block in net.modules():
        conv, bn = getattr(block, "conv", None), getattr(block, "bn", None)
        if not (isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)) or conv.bias is not None:
            continue
        assert bn.running_var is not None and bn.running_mean is not None and not bn.training
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
        conv.bias = torch.nn.Parameter(bn.bias - bn.running_mean * scale, requires_grad=False)
        block.bn = torch.nn.Identity()
    return net.to(memory_format=torch.channels_last)


#: torch-fidelity FeatureExtractorInceptionV3.forward's blocks between the resize and the 2048-d pool, in order
_TF_BLOCKS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
              "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
              "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool")


def tf1_bilinear_matrix(n_in: int, n_out: int = 299) -> torch.Tensor:
    """(n_out, n_in) float64 matrix of torch-fidelity's TF1 bilinear resize along one axis (align_corners=False).

    Source positions and weights are computed exactly as ``interpolate_bilinear_2d_like_tensorflow1x``'s
    ``resample_manually`` does, in float32 (so floor() lands on the same pixels); only the weighted sums move
    into a matrix product, ~15x faster than its four gathers on CPU and equal to float32 round-off.
    """
    grid = torch.arange(0, n_out, 1, dtype=torch.float32) * torch.tensor(n_in / n_out, dtype=torch.float32)
    lo = grid.long()
    hi = (lo + 1).clamp_max(n_in - 1)
    frac = (grid - lo.float()).double()
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    m.index_put_((rows, lo), 1 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)
    return m


def _tf_forward_separable_resize(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torch-fidelity's forward for ("2048", "logits_unbiased") with the TF1 resize as two matrix products and
    NHWC activations; tests/test_inception_fast.py holds the features equal to torch-fidelity's own forward."""
    mh = tf1_bilinear_matrix(x.shape[2]).to(x.device)
    mw = tf1_bilinear_matrix(x.shape[3]).to(x.device)
    y = (mh @ x.double() @ mw.T).float()
    y = ((y - 128) / 128).contiguous(memory_format=torch.channels_last)
    for name in _TF_BLOCKS:
        y = getattr(net, name)(y)
    pool = torch.flatten(y, 1)
    fc: torch.nn.Linear = net.fc  # type: ignore[assignment]
    return pool, pool.mm(fc.weight.T)


def _clean_fid_torchscript(path: Path, resize_inside: bool) -> torch.nn.Module:
    """clean-fid's InceptionV3W wrapper (its forward, unchanged) around a TorchScript file at ``path``.

    InceptionV3W's constructor joins a folder with a fixed file name and downloads to /tmp; we build the same
    object without its constructor so any resolved path works and nothing is written outside our cache.
    """
    from cleanfid.inception_torchscript import InceptionV3W

    m = InceptionV3W.__new__(InceptionV3W)
    torch.nn.Module.__init__(m)
    m.base = torch.jit.load(str(path), map_location="cpu").eval()
    m.layers = m.base.layers
    m.resize_inside = resize_inside
    return m.eval()


@contextlib.contextmanager
def _safe_torch_load() -> Iterator[None]:
    """Force ``weights_only=True`` for third-party loaders that pass ``weights_only=False`` (torch-fidelity 0.4)."""
    orig = torch.load

    def safe(*args: Any, **kwargs: Any) -> Any:
        kwargs["weights_only"] = True
        kwargs.setdefault("map_location", "cpu")
        return orig(*args, **kwargs)

    torch.load = safe  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.load = orig  # type: ignore[assignment]
