"""Deep Crossing (Shan et al. 2016): embedding, stacking layer (concatenation of the field
embeddings and the dense features), residual units X^O = ReLU(F(X^I) + X^I) with
F = W_1 ReLU(W_0 X^I + b_0) + b_1 (sec. 3, eq. 1), scoring layer."""

from __future__ import annotations

import torch
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import FieldEmbedder


class ResidualUnit(nn.Module):
    """X^O = ReLU(W_1 ReLU(W_0 X + b_0) + b_1 + X)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.inner(x) + x)


class DeepCrossing(RankingModel):
    """Stacking layer -> `n_units` residual units -> logit."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, n_units: int = 3,
                 unit_hidden: int = 64):
        super().__init__(spec)
        self.embed = FieldEmbedder(spec, dim)
        width = self.embed.n_fields * dim + spec.dense_dim
        self.units = nn.Sequential(*(ResidualUnit(width, unit_hidden) for _ in range(n_units)))
        self.score_layer = nn.Linear(width, 1)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        stacked = torch.cat([self.embed.fields(batch).flatten(-2), batch.dense], -1)
        return self.score_layer(self.units(stacked)).squeeze(-1)
