"""Wide & Deep (Cheng et al. 2016): P = sigmoid(w_wide^T [x, phi(x)] + w_deep^T a + b) (eq. 3).
The wide part's cross-product transformations phi(x) (eq. 1) are binary crosses, as the paper's
"user installed app x impression app": every topic (provider) in the user's history x the
candidate's topic (provider), and each profile/context field x the candidate's topic."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import DeepTower, FieldEmbedder, FirstOrder, OffsetEmbedding


def presence(indices: torch.Tensor, mask: torch.Tensor, size: int) -> torch.Tensor:
    """Binary bag (B, size) of the valid indices (B, L); index 0 (padding) stays 0."""
    out = torch.zeros(indices.shape[0], size, device=indices.device)
    out.scatter_(1, indices * mask, 1.0)
    out[:, 0] = 0.0
    return out


class WideDeep(RankingModel):
    """Wide (linear + cross products) and deep (embedding & MLP) parts trained jointly."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, hidden: Sequence[int] = (128, 64)):
        super().__init__(spec)
        self.linear = FirstOrder(spec)
        t, p = spec.n_topics + 1, spec.n_providers + 1
        self.topic_cross = nn.Parameter(torch.zeros(t, t))
        self.provider_cross = nn.Parameter(torch.zeros(p, p))
        self.profile_topic_cross = OffsetEmbedding(spec.user_vocab[1:], t, init_std=0.0)
        self.deep = DeepTower(FieldEmbedder(spec, dim), hidden)

    def wide(self, batch: FeatureBatch) -> torch.Tensor:
        """Linear part + cross-product weights, (B, N)."""
        mask = batch.history_mask.long()
        hist_topic, hist_prov = batch.history_fields[..., 1], batch.history_fields[..., 2]
        cand_topic, cand_prov = batch.item_fields[..., 1], batch.item_fields[..., 2]
        topic_w = presence(hist_topic, mask, self.topic_cross.shape[0]) @ self.topic_cross
        topic_w = topic_w + self.profile_topic_cross(batch.user_fields[:, 1:]).sum(1)
        prov_w = presence(hist_prov, mask, self.provider_cross.shape[0]) @ self.provider_cross
        return (self.linear(batch) + topic_w.gather(1, cand_topic)
                + prov_w.gather(1, cand_prov))

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        return self.wide(batch) + self.deep(batch)
