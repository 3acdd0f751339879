"""`RankingModel`: the interface every model of the zoo implements (docs/design.md section 4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec, build_batch

#: Score given to padded candidates by `score` (finite, so any rank-to-action map accepts it).
PADDED_SCORE = -1e9


class RankingModel(nn.Module):
    """Scores every candidate of a request: `forward(batch) -> (B, N)` click logits."""

    #: Requests per forward pass in `score`: chunks keep the (requests x candidates x
    #: history) intermediates of the sequence models in cache.
    score_chunk = 32

    def __init__(self, spec: FeatureSpec):
        super().__init__()
        self.spec = spec

    def forward(self, batch: FeatureBatch) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward_with_aux(self, batch: FeatureBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the auxiliary loss from one pass (the trainer calls this)."""
        logits = self(batch)
        return logits, logits.new_zeros(())

    def auxiliary_loss(self, batch: FeatureBatch) -> torch.Tensor:
        """Extra training loss (DIEN's auxiliary loss, MIMN's regulariser); 0 by default."""
        return self.forward_with_aux(batch)[1]

    def prepare(self, train: FeatureBatch, **fit_kwargs: Any) -> None:
        """Hook run by `fit` before training on the training split (pretraining stages)."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def fit(self, logs: pd.DataFrame | FeatureBatch, valid_fraction: float = 0.1,
            epochs: int = 10, batch_size: int = 256, lr: float = 1e-3, patience: int = 2,
            seed: int = 0, device: str = "cpu", progress: bool = False,
            weight_decay: float = 0.0):
        """Train on logged impressions; see `drnsim.models.training.fit`."""
        from drnsim.models.training import fit

        return fit(self, logs, valid_fraction=valid_fraction, epochs=epochs,
                   batch_size=batch_size, lr=lr, patience=patience, seed=seed, device=device,
                   progress=progress, weight_decay=weight_decay)

    @torch.inference_mode()
    def score(self, obs: dict | FeatureBatch) -> np.ndarray:
        """Click logits (B, N) of an observation (single or batched) or a FeatureBatch, in
        eval mode without gradients; padded candidates get PADDED_SCORE. Requests are scored
        in chunks of `score_chunk`, sorted by history length and each cut to its longest
        history (`FeatureBatch.trim_history`: the same scores, less padding)."""
        device = self.device
        batch = (obs.to(device) if isinstance(obs, FeatureBatch)
                 else build_batch(obs, self.spec, device=device))
        batch.validate(self.spec)
        was_training = self.training
        if was_training:  # a mode switch walks every submodule: skip it when already in eval
            self.eval()
        try:
            if len(batch) <= self.score_chunk:
                logits = self(batch.trim_history())
            else:
                logits = torch.empty(batch.candidate_mask.shape, device=device)
                for rows in batch.history_order().split(self.score_chunk):
                    logits[rows] = self(batch.index(rows).trim_history())
        finally:
            if was_training:
                self.train()
        logits = logits.masked_fill(~batch.candidate_mask, PADDED_SCORE)
        return logits.float().cpu().numpy()
