"""LPIPS networks (alex, vgg, squeeze) through the lpips package, with their torchvision trunk weights resolved by
:mod:`bench.weights` instead of torch hub's download-on-construct.

Why: ``lpips.LPIPS(net=...)`` calls ``torchvision.models.<net>(pretrained=True)``, which downloads into the torch
hub cache and fails offline with a message naming neither file nor URL. Here the package builds the network
with a random trunk (``pnet_rand=True``; its own v0.1 linear heads still load from the wheel), and the trunk's
``features`` are loaded from the torchvision file we resolved (``weights_only=True``). torchvision's file names
carry the first 8 hex digits of the file's sha256 (its own ``check_hash`` convention); that prefix is verified.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from bench.errors import ConfigError, WeightsError
from bench.weights import WeightsFile, resolve, sha256_file


def _tv(name: str, filename: str, arch: str, also: tuple[str, ...] = ()) -> WeightsFile:
    return WeightsFile(name=f"torchvision-{arch}", filename=filename, url=f"https://download.pytorch.org/models/{filename}",
                       sha256=None, sha256_prefix=Path(filename).stem.rsplit("-", 1)[-1],
                       used_by=" and ".join((f"LPIPS-{name} trunk (lpips 0.1.4)", *also)), backbones=(f"lpips-{name}",),
                       library_paths=(f"torchvision / lpips: $TORCH_HOME/hub/checkpoints/{filename}",))


#: lpips net name -> (torchvision constructor, weights file)
NETS: dict[str, tuple[str, WeightsFile]] = {
    "alex": ("alexnet", _tv("alex", "alexnet-owt-7be5be79.pth", "alexnet")),
    "vgg": ("vgg16", _tv("vgg", "vgg16-397923af.pth", "vgg16",
                         ("torch-fidelity's default precision/recall network (vgg16-fidelity)",))),
    "squeeze": ("squeezenet1_1", _tv("squeeze", "squeezenet1_1-b8a52dc0.pth", "squeezenet1_1")),
}
WEIGHTS_FILES: tuple[WeightsFile, ...] = tuple(w for _, w in NETS.values())


def sha256_prefix(spec: WeightsFile) -> str:
    """torchvision's convention: ``name-<first 8 hex of sha256>.pth``."""
    return Path(spec.filename).stem.rsplit("-", 1)[-1]


def load_lpips(net: str = "alex", weights: str | None = None, device: str | torch.device = "cpu") -> torch.nn.Module:
    """``lpips.LPIPS(net=net)`` in eval mode with the trunk loaded from a resolved, hash-checked torchvision file."""
    import lpips
    import torchvision

    if net not in NETS:
        from bench.errors import did_you_mean

        raise ConfigError(f"unknown LPIPS net '{net}'{did_you_mean(net, NETS)}")
    ctor, spec = NETS[net]
    r = resolve(spec, weights)  # checks the published sha256 prefix for cached and downloaded files
    sd = torch.load(r.path, map_location="cpu", weights_only=True)
    trunk = getattr(torchvision.models, ctor)(weights=None).features
    try:  # only the convolutional trunk is used by LPIPS; the classifier head may be absent
        trunk.load_state_dict({k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")})
    except (RuntimeError, AttributeError) as exc:
        raise WeightsError(f"{r.path}: not a torchvision {ctor} state dict ({str(exc).splitlines()[0][:200]})") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation note about `pretrained=False` inside lpips
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    for sl in (getattr(model.net, f"slice{i}") for i in range(1, model.net.N_slices + 1)):
        for idx, module in sl.named_children():
            module.load_state_dict(trunk[int(idx)].state_dict())
    model.weights_sha256 = sha256_file(r.path)  # type: ignore[assignment]
    return model.eval().to(device)
