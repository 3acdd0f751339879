"""Model-based agents: ``static:<model>`` (trained once on logs, then frozen) and
``online:<model>`` (the same, then retrained on its own fresh feedback on a schedule).

Both score candidates with a `drnsim.models` ranking model (click logits, higher shown first).
The online agent keeps the impressions it served as `FeatureBatch` rows (N = the K shown
items, labels = clicks, the schema `drnsim.features.batch_from_logs` gives logs) and every
``period_hours`` of simulated time fine-tunes the model on a sliding window of the last
``window_hours`` of impressions, the warm-start logs included while they are recent: one
epoch over the whole window by default, its newest visits included (no hold-out; early
stopping needs several epochs to mean anything).

Seeds: `bind` draws the model's initial weights and the trainer's seed from the agent's
``seed`` and the world's seed (`BaseAgent.rng`), through `drnsim.models.seeded_torch`: two
agent seeds start from different weights, equal seeds from equal ones, and torch's global
random state is never touched.
"""

from __future__ import annotations

import os
from dataclasses import fields, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from drnsim._validate import InvalidTypeError, positive
from drnsim.agents.base import BaseAgent, Every, Obs
from drnsim.config import HOUR
from drnsim.features import FeatureBatch, FeatureSpec, batch_from_logs, build_batch
from drnsim.models import check_model_keywords, make_model
from drnsim.models.fit_cache import cached_fit
from drnsim.models.training import check_fit_keywords, resolve_device


class StaticModelAgent(BaseAgent):
    """``static:<model>``: `warm_start(logs)` fits the model once (`RankingModel.fit` with
    ``fit_kwargs``), then it only scores. Without logs it scores with its initial weights.

    ``fit_cache``: a folder of fitted models (`drnsim.models.fit_cache.cached_fit`); the
    warm-start fit is read from it when an equal fit is stored there (``static:<model>``
    and ``online:<model>`` of one seed make the same one), and stored there otherwise."""

    def __init__(self, model: str, seed: int = 0, name: str | None = None,
                 fit_kwargs: dict[str, Any] | None = None, device: str = "cpu",
                 fit_cache: str | os.PathLike | None = None, **model_kwargs: Any):
        super().__init__(seed, name or f"{self.mode}:{model}")
        check_model_keywords(model, model_kwargs)
        check_fit_keywords(fit_kwargs or {})
        resolve_device(device)
        if fit_cache is not None and not isinstance(fit_cache, str | os.PathLike):
            raise InvalidTypeError(f"fit_cache must be a folder path or None, got "
                                   f"{type(fit_cache).__name__}")
        if fit_cache is not None and not os.fspath(fit_cache):
            raise ValueError("fit_cache must name a folder, got an empty path")
        self.fit_cache = fit_cache
        self.model_name, self.model_kwargs = model, model_kwargs
        self.fit_options = {"device": device, **(fit_kwargs or {})}
        self.device = device
        self.model = None

    mode = "static"

    def bind(self, env: Any) -> None:
        """Build the model, its initial weights drawn from (agent seed, world seed); the
        trainer's seed too, unless ``fit_kwargs`` give one."""
        super().bind(env)
        self.spec = FeatureSpec.from_config(self.config)
        init_seed, train_seed = (int(s) for s in self.rng.integers(2 ** 62, size=2))
        self.model = make_model(self.model_name, self.spec, seed=init_seed,
                                **self.model_kwargs).to(self.device)
        self.fit_kwargs = {"seed": train_seed, **self.fit_options}

    def warm_start(self, logs: pd.DataFrame) -> None:
        if self.fit_cache is None:
            self.model.fit(logs, **self.fit_kwargs)
        else:
            self.model = cached_fit(self.fit_cache, self.model, logs, **self.fit_kwargs)

    def _features(self, obs: Obs) -> FeatureBatch:
        """The FeatureBatch of an observation, built once (act, then observe)."""
        if getattr(self, "_features_of", None) is not obs:
            self._features_of = obs
            self._batch = build_batch(obs, self.spec, device=self.device)
        return self._batch

    def act(self, obs: Obs) -> np.ndarray:
        return self.model.score(self._features(obs))


class OnlineModelAgent(StaticModelAgent):
    """``online:<model>``: warm-started like the static agent, then every ``period_hours``
    refitted (``update_kwargs``, by default one epoch continuing from the current weights,
    without a held-out split: ``valid_fraction`` defaults to 0 for one epoch and to the
    trainer's 0.1 for more) on the impressions of the last ``window_hours``."""

    mode = "online"

    def __init__(self, model: str, period_hours: float = 2.0, window_hours: float = 6.0,
                 update_kwargs: dict[str, Any] | None = None, seed: int = 0,
                 name: str | None = None, **kwargs: Any):
        super().__init__(model, seed=seed, name=name, **kwargs)
        positive("period_hours", period_hours)
        positive("window_hours", window_hours)
        check_fit_keywords(update_kwargs or {}, "update_kwargs")
        self.period_hours, self.window_hours = period_hours, window_hours
        self.refit_kwargs = {"epochs": 1, **(update_kwargs or {})}
        self.buffer: list[tuple[np.ndarray, FeatureBatch]] = []  # (visit times, batch)

    def bind(self, env: Any) -> None:
        super().bind(env)
        refit = {**self.fit_kwargs, **self.refit_kwargs}
        refit.setdefault("valid_fraction", 0.0 if refit["epochs"] == 1 else 0.1)
        self.update_kwargs = refit
        self.buffer = []
        self.schedule = Every(self.period_hours * HOUR, start=env.unwrapped.world.clock)

    def warm_start(self, logs: pd.DataFrame) -> None:
        super().warm_start(logs)
        times = logs.sort_values(["time", "visit_id"], kind="stable").drop_duplicates(
            "visit_id")["time"].to_numpy(np.float64)
        self.buffer.append((times, batch_from_logs(logs, self.spec)))

    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        self.buffer.append((np.asarray(info["sim_time"], dtype=np.float64),
                            shown_items(self._features(obs), info["shown"], info["clicks"])))

    def update(self, sim_time: float) -> None:
        if not self.schedule.due(sim_time):
            return
        cutoff = sim_time - self.window_hours * HOUR
        kept = []
        for times, batch in self.buffer:
            recent = times >= cutoff
            if recent.all():
                kept.append((times, batch))
            elif recent.any():
                rows = torch.as_tensor(np.flatnonzero(recent))
                kept.append((times[recent], batch.index(rows)))
        self.buffer = kept
        if kept:
            self.model.fit(concat_batches([batch for _, batch in kept]), **self.update_kwargs)


def shown_items(batch: FeatureBatch, shown: np.ndarray, clicks: np.ndarray) -> FeatureBatch:
    """The impressions of served visits: the candidate-axis tensors of ``batch`` gathered at
    the shown candidate indices (B, K), empty slots masked, labels = clicks."""
    cols = torch.as_tensor(np.maximum(shown, 0), device=batch.item_fields.device)

    def gather(t: torch.Tensor) -> torch.Tensor:
        index = cols.reshape(cols.shape + (1,) * (t.dim() - 2)).expand(
            cols.shape + t.shape[2:])
        return torch.gather(t, 1, index)

    return replace(batch, item_fields=gather(batch.item_fields), dense=gather(batch.dense),
                   action=gather(batch.action),
                   candidate_mask=torch.as_tensor(shown >= 0, device=cols.device),
                   labels=torch.as_tensor(clicks, dtype=torch.float32, device=cols.device))


def concat_batches(batches: list[FeatureBatch]) -> FeatureBatch:
    """Stack the requests of several batches with the same N."""
    return FeatureBatch(**{f.name: (None if getattr(batches[0], f.name) is None else
                                    torch.cat([getattr(b, f.name) for b in batches]))
                           for f in fields(FeatureBatch)})


LEARNED = {"static": StaticModelAgent, "online": OnlineModelAgent}

__all__ = ["LEARNED", "OnlineModelAgent", "StaticModelAgent", "concat_batches", "shown_items"]
