"""Long prompts: how many texts exceed a text encoder's context, and what was done about it.

CLIP text encoders read 77 tokens and silently drop the rest (torchmetrics#2000, #2883: CLIPScore 26 → 16 on long
captions). Every CLIP-based score here counts the prompts over its encoder's context in that encoder's own tokens
(start/end included) and reports it in the row's extras; ``long_prompts: error`` refuses them instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.errors import InputError


@dataclass
class LongPrompts:
    """How many prompts exceed the text encoder's context (in its own tokens, start/end included) and what was done."""

    context: int
    over: list[int] = field(default_factory=list)  #: indices of the prompts longer than ``context``
    longest: int = 0

    def extras(self) -> dict[str, Any]:
        return {"context_length": self.context, "prompts_over_context": len(self.over),
                "longest_prompt_tokens": self.longest,
                "long_prompts": (f"truncated to the encoder's first {self.context} tokens" if self.over
                                 else "none over the context")}


def check_long_prompts(counts: list[int], context: int, policy: str, what: str) -> LongPrompts:
    """Count prompts over ``context`` tokens; ``policy == "error"`` refuses them (one line naming the first)."""
    over = [i for i, c in enumerate(counts) if c > context]
    if over and policy == "error":
        i = over[0]
        raise InputError(f"{what}: {len(over)} prompt(s) exceed the text encoder's {context} tokens (prompt {i} has "
                         f"{counts[i]}); shorten them, name a longer-context model, or set long_prompts: truncate")
    return LongPrompts(context, over, max(counts, default=0))


def backbone_long_prompts(backbone: Any, texts: list[str], policy: str, what: str) -> dict[str, Any]:
    """The long-prompt extras of a CLIP-score row whose text encoder is the task's backbone ({} when the backbone
    cannot count its tokens)."""
    context = getattr(backbone, "text_context", None)
    counts = backbone.token_counts(texts) if context is not None else None
    if counts is None or context is None:
        return {}
    return check_long_prompts(counts, int(context), policy, what).extras()
