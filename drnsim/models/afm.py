"""Attentional factorization machine (Xiao et al. 2017): y = w0 + sum_i w_i x_i +
p^T sum_{i<j} a_ij (v_i * v_j) (eq. 5), a_ij from an attention net with softmax (eq. 4)."""

from __future__ import annotations

import torch
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import AttentionPooling, FieldEmbedder, FirstOrder, pairwise_products


class AFM(RankingModel):
    """Attention-weighted pairwise interactions."""

    score_chunk = 8  # (candidates x history/pairs x hidden) intermediates

    def __init__(self, spec: FeatureSpec, dim: int = 16, attention_dim: int = 16):
        super().__init__(spec)
        self.linear = FirstOrder(spec)
        self.embed = FieldEmbedder(spec, dim)
        self.attention = AttentionPooling(dim, attention_dim)
        self.p = nn.Linear(dim, 1, bias=False)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        pooled = self.attention(pairwise_products(self.embed.fields(batch)))
        return self.linear(batch) + self.p(pooled).squeeze(-1)
