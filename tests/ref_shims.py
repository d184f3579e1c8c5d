"""Test-only shims that let the image-reward 1.5 package's own scoring code import beside transformers 5, so the
parity test runs the reference itself rather than a re-statement. Nothing here is used by genbench.

image-reward does not install with the project's pins (it pins timm==0.6.13; its package __init__ pulls in
accelerate, datasets, diffusers and OpenAI's clip for other scores). Install it for the parity test with
``pip install --no-deps --target DIR image-reward fairscale==0.4.13`` and put DIR on PYTHONPATH. Its BLIP text
encoder (``models/BLIP/med.py``) imports three helpers transformers 5 moved or removed and calls two
``PreTrainedModel`` methods transformers 5 dropped; they are restored here with transformers 4's definitions.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types


def image_reward_available() -> bool:
    return importlib.util.find_spec("ImageReward") is not None and importlib.util.find_spec("fairscale") is not None


def import_image_reward() -> types.ModuleType:
    """``ImageReward.ImageReward`` (the module with the ImageReward class), imported without the package __init__."""
    import torch
    import transformers.modeling_utils as mu
    import transformers.pytorch_utils as pu

    for n in ("apply_chunking_to_forward", "prune_linear_layer"):
        if not hasattr(mu, n):
            setattr(mu, n, getattr(pu, n))
    if not hasattr(mu, "find_pruneable_heads_and_indices"):
        mu.find_pruneable_heads_and_indices = lambda *a, **k: (_ for _ in ()).throw(NotImplementedError())
    sys.modules.setdefault("clip", types.ModuleType("clip"))  # only its AestheticScore/CLIPScore use OpenAI clip
    spec = importlib.util.find_spec("ImageReward")
    assert spec is not None and spec.submodule_search_locations
    root = list(spec.submodule_search_locations)[0]
    for name, path in (("ImageReward", root), ("ImageReward.models", os.path.join(root, "models"))):
        if name not in sys.modules or not hasattr(sys.modules[name], "__path__"):
            m = types.ModuleType(name)
            m.__path__ = [path]
            sys.modules[name] = m
    from ImageReward import ImageReward as ir_mod  # type: ignore[attr-defined]
    from ImageReward.models.BLIP import med

    def invert_attention_mask(self: torch.nn.Module, m: torch.Tensor) -> torch.Tensor:
        ext = m[:, None, :, :] if m.dim() == 3 else m[:, None, None, :]
        ext = ext.to(dtype=self.dtype)
        return (1.0 - ext) * torch.finfo(self.dtype).min

    def get_head_mask(self: torch.nn.Module, head_mask: object, num_hidden_layers: int, chunked: bool = False) -> list:
        assert head_mask is None
        return [None] * num_hidden_layers

    med.BertPreTrainedModel.init_weights = lambda self: self.apply(self._init_weights)
    med.BertPreTrainedModel.invert_attention_mask = invert_attention_mask
    med.BertPreTrainedModel.get_head_mask = get_head_mask
    return ir_mod
