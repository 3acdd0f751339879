"""Deep Interest Network (Zhou et al. 2018): the user's interest for candidate A is
v_U(A) = sum_j a(e_j, v_A) e_j (eq. 3), a = the local activation unit on [e_j, v_A, e_j - v_A,
e_j * v_A] without softmax (padded positions 0), then an MLP with Dice (eq. 9). Optional
mini-batch aware L2 (eq. 4): lambda * sum over the ids j present in the batch of
||w_j||^2 / n_j, n_j = occurrences of j in the training split."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP, ActivationUnit, FieldEmbedder


class DIN(RankingModel):
    """Activation-unit pooling of the history per candidate, MLP over [user, interest,
    candidate, dense]."""

    score_chunk = 8  # (candidates x history/pairs x hidden) intermediates

    def __init__(self, spec: FeatureSpec, dim: int = 16, hidden: Sequence[int] = (200, 80),
                 attention_hidden: Sequence[int] = (64, 16), activation_name: str = "dice",
                 attention_activation: str = "prelu", l2_mini_batch: float = 0.0):
        super().__init__(spec)
        self.embed = FieldEmbedder(spec, dim)
        item_dim = spec.n_item_fields * dim
        self.attention = ActivationUnit(item_dim, attention_hidden, attention_activation)
        self.mlp = MLP([spec.n_user_fields * dim, item_dim, item_dim + spec.dense_dim], hidden, 1,
                       activation_name)
        self.l2_mini_batch = l2_mini_batch
        self.register_buffer("id_counts", torch.ones(self.embed.item.table.num_embeddings))

    def interest(self, batch: FeatureBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """v_U(A) (B, N, 3d) and the candidates' embeddings (B, N, 3d)."""
        hist = self.embed.history(batch).flatten(2)  # (B, L, 3d), once per request
        cand = self.embed.items(batch).flatten(2)  # (B, N, 3d)
        weights = self.attention(hist, cand, batch.history_mask)  # (B, N, L)
        return weights @ hist, cand

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        interest, cand = self.interest(batch)
        users = self.embed.users(batch).flatten(1).unsqueeze(1)
        return self.mlp(users, interest, torch.cat([cand, batch.dense], -1)).squeeze(-1)

    def prepare(self, train: FeatureBatch, **fit_kwargs: Any) -> None:
        """Count n_j of every item-table row for the mini-batch aware L2."""
        if self.l2_mini_batch > 0:
            rows = self._rows(train)
            counts = torch.bincount(rows, minlength=self.id_counts.numel())
            self.id_counts = counts.clamp_min(1).to(self.id_counts)

    def _rows(self, batch: FeatureBatch) -> torch.Tensor:
        table = self.embed.item
        return torch.cat([(batch.item_fields + table.offsets)[batch.candidate_mask].reshape(-1),
                          (batch.history_fields + table.offsets)[batch.history_mask].reshape(-1)])

    def forward_with_aux(self, batch: FeatureBatch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch)
        if self.l2_mini_batch <= 0:
            return logits, logits.new_zeros(())
        rows = torch.unique(self._rows(batch))
        weights = self.embed.item.table.weight[rows]
        reg = (weights.pow(2).sum(-1) / self.id_counts[rows]).sum()
        return logits, self.l2_mini_batch * reg
