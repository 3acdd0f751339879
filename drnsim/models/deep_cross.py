"""Deep & Cross Network (Wang et al. 2017): x_0 = [embeddings; dense], cross network
x_{l+1} = x_0 x_l^T w_l + b_l + x_l (eq. 3) next to a deep network, combined by a logistic
layer (eq. 5); `version=2` uses DCN-V2's cross layer x_0 * (W x_l + b) + x_l."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP, CrossLayer, FieldEmbedder


class DeepCross(RankingModel):
    """Parallel cross (`n_cross` layers) and deep towers over x_0."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, n_cross: int = 3,
                 hidden: Sequence[int] = (128, 64), version: int = 1):
        super().__init__(spec)
        if version not in (1, 2):
            raise ValueError(f"version must be 1 (DCN) or 2 (DCN-V2), got {version!r}")
        self.embed = FieldEmbedder(spec, dim)
        width = self.embed.n_fields * dim + spec.dense_dim
        self.cross = nn.ModuleList(CrossLayer(width, full=version == 2) for _ in range(n_cross))
        self.deep = MLP(width, hidden, out_dim=None)
        self.combine = nn.Linear(width + self.deep.out_dim, 1)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        x0 = torch.cat([self.embed.fields(batch).flatten(-2), batch.dense], -1)
        x = x0
        for layer in self.cross:
            x = layer(x0, x)
        return self.combine(torch.cat([x, self.deep(x0)], -1)).squeeze(-1)
