"""AutoRec (Sedhain et al. 2015), purely collaborative (user and item ids only):
h(r; theta) = f(W g(V r + mu) + b) (eq. 2) with g = sigmoid and f = identity (a click logit);
only observed entries (the shown items) enter the loss, the masked objective of eq. 2 (the L2
term is the trainer's weight_decay).

* U-AutoRec (`variant='user'`, default): r = the user's vector over item buckets, observed
  = the clicked items (the history, 1) and the shown items (0; they add nothing to V r), so
  V r = sum of V's columns over the history's item ids; the output unit of candidate i is
  W_i . h + b_i.
* I-AutoRec (`variant='item'`): r = the item's vector over users, the users who clicked it in
  the training logs (stored by `prepare`); the output unit of user u is W_u . h + b_u.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel

VARIANTS = ("user", "item")


class AutoRec(RankingModel):
    """Single hidden layer autoencoder of the rating vector, one output unit per id."""

    def __init__(self, spec: FeatureSpec, hidden: int = 100, variant: str = "user"):
        super().__init__(spec)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        n_users, n_items = spec.user_vocab[0], spec.item_vocab[0]
        n_in, n_out = (n_items, n_items) if variant == "user" else (n_users, n_users)
        self.encoder = nn.Parameter(torch.randn(n_in, hidden) * 0.01)  # V (columns as rows)
        self.mu = nn.Parameter(torch.zeros(hidden))
        self.decoder = nn.Embedding(n_out, hidden)  # W (one row per output unit)
        self.decoder_bias = nn.Embedding(n_out, 1)
        nn.init.normal_(self.decoder.weight, std=0.01)
        nn.init.zeros_(self.decoder_bias.weight)
        # I-AutoRec's observed ratings: CSR over item buckets of the users who clicked them
        self.register_buffer("item_ptr", torch.zeros(n_items + 1, dtype=torch.long))
        self.register_buffer("item_users", torch.zeros(0, dtype=torch.long))

    def prepare(self, train: FeatureBatch, **fit_kwargs: Any) -> None:
        """I-AutoRec: store which users clicked each item bucket in the training split."""
        if self.variant != "item":
            return
        clicked = train.labels > 0
        items = train.item_fields[..., 0][clicked]
        users = train.user_fields[:, 0].unsqueeze(1).expand_as(clicked)[clicked]
        pairs = torch.unique(torch.stack([items, users], 1), dim=0)
        counts = torch.bincount(pairs[:, 0], minlength=self.item_ptr.numel() - 1)
        self.item_ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(self.item_ptr)
        self.item_users = pairs[:, 1].to(self.item_ptr.device)

    def _encode_items(self, items: torch.Tensor) -> torch.Tensor:
        """g(V r_i + mu) for item buckets (any shape) -> (..., hidden)."""
        flat = items.reshape(-1)
        start, stop = self.item_ptr[flat], self.item_ptr[flat + 1]
        lengths = stop - start
        offsets = torch.cat([lengths.new_zeros(1), lengths.cumsum(0)[:-1]])
        rows = torch.arange(int(lengths.sum()), device=flat.device)
        index = self.item_users[start.repeat_interleave(lengths) + rows
                                - offsets.repeat_interleave(lengths)]
        v_r = F.embedding_bag(index, self.encoder, offsets, mode="sum")
        return torch.sigmoid(v_r + self.mu).reshape(*items.shape, -1)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        items = batch.item_fields[..., 0]  # (B, N)
        if self.variant == "user":
            hist = batch.history_fields[..., 0]
            v_r = (self.encoder[hist] * batch.history_mask.unsqueeze(-1)).sum(1)
            h = torch.sigmoid(v_r + self.mu).unsqueeze(1)  # (B, 1, hidden)
            return (self.decoder(items) * h).sum(-1) + self.decoder_bias(items).squeeze(-1)
        users = batch.user_fields[:, :1]  # (B, 1)
        h = self._encode_items(items)  # (B, N, hidden)
        return (self.decoder(users) * h).sum(-1) + self.decoder_bias(users).squeeze(-1)
