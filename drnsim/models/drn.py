"""DRN's Q-network (Zheng et al., WWW 2018, sec. 4.3 and fig. 5), a dueling network (Wang et
al. 2016, eq. 9): Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a'), V from the state features (user +
context) only, A from state and action features (news + user-news); the mean runs over the
request's valid candidates."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP


class DRN(RankingModel):
    """Dueling Q-network; `value` and `advantage` are exposed for the DRN agent."""

    def __init__(self, spec: FeatureSpec, value_hidden: Sequence[int] = (128, 64),
                 advantage_hidden: Sequence[int] = (128, 64)):
        super().__init__(spec)
        self.value_net = MLP(spec.state_dim, value_hidden, 1)
        self.advantage_net = MLP([spec.state_dim, spec.action_dim], advantage_hidden, 1)

    def value(self, batch: FeatureBatch) -> torch.Tensor:
        """V(s), (B,)."""
        return self.value_net(batch.state).squeeze(-1)

    def advantage(self, batch: FeatureBatch) -> torch.Tensor:
        """A(s, a), (B, N). With every candidate valid, the state part of the first layer is
        computed once per request; otherwise only the valid (request, candidate) rows are
        computed and padded ones get 0 (a logged visit kept for replay holds its 10 shown
        items in N = 100 columns)."""
        mask = batch.candidate_mask
        if bool(mask.all()):
            return self.advantage_net(batch.state.unsqueeze(1), batch.action).squeeze(-1)
        rows, cols = mask.nonzero(as_tuple=True)
        valid = self.advantage_net(batch.state[rows], batch.action[rows, cols]).squeeze(-1)
        return valid.new_zeros(mask.shape).index_put((rows, cols), valid)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        adv = self.advantage(batch)
        mask = batch.candidate_mask.to(adv.dtype)
        mean = (adv * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1.0)
        return self.value(batch).unsqueeze(1) + adv - mean
