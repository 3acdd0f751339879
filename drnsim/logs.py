"""Logged impressions from a logging policy in the simulated world (for offline training).

`collect_logs` drives `NewsFeedVectorEnv` with any object that has `act(obs) -> scores (B, N)`
(it imports no agent), mixes it per visit with a uniformly random ranking (probability
`epsilon`) and records one row per shown item with its logging propensity

    P(item at position k) = (1 - epsilon) * [the policy puts it at k] + epsilon / n_valid,

which is exact: a uniformly random permutation of the n_valid live candidates puts any one of
them at position k with probability 1 / n_valid. Columns: visit_id, user_id, time, position
(0 = top), click, dwell (seconds read, 0 where not clicked), propensity, explored,
candidate_index, item_id, topic, provider, item_age, pop_*, topic_clicks_*,
provider_clicks_* (the windows 1h/6h/24h/1w), n_valid_candidates, user_age, user_gender,
user_region, user_device, hour, weekday, since_last_visit, gap, history_length and the
history as list columns hist_item_id, hist_topic, hist_provider, hist_age (valid entries
only, oldest first).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from drnsim.config import DAY, WorldConfig
from drnsim.features import (
    LOG_HISTORY,
    LOG_POP,
    LOG_PROVIDER_CLICKS,
    LOG_TOPIC_CLICKS,
    LOG_USER,
    FeatureBatch,
    FeatureSpec,
    batch_from_logs,
    iterate_batches,
)

_LIST_SEP = " "


def _visit_rows(obs: dict, info: dict, policy_shown: np.ndarray, explored: np.ndarray,
                epsilon: float) -> dict[str, Any]:
    """Columns for the shown items of one served batch."""
    shown, clicks = info["shown"], info["clicks"]
    b, k = shown.shape
    rows, pos = np.nonzero(shown >= 0)
    cols = shown[rows, pos]
    cand, un, user, ctx, hist = (obs["candidates"], obs["user_news"], obs["user"],
                                 obs["context"], obs["history"])
    n_valid = cand["mask"].astype(bool).sum(1)
    propensity = ((1.0 - epsilon) * (policy_shown[rows, pos] == cols) + epsilon / n_valid[rows])
    out: dict[str, Any] = {
        "visit_id": info["visit_id"][rows], "user_id": user["user_id"][rows],
        "time": info["sim_time"][rows], "position": pos.astype(np.int32),
        "click": clicks[rows, pos].astype(np.int8), "dwell": info["dwell"][rows, pos],
        "propensity": propensity,
        "explored": explored[rows], "candidate_index": cols.astype(np.int32),
        "item_id": cand["item_id"][rows, cols], "topic": cand["topic"][rows, cols],
        "provider": cand["provider"][rows, cols], "item_age": cand["age"][rows, cols]}
    for j, name in enumerate(LOG_POP):
        out[name] = cand["popularity"][rows, cols, j]
    for j, (tn, pn) in enumerate(zip(LOG_TOPIC_CLICKS, LOG_PROVIDER_CLICKS, strict=True)):
        out[tn] = un["topic_clicks"][rows, cols, j]
        out[pn] = un["provider_clicks"][rows, cols, j]
    out["n_valid_candidates"] = n_valid[rows].astype(np.int32)
    for j, name in enumerate(LOG_USER):
        out[name] = user["features"][rows, j]
    out.update(hour=ctx["hour"][rows], weekday=ctx["weekday"][rows],
               since_last_visit=ctx["since_last_visit"][rows], gap=info["gap"][rows],
               history_length=hist["length"][rows])
    lengths = hist["length"]
    for name, key in zip(LOG_HISTORY, ("item_id", "topic", "provider", "age"), strict=True):
        per_visit = [hist[key][i, :lengths[i]] for i in range(b)]  # views, shared by K rows
        column = np.empty(len(rows), dtype=object)
        column[:] = [per_visit[i] for i in rows]
        out[name] = column
    return out


def collect_logs(config: WorldConfig | Mapping[str, Any] | None, policy: Any,
                 n_visits: int | None = None, days: float | None = None, seed: int = 0,
                 batch_size: int = 256, epsilon: float = 0.1) -> pd.DataFrame:
    """Serve visits with `policy` (None = uniformly random ranking) epsilon-mixed with random
    rankings, until `n_visits` visits or `days` simulated days; one row per shown item."""
    from drnsim.envs import NewsFeedVectorEnv, action_from_scores, rank_slates, visits_per_step

    if n_visits is None and days is None:
        raise ValueError("give n_visits or days (how much to log)")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be a probability in [0, 1], got {epsilon!r}")
    if policy is None:
        epsilon = 1.0
    elif not callable(getattr(policy, "act", None)):
        raise ValueError("policy must have a method act(obs) -> scores (B, N), or be None")
    cfg = WorldConfig.coerce(config)
    if days is not None:
        cfg = cfg.replace(episode_days=max(cfg.episode_days, float(days)))
    env = NewsFeedVectorEnv(num_envs=visits_per_step(batch_size, cfg.n_users), config=cfg)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1095]))
    obs, _ = env.reset(seed=seed)
    frames, served = [], 0
    limit = days * DAY if days is not None else np.inf
    while True:
        mask = obs["candidates"]["mask"].astype(bool)
        b, n = mask.shape
        explored = rng.random(b) < epsilon
        policy_scores = (np.asarray(policy.act(obs), dtype=np.float64) if policy is not None
                         else rng.random((b, n)))
        if policy_scores.shape != (b, n):
            raise ValueError(f"policy.act returned shape {policy_scores.shape}, expected {(b, n)}")
        scores = np.where(explored[:, None], rng.random((b, n)), policy_scores)
        policy_shown = rank_slates(policy_scores, mask, cfg.slate_size)
        prev = obs
        obs, _, terminated, truncated, info = env.step(action_from_scores(scores))
        keep = info["sim_time"] < limit
        if n_visits is not None:
            keep &= np.arange(b) < n_visits - served
        if keep.any():
            sub = {g: {k: v[keep] for k, v in d.items()} for g, d in prev.items()}
            inf = {k: v[keep] for k, v in info.items()}
            frames.append(pd.DataFrame(_visit_rows(sub, inf, policy_shown[keep], explored[keep],
                                                   epsilon)))
            served += int(keep.sum())
        if not keep.all() or terminated.any() or truncated.any() or (
                n_visits is not None and served >= n_visits):
            break
    env.close()
    logs = pd.concat(frames, ignore_index=True)
    return logs.sort_values(["time", "visit_id", "position"], kind="stable", ignore_index=True)


def logs_to_batches(logs: pd.DataFrame | FeatureBatch, spec: FeatureSpec, batch_size: int = 256,
                    shuffle: bool = True, seed: int = 0,
                    device: str | torch.device = "cpu") -> Iterator[FeatureBatch]:
    """Mini-batches of visits (N = shown items, labels = clicks); `shuffle` is seeded."""
    full = logs if isinstance(logs, FeatureBatch) else batch_from_logs(logs, spec)
    return iterate_batches(full, batch_size, shuffle, seed, device)


def save_logs(df: pd.DataFrame, path: str | Path) -> Path:
    """Write logs as Parquet (.parquet) or CSV (.csv, lists space-separated), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"logs path must end in .parquet or .csv, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            out = df.copy()
            for name in LOG_HISTORY:
                out[name] = [_LIST_SEP.join(map(str, np.asarray(v).tolist())) for v in out[name]]
            out.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_logs(path: str | Path) -> pd.DataFrame:
    """Read logs written by `save_logs`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix != ".csv":
        raise ValueError(f"logs path must end in .parquet or .csv, got {path.name!r}")
    df = pd.read_csv(path, keep_default_na=False)
    for name, dtype in zip(LOG_HISTORY, (np.int64, np.int32, np.int32, np.float32), strict=True):
        df[name] = [np.array(s.split(), dtype=dtype) if s else np.empty(0, dtype)
                    for s in df[name].astype(str)]
    return df


__all__ = ["collect_logs", "load_logs", "logs_to_batches", "save_logs"]
