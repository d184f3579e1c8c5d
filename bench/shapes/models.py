"""The shapes zoo's networks: a contrastive dual encoder ("shapes CLIP"), a captioner and an attribute reader.

They are deliberately small (tens of thousands of parameters, trained in about a minute on one CPU core by
``scripts/shapes/*.py``) because their job is to make every vision-language metric runnable offline with a known
quality ordering, not to be good models. Inputs are uint8 NCHW images (any size: resized to 32x32 with torch
bilinear, antialias) and raw caption strings (tokenised by :func:`bench.shapes.world.encode`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.images import match_channels
from bench.shapes import world

EMBED_DIM = 64


def to_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, C, H, W] → float [N, 3, 32, 32] in [0, 1] (bilinear, antialias, when the size differs)."""
    x = match_channels(images, 3).float() / 255.0
    if x.shape[-2:] != (world.SIZE, world.SIZE):
        x = F.interpolate(x, size=(world.SIZE, world.SIZE), mode="bilinear", align_corners=False, antialias=True)
    return x


def pad_tokens(texts: list[str], bos: bool = False, eos: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [N, T] (padded with <pad>) and lengths [N] (at least 1: an empty text is one <unk>)."""
    seqs = [([world.BOS] if bos else []) + (world.encode(t) or [world.UNK]) + ([world.EOS] if eos else []) for t in texts]
    lens = torch.tensor([len(s) for s in seqs])
    out = torch.full((len(seqs), int(lens.max()) if seqs else 1), world.PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out, lens


class ConvTower(nn.Module):
    """32x32 RGB → a ``dim``-d vector (three conv blocks, global structure kept by a 4x4 flatten)."""

    def __init__(self, dim: int = 128, width: int = 32) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, width, 3, padding=1)
        self.c2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.c3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * 16, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.max_pool2d(F.relu(self.c1(x)), 2)  # 16
        h = F.max_pool2d(F.relu(self.c2(h)), 2)  # 8
        h = F.max_pool2d(F.relu(self.c3(h)), 2)  # 4
        return F.relu(self.fc(h.flatten(1)))


class TextTower(nn.Module):
    """Token ids → a vector: word embeddings, one GRU, the last valid hidden state (word order matters:
    'a red circle and a blue square' differs from 'a blue circle and a red square')."""

    def __init__(self, dim: int = EMBED_DIM, hidden: int = 128, emb: int = 48) -> None:
        super().__init__()
        self.emb = nn.Embedding(len(world.VOCAB), emb, padding_idx=world.PAD)
        self.gru = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, dim)

    def forward(self, ids: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lens.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)
        return self.out(torch.cat([h[0], h[1]], dim=1))


class DualEncoder(nn.Module):
    """The shapes "CLIP": image and text towers into one 64-d space, trained with the symmetric InfoNCE loss."""

    def __init__(self) -> None:
        super().__init__()
        self.image_tower = ConvTower(128)
        self.image_proj = nn.Linear(128, EMBED_DIM)
        self.text_tower = TextTower(EMBED_DIM)
        self.logit_scale = nn.Parameter(torch.tensor(2.659))  # log(1/0.07), as CLIP

    def image_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(128-d penultimate features, 64-d embedding, unnormalised) for preprocessed images."""
        h = self.image_tower(x)
        return h, self.image_proj(h)

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_features(to_input(images))[1]

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        ids, lens = pad_tokens(texts)
        return self.text_tower(ids, lens)


class Captioner(nn.Module):
    """Image → caption: conv encoder initialises a GRU decoder; greedy decoding (deterministic)."""

    max_len = 32

    def __init__(self, hidden: int = 192, emb: int = 48) -> None:
        super().__init__()
        self.enc = ConvTower(hidden)
        self.emb = nn.Embedding(len(world.VOCAB), emb, padding_idx=world.PAD)
        self.gru = nn.GRU(emb + hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, len(world.VOCAB))

    def logits(self, x: torch.Tensor, ids_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: x preprocessed images, ids_in [N, T] starting with <bos>; logits [N, T, V]."""
        ctx = self.enc(x)
        e = torch.cat([self.emb(ids_in), ctx[:, None, :].expand(-1, ids_in.shape[1], -1)], dim=2)
        h, _ = self.gru(e, ctx[None].contiguous())
        return self.out(h)  # type: ignore[no-any-return]

    @torch.no_grad()
    def caption(self, images: torch.Tensor) -> list[str]:
        x = to_input(images)
        ctx = self.enc(x)
        h = ctx[None].contiguous()
        tok = torch.full((x.shape[0], 1), world.BOS, dtype=torch.long)
        out: list[list[int]] = [[] for _ in range(x.shape[0])]
        done = torch.zeros(x.shape[0], dtype=torch.bool)
        for _ in range(self.max_len):
            e = torch.cat([self.emb(tok), ctx[:, None, :]], dim=2)
            o, h = self.gru(e, h)
            nxt = self.out(o[:, -1]).argmax(1)
            for i, t in enumerate(nxt.tolist()):
                if not done[i]:
                    out[i].append(t)
            done |= nxt == world.EOS
            if bool(done.all()):
                break
            tok = nxt[:, None]
        return [world.decode(s) or "a shape" for s in out]


class AttributeNet(nn.Module):
    """Reads a scene back: count (3-way softmax), colours, shapes and occupied cells (independent sigmoids).

    Used by the text-to-image attribute-accuracy metric: a generated image is correct on an attribute when the set
    read back equals the set the prompt asked for.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tower = ConvTower(128)
        self.head = nn.Linear(128, world.N_ATTR)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.tower(x))  # type: ignore[no-any-return]

    @torch.no_grad()
    def read(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """count [N] (1-3), colours [N, 6], shapes [N, 3], cells [N, 9] (bool presence)."""
        z = self(to_input(images))
        return {"count": z[:, :3].argmax(1) + 1, "colours": z[:, 3:9] > 0, "shapes": z[:, 9:12] > 0, "cells": z[:, 12:] > 0}


class TextToImage(nn.Module):
    """Prompt → 32x32 RGB image: a conditional VAE whose decoder reads the prompt through cross-attention.

    Text: word embeddings and a bidirectional GRU give one state per token (trained jointly with the decoder; no
    parsing, no shared weights with the shapes-clip scorer). Image: each cell of a learned 8x8 query grid attends
    over the token states (so 'red' binds to the place its phrase names), a linear map of the whole prompt's summary
    gives a second 8x8 layout map (it learns where things are much faster than attention alone), the latent ``z`` (``latent_dim``,
    standard normal at sampling time) is added everywhere, and transposed convolutions upsample 8 → 16 → 32. The
    posterior encoder ``q(z | image, prompt)`` is used only in training; what ``z`` learns is what the prompt does
    not say (each object's sub-cell jitter), so samples of one prompt differ the way real scenes of it do.
    """

    latent_dim = 8
    grid = 8

    def __init__(self, width: int = 48, hidden: int = 64, emb: int = 32, layout: int = 16) -> None:
        super().__init__()
        self.width, self.layout_ch = width, layout
        self.emb = nn.Embedding(len(world.VOCAB), emb, padding_idx=world.PAD)
        self.gru = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
        self.key = nn.Linear(2 * hidden, width)
        self.value = nn.Linear(2 * hidden, width)
        self.queries = nn.Parameter(torch.randn(self.grid * self.grid, width) * 0.5)
        self.z_in = nn.Linear(self.latent_dim, width)
        self.layout = nn.Linear(2 * hidden, layout * self.grid * self.grid)
        self.d8 = nn.Conv2d(2 * width + layout, 2 * width, 3, padding=1)
        self.up16 = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)
        self.d16 = nn.Conv2d(width, width, 3, padding=1)
        self.up32 = nn.ConvTranspose2d(width, 3, 4, stride=2, padding=1)
        # posterior q(z | x, text): training only
        self.e1 = nn.Conv2d(3, 32, 4, stride=2, padding=1)  # 16
        self.e2 = nn.Conv2d(32, 48, 4, stride=2, padding=1)  # 8
        self.e3 = nn.Conv2d(48, 48, 4, stride=2, padding=1)  # 4
        self.post = nn.Linear(48 * 16 + 2 * hidden, 2 * self.latent_dim)

    def encode_text(self, ids: torch.Tensor, lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(token states [N, T, 2H], padding mask [N, T], summary [N, 2H])."""
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lens.cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.gru(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        mask = torch.arange(ids.shape[1])[None, :] < lens[:, None]
        return states, mask, torch.cat([h[0], h[1]], dim=1)

    def decode(self, states: torch.Tensor, mask: torch.Tensor, summary: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Float images in [0, 1], [N, 3, 32, 32]."""
        k, v = self.key(states), self.value(states)
        att = torch.einsum("qc,ntc->nqt", self.queries, k) / self.width ** 0.5
        att = att.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
        ctx = torch.einsum("nqt,ntc->nqc", att, v)  # [N, 64, C]
        n = z.shape[0]
        ctx = ctx.transpose(1, 2).reshape(n, self.width, self.grid, self.grid)
        zz = self.z_in(z)[:, :, None, None].expand(-1, -1, self.grid, self.grid)
        lay = self.layout(summary).reshape(n, self.layout_ch, self.grid, self.grid)
        h = F.relu(self.d8(torch.cat([ctx, lay, zz], 1)))
        h = F.relu(self.d16(F.relu(self.up16(h))))
        return torch.sigmoid(self.up32(h))

    def posterior(self, x: torch.Tensor, summary: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.e3(F.relu(self.e2(F.relu(self.e1(x))))))
        mu, logvar = self.post(torch.cat([h.flatten(1), summary], 1)).chunk(2, dim=1)
        return mu, logvar

    @torch.no_grad()
    def generate(self, prompts: list[str], z: torch.Tensor) -> torch.Tensor:
        """uint8 [N, 3, 32, 32]: one image per (prompt, latent row)."""
        ids, lens = pad_tokens(prompts)
        states, mask, summary = self.encode_text(ids, lens)
        return torch.round(self.decode(states, mask, summary, z.float()) * 255).to(torch.uint8)
