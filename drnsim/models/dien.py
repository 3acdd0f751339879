"""Deep Interest Evolution Network (Zhou et al. 2019).

* Interest extractor: a GRU over the history embeddings (eqs. 1-4), run once per request.
* Auxiliary loss (eq. 6): h_t scored against the next clicked item e_{t+1} (positive) and a
  sampled item the user did not click (negative), sigma(h_t . e), averaged over valid
  positions; L = L_target + alpha L_aux (eq. 7). Skipped at inference.
* Interest evolving: attention a_t = softmax_t(h_t W e_a) over valid steps (eq. 9), then an
  AUGRU (eq. 12; AGRU and AIGRU by `gru_mode`) per candidate, whose input-side gates are
  computed once per request; the final state joins [user, candidate, dense] in an MLP,
  with the pooled history and its product with the candidate (`pooled_history`, default on)
  as in the authors' released code (mouna99/dien, model.py: the MLP input is [uid, item_eb,
  item_his_eb_sum, item_eb * item_his_eb_sum, final_state2]).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP, AttentionGRU, FieldEmbedder, masked_pool, masked_softmax


def auxiliary_loss(states: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,
                   valid: torch.Tensor, negative_valid: torch.Tensor | None = None) -> torch.Tensor:
    """DIEN eq. 6: -mean over valid t of [log sigma(h_t . e_{t+1}) + log(1 - sigma(h_t . e^-))].
    states h_t (B, T, H) are paired with positives e_{t+1} (B, T, H) and negatives (B, T, H);
    valid (B, T) marks pairs whose e_{t+1} exists; negative_valid drops unusable negatives.
    Zero when no position is valid."""
    pos = F.softplus(-(states * positives).sum(-1))  # -log sigma(h . e+)
    neg = F.softplus((states * negatives).sum(-1))  # -log(1 - sigma(h . e-))
    if negative_valid is not None:
        neg = neg * negative_valid.to(neg.dtype)
    weight = valid.to(pos.dtype)
    return ((pos + neg) * weight).sum() / weight.sum().clamp_min(1.0)


class DIEN(RankingModel):
    """GRU extractor + auxiliary loss + attention + AUGRU evolving layer + MLP."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, hidden: Sequence[int] = (200, 80),
                 gru_mode: str = "augru", alpha: float = 1.0, activation_name: str = "dice",
                 pooled_history: bool = True):
        super().__init__(spec)
        self.embed = FieldEmbedder(spec, dim)
        item_dim = spec.n_item_fields * dim
        self.extractor = nn.GRU(item_dim, item_dim, batch_first=True)
        self.attention_w = nn.Parameter(torch.randn(item_dim, item_dim) / item_dim ** 0.5)
        self.evolution = AttentionGRU(item_dim, item_dim, gru_mode)
        parts = [spec.n_user_fields * dim, item_dim, item_dim + spec.dense_dim]
        if pooled_history:  # + pooled history and its product with the candidate
            parts += [item_dim, item_dim]
        self.mlp = MLP(parts, hidden, 1, activation_name)
        self.alpha, self.pooled_history = alpha, pooled_history

    def extract(self, hist: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Extractor states (B, T, H) over the first T = longest-history steps (valid entries
        come first, so later steps are padding for every request)."""
        lengths = mask.sum(1)
        steps = int(lengths.max()) if mask.numel() else 0
        if steps == 0:
            return hist.new_zeros(hist.shape[0], 0, self.extractor.hidden_size), 0
        packed = pack_padded_sequence(hist, lengths.clamp_min(1).cpu(), batch_first=True,
                                      enforce_sorted=False)
        states = pad_packed_sequence(self.extractor(packed)[0], batch_first=True)[0]
        return states, steps

    def sample_negatives(self, batch: FeatureBatch, hist: torch.Tensor,
                         steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Negatives (B, T-1, H) drawn from the batch's clicked items, and whether each is an
        item this user did not click (others are dropped from the loss)."""
        mask = batch.history_mask
        pool, pool_ids = hist[mask], batch.history_fields[..., 0][mask]
        draw = torch.randint(len(pool), (hist.shape[0], steps - 1), device=hist.device)
        own = batch.history_fields[..., 0]
        not_clicked = (pool_ids[draw].unsqueeze(-1) != own.unsqueeze(1)).all(-1)
        return pool[draw], not_clicked

    def _run(self, batch: FeatureBatch, with_aux: bool) -> tuple[torch.Tensor, torch.Tensor]:
        mask = batch.history_mask
        hist = self.embed.history(batch).flatten(2)  # (B, L, H), once per request
        states, steps = self.extract(hist, mask)
        aux = hist.new_zeros(())
        if with_aux and steps > 1:
            negatives, neg_ok = self.sample_negatives(batch, hist, steps)
            aux = self.alpha * auxiliary_loss(states[:, :-1], hist[:, 1:steps], negatives,
                                              mask[:, 1:steps], neg_ok)
        cand = self.embed.items(batch).flatten(2)  # (B, N, H)
        scores = cand @ (states @ self.attention_w).transpose(1, 2)  # (B, N, T)
        attention = masked_softmax(scores, mask[:, None, :steps])
        final = self.evolution(self.evolution.input_gates(states), attention, mask[:, :steps])
        users = self.embed.users(batch).flatten(1).unsqueeze(1)
        parts = [users, final, torch.cat([cand, batch.dense], -1)]
        if self.pooled_history:
            pooled = masked_pool(hist, mask, self.embed.pooling).unsqueeze(1)  # (B, 1, H)
            parts += [pooled, cand * pooled]
        return self.mlp(*parts).squeeze(-1), aux

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        return self._run(batch, with_aux=False)[0]

    def forward_with_aux(self, batch: FeatureBatch) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run(batch, with_aux=True)
