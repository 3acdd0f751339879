"""Neural factorization machine (He & Chua 2017): y = w0 + sum_i w_i x_i + f(x) (eq. 2), with
f an MLP over the bi-interaction pooling f_BI = 0.5 * ((sum v)^2 - sum v^2), kept as a k-vector
(eq. 4)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP, FieldEmbedder, FirstOrder, fm_interaction


class NFM(RankingModel):
    """Linear part + MLP(batch-normalised bi-interaction vector)."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, hidden: Sequence[int] = (64,)):
        super().__init__(spec)
        self.linear = FirstOrder(spec)
        self.embed = FieldEmbedder(spec, dim)
        self.norm = nn.BatchNorm1d(dim)
        self.mlp = MLP(dim, hidden, 1)

    def bi_interaction(self, batch: FeatureBatch) -> torch.Tensor:
        """f_BI (B, N, k)."""
        return fm_interaction(self.embed.fields(batch), reduce_dim=False)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        bi = self.bi_interaction(batch)
        bi = self.norm(bi.reshape(-1, bi.shape[-1])).reshape(bi.shape)
        return self.linear(batch) + self.mlp(bi).squeeze(-1)
