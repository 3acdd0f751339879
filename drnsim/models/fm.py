"""Factorization machine (Rendle 2010, eq. 1): y = w0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j>,
the pairwise term computed as 0.5 * ((sum v)^2 - sum v^2) in O(F k) (eq. 5)."""

from __future__ import annotations

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import FieldEmbedder, FirstOrder, fm_interaction


class FM(RankingModel):
    """Second-order FM over the field vectors of `FieldEmbedder` (dense group = one field)."""

    def __init__(self, spec: FeatureSpec, dim: int = 16):
        super().__init__(spec)
        self.linear = FirstOrder(spec)
        self.embed = FieldEmbedder(spec, dim)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        return self.linear(batch) + fm_interaction(self.embed.fields(batch))
