"""Evaluation metrics of the loop (docs/design.md section 6) and DRN's activeness estimate.

Per-visit functions take the arrays of one step, with a leading visit axis B:
``shown`` (B, K) candidate indices in rank order (-1 = empty slot) and ``clicks`` (B, K)
bool, as in the env's step info. They return one value per visit (NaN where undefined, e.g.
nDCG of a visit without clicks) or a scalar; `bucket_metrics` turns the loop's per-visit
records into the tidy (time, metric, value) rows of `drnsim.loop.run_episode`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from drnsim.config import DAY, HOUR

#: DRN's activeness constants (Zheng et al. 2018, sec. 4.2): S_0, lambda_0 (1/s), S_a.
ACTIVENESS_START = 0.5
ACTIVENESS_DECAY = 1.2e-5
ACTIVENESS_JUMP = 0.32


# ---------------------------------------------------------------------------------------
# Activeness (survival model)
def activeness_decay(s: np.ndarray | float, dt: np.ndarray | float,
                     lambda0: float = ACTIVENESS_DECAY) -> np.ndarray:
    """S(t + dt) = S(t) * exp(-lambda0 * dt): the survival estimate between visits."""
    return np.asarray(s) * np.exp(-lambda0 * np.asarray(dt, dtype=np.float64))


def activeness_return(s: np.ndarray | float, dt: np.ndarray | float,
                      lambda0: float = ACTIVENESS_DECAY,
                      jump: float = ACTIVENESS_JUMP) -> np.ndarray:
    """On a return after dt seconds: S <- min(1, S * exp(-lambda0 * dt) + S_a)."""
    return np.minimum(1.0, activeness_decay(s, dt, lambda0) + jump)


class ActivenessTracker:
    """DRN's per-user activeness S: S = S_0 = 0.5 at a user's first visit, then
    `activeness_return` at every visit and `activeness_decay` in between (flat arrays)."""

    def __init__(self, n_users: int, start: float = ACTIVENESS_START,
                 lambda0: float = ACTIVENESS_DECAY, jump: float = ACTIVENESS_JUMP):
        self.start, self.lambda0, self.jump = start, lambda0, jump
        self.s = np.zeros(n_users, dtype=np.float64)
        self.last = np.full(n_users, -np.inf)  # time of the last visit, -inf: never seen

    def visit(self, users: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Record visits (distinct users) and return their S right after the visit."""
        if len(np.unique(users)) != len(users):
            raise ValueError("users must be distinct within one call to ActivenessTracker.visit"
                             " (a vector-env batch is); record repeated visits one at a time")
        seen = np.isfinite(self.last[users])
        dt = np.where(seen, times - self.last[users], 0.0)
        s = np.where(seen, activeness_return(self.s[users], dt, self.lambda0, self.jump),
                     self.start)
        self.s[users], self.last[users] = s, times
        return s

    def value(self, users: np.ndarray, at: float) -> np.ndarray:
        """S of `users` at time `at` (decayed since their last visit; 0 if never seen)."""
        seen = np.isfinite(self.last[users])
        return np.where(seen, activeness_decay(self.s[users],
                                               at - np.where(seen, self.last[users], at),
                                               self.lambda0), 0.0)

    def mean(self, at: float) -> float:
        """Mean S at time `at` over the users seen so far (NaN if none)."""
        seen = np.flatnonzero(np.isfinite(self.last))
        return float(self.value(seen, at).mean()) if len(seen) else math.nan


# ---------------------------------------------------------------------------------------
# Ranking quality per visit
def ctr(clicks: np.ndarray, shown: np.ndarray) -> float:
    """CTR = sum clicks / sum impressions (shown slots)."""
    impressions = int((shown >= 0).sum())
    return float(clicks.sum() / impressions) if impressions else math.nan


def precision_at_k(clicks: np.ndarray, shown: np.ndarray, k: int = 5) -> np.ndarray:
    """precision@k = (clicks in the top k) / (items shown in the top k), per visit."""
    n_shown = (shown[:, :k] >= 0).sum(axis=1)
    hits = (clicks[:, :k] & (shown[:, :k] >= 0)).sum(axis=1)
    return np.where(n_shown > 0, hits / np.maximum(n_shown, 1), np.nan)


def ndcg_at_k(gains: np.ndarray, k: int | None = None,
              ideal: np.ndarray | None = None) -> np.ndarray:
    """nDCG@k = DCG / IDCG per visit, DCG = sum_{r<=k} g_r / log2(1 + r) over the gains in
    shown order (clicks, or graded relevance); IDCG is the DCG of `ideal` sorted descending
    (default: the same gains re-sorted). NaN where IDCG = 0 (nothing relevant)."""
    gains = np.asarray(gains, dtype=np.float64)
    ideal = gains if ideal is None else np.asarray(ideal, dtype=np.float64)
    k = gains.shape[1] if k is None else k
    discount = 1.0 / np.log2(np.arange(2, k + 2))

    def dcg(g: np.ndarray) -> np.ndarray:
        g = g[:, :k]
        return g @ discount[:g.shape[1]]

    idcg = dcg(-np.sort(-ideal, axis=1))
    return np.where(idcg > 0, dcg(gains) / np.where(idcg > 0, idcg, 1.0), np.nan)


def intra_list_similarity(vectors: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """ILS per list = mean over pairs i != j of the selected items of cos(v_i, v_j); lists
    with fewer than two selected items give NaN. Lower is more diverse.
    ``vectors`` (B, K, d) item latent vectors, ``selected`` (B, K) bool (e.g. the clicks)."""
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    v = v * selected[..., None]
    n = selected.sum(axis=1)
    summed = v.sum(axis=1)
    # sum_{i != j} cos = |sum_i v_i|^2 - sum_i |v_i|^2
    pair_sum = (summed ** 2).sum(axis=1) - (v ** 2).sum(axis=(1, 2))
    pairs = n * (n - 1)
    return np.where(pairs > 0, pair_sum / np.maximum(pairs, 1), np.nan)


# ---------------------------------------------------------------------------------------
# Expected clicks and regret against the oracle
def expected_clicks(attractiveness: np.ndarray, position_bias: np.ndarray,
                    click_model: str = "position") -> np.ndarray:
    """Expected clicks of slates, given a_ui (B, K) of the shown items in rank order (0 in
    empty slots): position model sum_k theta_k a_k; cascade 1 - prod_k (1 - a_k)."""
    a = np.asarray(attractiveness, dtype=np.float64)
    if click_model == "cascade":
        return 1.0 - np.prod(1.0 - a, axis=1)
    return a @ position_bias[:a.shape[1]]


def regret(attractiveness: np.ndarray, shown: np.ndarray, position_bias: np.ndarray,
           click_model: str = "position") -> np.ndarray:
    """Regret per visit = E[clicks | oracle slate] - E[clicks | shown slate], with the true
    a_ui (B, N) of all candidates (0 for padded ones). The oracle shows the K largest a_ui in
    descending order, which maximises both click models' expectation."""
    k = shown.shape[1]
    best = -np.sort(-attractiveness, axis=1)[:, :k]
    mine = np.where(shown >= 0, np.take_along_axis(attractiveness, np.maximum(shown, 0), 1), 0.0)
    return (expected_clicks(best, position_bias, click_model)
            - expected_clicks(mine, position_bias, click_model))


# ---------------------------------------------------------------------------------------
# Aggregation into time buckets
def bucket_metrics(visits: pd.DataFrame, snapshots: pd.DataFrame, bucket_hours: float,
                   n_users: int, slate_size: int, n_active: int | None = None) -> pd.DataFrame:
    """Tidy (time, metric, value) rows, one per time bucket and metric; time is the
    simulated hour at the end of the bucket. ``visits`` has one row per visit (columns
    time [s], clicks, impressions, p5, ndcg, ils, gap [s, -1 on a first visit], dwell [s,
    summed over the visit's clicks], and regret when known); ``snapshots`` one row per bucket
    (bucket, activeness, churn); ``n_active`` the users who had not churned at the start of
    the horizon (default n_users).

    ctr = sum clicks / sum impressions; precision@5, ndcg@K, ils = means over the visits
    where defined; reward = clicks per visit; cumulative_reward = total clicks so far;
    clicks_per_user = cumulative_reward / n_active (the long-term value: clicks per user
    over the horizon so far); return_rate = visits per user per day (all n_users);
    visits_per_user_day = visits / n_active per day; return_gap_h = mean gap of returning
    visits (h); dwell = sum dwell / sum clicks (seconds read per click); regret = mean per
    visit, cumulative_regret = its running sum; activeness = mean DRN S of the users seen so
    far; churn = fraction of users who left."""
    n_active = n_users if n_active is None else n_active
    bucket = np.floor(visits["time"] / (bucket_hours * HOUR)).astype(np.int64)
    returning = visits["gap"].where(visits["gap"] >= 0) / HOUR
    grouped = visits.assign(bucket=bucket, gap_h=returning).groupby("bucket")
    sums = grouped.sum(numeric_only=True)
    means = grouped.mean(numeric_only=True)
    count = grouped.size()
    table = pd.DataFrame({
        "ctr": sums["clicks"] / sums["impressions"].where(sums["impressions"] > 0),
        "precision@5": means["p5"],
        f"ndcg@{slate_size}": means["ndcg"],
        "ils": means["ils"],
        "reward": sums["clicks"] / count,
        "cumulative_reward": sums["clicks"].cumsum(),
        "clicks_per_user": sums["clicks"].cumsum() / max(n_active, 1),
        "return_rate": count / (n_users * bucket_hours * HOUR / DAY),
        "visits_per_user_day": count / (max(n_active, 1) * bucket_hours * HOUR / DAY),
        "return_gap_h": means["gap_h"],
        "visits": count.astype(np.float64),
    })
    if "dwell" in visits:
        table["dwell"] = sums["dwell"] / sums["clicks"].where(sums["clicks"] > 0)
    if "regret" in visits:
        table["regret"] = means["regret"]
        table["cumulative_regret"] = sums["regret"].cumsum()
    table = table.join(snapshots.set_index("bucket"), how="left")
    table.index = (table.index + 1) * bucket_hours
    return (table.rename_axis("time").reset_index()
            .melt(id_vars="time", var_name="metric", value_name="value"))


RETENTION_DAYS = (1, 3, 7)


def retention(users: np.ndarray, times: np.ndarray, horizon: float,
              days: tuple[int, ...] = RETENTION_DAYS) -> dict[int, float]:
    """Day-N retention: of the users who visit on day 0 (times in [0, 1 day)), the share
    who visit at least once on day N ([N, N + 1) days); only for the N whose whole day
    lies within ``horizon`` seconds. ``users``/``times`` are every visit of the horizon."""
    day = np.floor(np.asarray(times) / DAY).astype(np.int64)
    cohort = np.unique(np.asarray(users)[day == 0])
    return {n: float(np.isin(cohort, np.asarray(users)[day == n]).mean()) if len(cohort)
            else math.nan for n in days if (n + 1) * DAY <= horizon + 1e-6}


#: How a metric's buckets make its episode value; the rest are visit-weighted means.
_EPISODE_RULES = {"cumulative_reward": "last", "cumulative_regret": "last", "churn": "last",
                  "clicks_per_user": "last", "activeness": "mean", "return_rate": "mean",
                  "visits_per_user_day": "mean", "visits": "sum",
                  **{f"retention@{n}d": "last" for n in RETENTION_DAYS}}


def episode_values(frame: pd.DataFrame) -> pd.DataFrame:
    """One value per (agent, seed, metric) from a tidy loop frame: cumulative metrics and
    churn take their last bucket, activeness and return_rate the mean over buckets, visits
    the sum, and the per-visit rates (ctr, reward, regret, ...) the visit-weighted mean
    sum_t visits_t x_t / sum_t visits_t."""
    keys = ["agent", "seed"]
    visits = frame[frame["metric"] == "visits"][[*keys, "time", "value"]].rename(
        columns={"value": "weight"})
    data = frame.merge(visits, on=[*keys, "time"], how="left").sort_values("time")
    data = data[data["value"].notna()]
    rows = []
    for (agent, seed, metric), group in data.groupby([*keys, "metric"], sort=False):
        rule = _EPISODE_RULES.get(metric, "weighted")
        if rule == "last":
            value = group["value"].iloc[-1]
        elif rule == "sum":
            value = group["value"].sum()
        elif rule == "mean":
            value = group["value"].mean()
        else:
            value = np.average(group["value"], weights=group["weight"])
        rows.append({"agent": agent, "seed": seed, "metric": metric, "value": float(value)})
    return pd.DataFrame(rows, columns=[*keys, "metric", "value"])


# ---------------------------------------------------------------------------------------
# Confidence intervals across seeds
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile_975(dof: int) -> float:
    """Student-t 97.5% quantile for `dof` degrees of freedom (1.96 beyond 30)."""
    return _T975[dof - 1] if 1 <= dof <= len(_T975) else 1.96


def mean_ci(values: np.ndarray | pd.Series) -> tuple[float, float, float]:
    """(mean, low, high): mean +- t_{0.975, n-1} * sd / sqrt(n) over the finite values
    (the interval collapses to the mean for a single value)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) == 1:
        return mean, mean, mean
    half = t_quantile_975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return mean, mean - half, mean + half


__all__ = [
    "ACTIVENESS_DECAY", "ACTIVENESS_JUMP", "ACTIVENESS_START", "ActivenessTracker",
    "activeness_decay", "activeness_return", "bucket_metrics", "ctr", "episode_values",
    "expected_clicks",
    "intra_list_similarity", "mean_ci", "ndcg_at_k", "precision_at_k", "regret",
    "RETENTION_DAYS", "retention", "t_quantile_975",
]
