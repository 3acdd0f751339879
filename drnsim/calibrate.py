"""Calibrate a world to logs: the `WorldConfig` fields that logs identify, each with a 95%
interval, and a fidelity report of real vs simulated statistics (docs/design.md section 13).

    result = calibrate(logs)                 # logs: drnsim.logs schema (drnsim.datasets)
    result.world                             # the fitted WorldConfig
    result.parameters                        # parameter, value, low, high, base, estimator
    report = fidelity(logs, result.world)    # FidelityReport: table + figure
    write_calibration("results/cal", result, report)   # world.yaml, parameters.csv, ...

**Which rows.** Click statistics (position bias, attractiveness, freshness, item dispersion)
need slates whose order does not depend on the items: the visits marked ``explored`` when
the logs have that column (`drnsim.logs.collect_logs` marks its uniformly random slates),
else every visit, assumed randomised. Return gaps, news and topics use every visit.

**Estimators** (p_k = CTR at position k = 1, 2, ...; theta_k = k^-kappa):

* ``position_bias_kappa``: Poisson quasi-likelihood fit of p_k = c k^-kappa to the clicks per
  position (consistent for that mean model, which the position-based model gives when
  slates are randomised: p_k = theta_k E[a_ui]). c = E[a_ui] is the mean attractiveness of a
  shown item.
* ``click_bias``, ``freshness_tau_hours``, ``quality_weight``: the attractiveness logit
  b0 + b1 relevance + b2 quality - b3 age / tau - ... has hidden parts (relevance, quality,
  satiation), so logs identify b0 only given the other weights: the fit keeps
  relevance_weight, freshness_weight, seen_penalty, satiation and the interest model at the
  base world's values and finds (b0, tau, b2) by simulation (indirect inference): the
  fitted world, logged with a random policy, must reproduce three statistics of the real
  logs: log c, the slope s of log CTR against item age (Poisson fit of
  p = theta_k exp(a + s age)) and the squared coefficient of variation of the items' click
  rates (split-half covariance: the spread of item appeal, the popularity long tail),
  averaged over 3 simulated worlds. The start: tau from the real slope (s ~ -(w_f / tau)
  (1 - c)) when the base's is more than a factor e off, then b0 shifted by the gap in
  logit(c) until log c is within 0.05; then Gauss-Newton steps on the residuals in units of
  their noise, with a finite-difference Jacobian under common random numbers (updated by
  Broyden after each step), quality_weight kept >= 0, and a step kept only when it fits the
  logs better (halved twice, else the fit stops: simulated statistics are noisy); last, one
  solve of the linear map fitted to the simulated points, kept when it fits better. A
  statistic the fitted world misses by more than 3 standard errors is named in the notes
  (the parameters are then the closest point, not an estimate).
* ``mean_return_hours``, ``return_rate_spread``: the simulator's return model, gap ~
  Exp(r_u m(clicks)) with r_u = exp(sigma z_u) / H, z_u ~ N(0, 1) and m(c) =
  min(exp(g (c - c_bar)), cap) (g, c_bar, cap kept at the base's values), fitted by maximum
  likelihood over users with the frailty z_u integrated out (Gauss-Hermite): each user's
  first visit is an Exp(r_u) wait from the start of the logs, each later gap an observed
  Exp(r_u m), the time after the last visit a censored one; the likelihood is conditional
  on the user appearing in the logs (P = E[1 - exp(-r_u W)], W = the logs' span), which
  also gives ``n_users`` = users seen / P.
* ``news_per_hour``: items published per hour (publication = time - item_age), counted
  over the logs' span less its last hour (when logs date items by their first impression,
  the first half of the span is skipped: items published before the logs start are first
  seen then); a Poisson interval; none published there: not identified (kept).
  ``item_lifetime_hours``: the largest age shown.
* ``topic_trend_volatility`` (logs of 3 days or more): the day-to-day change of the topics'
  log shares among new items, less multinomial noise, per sqrt(day).
* Vocabulary sizes, slate size and history length: from the logs (`FeatureSpec.from_logs`);
  ``n_candidates``: the largest ``n_valid_candidates`` (at least the slate size), kept at the
  base's when the logs lack that column.

Intervals: 95% percentile bootstrap over users (every statistic recomputed on resampled
users; n_users' bounds rounded out to whole users); for the simulation-fitted parameters
the bootstrap deviations of the real statistics, plus the spread of the statistics between
simulated worlds (the real world is one draw of the simulator's random structure), go
through the inverse of the fitted Jacobian. The fitted world has ``tradeoff_strength`` 0
(the clicks-only world the estimators assume). Not identified by click logs, so kept at the
base's values and listed: the hidden interest model (dimensions, channels, drift, jumps,
reinforcement), relevance and freshness weights, satiation, the seen penalty, the
satisfaction gain and churn, and every long-term field of the world (bait, satisfaction,
dwell, boredom, engagement).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drnsim import _validate
from drnsim.config import DAY, HOUR, WorldConfig
from drnsim.features import FeatureSpec
from drnsim.logs import check_logs, first_bad
from drnsim.results import TEMPORARY_NAME

#: Parameters fitted by simulation, with the statistic each one is matched on.
SIMULATED_PARAMETERS = ("click_bias", "freshness_tau_hours", "quality_weight")
NOT_IDENTIFIED = ("latent_dim", "n_channels", "feature_interest_strength", "item_noise",
                  "drift_reversion_per_day", "drift_sigma", "jump_rate_per_day",
                  "reinforcement_rate", "satiation_strength", "satiation_hours",
                  "relevance_weight", "freshness_weight", "seen_penalty", "satisfaction_gain",
                  "clicks_baseline", "max_rate_multiplier", "churn_after_empty_visits",
                  "churn_probability")
_HERMITE = np.polynomial.hermite.hermgauss(48)
_AGE_BIN_HOURS = 0.5
#: calibrate's counts: keyword -> (command-line flag, lowest, highest allowed); the weights
#: of the bootstrap take n_bootstrap x users x 8 bytes.
OPTION_BOUNDS = {"n_bootstrap": ("--bootstrap", 20, 10_000),
                 "sim_users": ("--sim-users", 16, None),
                 "sim_seeds": ("--sim-seeds", 1, 100)}


def check_options(seed: Any, n_bootstrap: Any, sim_users: Any, sim_seeds: Any,
                  flags: bool = False) -> None:
    """ValueError naming an option of `calibrate` out of range (`OPTION_BOUNDS`, seeds in
    [0, 2**63)): by its keyword, or with `flags` by its command-line flag."""
    _validate.seed("--seed" if flags else "seed", seed)
    for key, value in (("n_bootstrap", n_bootstrap), ("sim_users", sim_users),
                       ("sim_seeds", sim_seeds)):
        flag, low, high = OPTION_BOUNDS[key]
        _validate.integer(flag if flags else key, value, low, high)


def _derived_seed(seed: int, offset: int) -> int:
    """`seed` + `offset` kept in [0, 2**63) (a seed of simulated logs)."""
    return (seed + offset) % _validate.SEED_LIMIT


@dataclass
class Calibration:
    """What `calibrate` found: the fitted world, a parameter table and notes."""

    world: WorldConfig
    base: WorldConfig
    parameters: pd.DataFrame  # parameter, value, low, high, base, estimator
    notes: list[str] = field(default_factory=list)
    statistics: dict[str, float] = field(default_factory=dict)
    """The real logs' click statistics (``real_*``) and the fitted world's (``simulated_*``,
    the mean over the simulated worlds)."""


# ---------------------------------------------------------------------------------------
# Click statistics on randomised slates
class _Clicks:
    """The rows of randomised slates as arrays: user (dense), position k (1-based), click,
    age in hours, item (dense)."""

    def __init__(self, logs: pd.DataFrame, users: pd.Index):
        self.user = users.get_indexer(logs["user_id"])
        self.k = logs["position"].to_numpy(np.int64) + 1
        self.y = logs["click"].to_numpy(np.float64)
        self.age = logs["item_age"].to_numpy(np.float64) / HOUR
        self.item, _ = pd.factorize(logs["item_id"])
        self.n_users = len(users)
        self.half = np.arange(len(users)) % 2  # users split in two halves for _dispersion

    def statistics(self, weights: np.ndarray | None = None,
                   kappa: float | None = None) -> dict[str, float]:
        """kappa and log c of the slot fit, the age slope s and the items' dispersion, with
        each row counted `weights[user]` times (a bootstrap over users); `kappa` given: the
        slot fit keeps it and fits log c only."""
        w = np.ones(len(self.y)) if weights is None else weights[self.user]
        n_k = np.bincount(self.k, w)
        y_k = np.bincount(self.k, w * self.y)
        shown = np.flatnonzero(n_k > 0)
        log_k = np.log(shown.astype(np.float64))
        if kappa is None:
            log_c, slope = _poisson_fit(log_k, y_k[shown], n_k[shown])
            kappa = -slope
        else:
            log_c = math.log(max(y_k.sum(), 1e-12) / (n_k[shown] * shown ** -kappa).sum())
        theta = self.k.astype(np.float64) ** -kappa
        bins = np.floor(self.age / _AGE_BIN_HOURS).astype(np.int64)
        exposure = np.bincount(bins, w * theta)
        clicks = np.bincount(bins, w * self.y)
        age = np.bincount(bins, w * theta * self.age)
        used = exposure > 0
        _, age_slope = _poisson_fit(age[used] / exposure[used], clicks[used], exposure[used])
        return {"kappa": kappa, "log_c": log_c, "age_slope": age_slope,
                "dispersion": self._dispersion(w, theta)}

    def _dispersion(self, w: np.ndarray, theta: np.ndarray) -> float:
        """CV^2 of the items' click rates (position-adjusted): the weighted covariance of
        each item's rate in two halves of the users (independent clicks, so no noise term),
        over the squared mean rate."""
        size = int(self.item.max()) + 1
        half = self.half[self.user]
        clicks = [np.bincount(self.item[half == h], (w * self.y)[half == h], size)
                  for h in (0, 1)]
        exposure = [np.bincount(self.item[half == h], (w * theta)[half == h], size)
                    for h in (0, 1)]
        both = (exposure[0] > 0) & (exposure[1] > 0)
        rate = (clicks[0].sum() + clicks[1].sum()) / (exposure[0].sum() + exposure[1].sum())
        if not both.any() or rate <= 0:
            return math.nan
        e0, e1 = exposure[0][both], exposure[1][both]
        weight = e0 * e1 / (e0 + e1)
        deviation = [(c[both] / e - rate) for c, e in zip(clicks, (e0, e1), strict=True)]
        return float(np.sum(weight * deviation[0] * deviation[1]) / weight.sum() / rate ** 2)


def _poisson_fit(x: np.ndarray, y: np.ndarray, exposure: np.ndarray,
                 iterations: int = 50) -> tuple[float, float]:
    """(a, b) of E[y] = exposure exp(a + b x), Poisson quasi-likelihood (Newton); b = 0
    when x does not vary. When every count lies at one end of x the likelihood has no
    maximum (b runs to -inf or inf): the Newton steps stop where the fit becomes singular,
    at a steep finite b (the simulation fit then names the statistic it cannot reach)."""
    total = y.sum()
    if total <= 0:
        return -math.inf, 0.0
    a, b = math.log(total / exposure.sum()), 0.0
    if np.ptp(x) == 0:
        return a, 0.0
    design = np.stack([np.ones_like(x), x], axis=1)
    for _ in range(iterations):
        mu = exposure * np.exp(a + b * x)
        grad = design.T @ (y - mu)
        hess = design.T @ (design * mu[:, None])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        while np.max(np.abs(step)) > 5:  # damped far from the optimum
            step /= 2
        a, b = a + step[0], b + step[1]
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(a), float(b)


# ---------------------------------------------------------------------------------------
# Return gaps
class _Returns:
    """Per user: events d_u and exposure S_u of the exponential return model (module
    docstring), the logs' start and span."""

    def __init__(self, visits: pd.DataFrame, users: pd.Index, base: WorldConfig):
        visits = visits.sort_values(["user_id", "time"], kind="stable")
        user = users.get_indexer(visits["user_id"])
        time = visits["time"].to_numpy(np.float64)
        start, end = float(time.min()), float(time.max())
        multiplier = np.minimum(np.exp(base.satisfaction_gain
                                       * (visits["clicks"].to_numpy() - base.clicks_baseline)),
                                base.max_rate_multiplier)
        last = np.r_[user[1:] != user[:-1], True]
        first = np.r_[True, user[1:] != user[:-1]]
        following = np.r_[time[1:], end]
        waited = np.where(last, end, following) - time  # observed gap, or censored at the end
        exposure = multiplier * waited
        exposure[first] += time[first] - start  # the wait for the first visit (m = 1)
        self.events = np.bincount(user, minlength=len(users)).astype(np.float64)
        self.exposure = np.bincount(user, exposure, minlength=len(users))
        self.span = max(end - start, 1.0)

    def fit(self, weights: np.ndarray | None = None) -> dict[str, float]:
        """mean_return_hours H, return_rate_spread sigma and the share P of users who
        appear in the span, by maximum likelihood (`weights`: a bootstrap over users)."""
        w = np.ones_like(self.events) if weights is None else weights
        w = w / w.sum()
        nodes, node_weights = _HERMITE
        z = math.sqrt(2.0) * nodes
        log_nw = np.log(node_weights / math.sqrt(math.pi))
        x = np.stack([np.ones_like(z), z])  # d eta_j / d (mu, sigma)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            """-mean_u w_u (log L_u - log P) with its gradient and Hessian in (mu, sigma)."""
            rate = np.exp(theta[0] + theta[1] * z)  # (nodes,)
            terms = log_nw + self.events[:, None] * np.log(rate) \
                - self.exposure[:, None] * rate  # (users, nodes)
            top = terms.max(1, keepdims=True)
            post = np.exp(terms - top)
            total = post.sum(1, keepdims=True)
            post /= total
            log_lik = w @ (np.log(total[:, 0]) + top[:, 0])
            slope = self.events[:, None] - self.exposure[:, None] * rate  # dt / deta
            mean_slope = np.einsum("uj,uj,kj->uk", post, slope, x)  # (users, 2)
            curvature = -self.exposure[:, None] * rate  # d2t / deta2
            second = np.einsum("u,uj,uj,kj,lj->kl", w, post, curvature + slope ** 2, x, x)
            grad = w @ mean_slope
            hess = second - np.einsum("u,uk,ul->kl", w, mean_slope, mean_slope)
            survive = np.exp(-rate * self.span)
            q = -np.expm1(-rate * self.span)  # P(appear | node)
            dq = survive * rate * self.span
            d2q = dq * (1.0 - rate * self.span)
            weight = np.exp(log_nw)
            appear = weight @ q
            grad_a = x @ (weight * dq) / appear
            hess_a = (x * (weight * d2q)) @ x.T / appear - np.outer(grad_a, grad_a)
            value = -(log_lik - math.log(appear))
            return value, -(grad - grad_a), -(hess - hess_a)

        start = math.log(float((w @ self.events) / (w @ self.exposure)))
        theta = _newton(objective, np.array([start, 0.5]), lower=np.array([-50.0, 1e-3]))
        rate = np.exp(theta[0] + theta[1] * z)
        appear = float(np.exp(log_nw) @ -np.expm1(-rate * self.span))
        return {"mean_return_hours": math.exp(-theta[0]) / HOUR,
                "return_rate_spread": float(theta[1]), "appear": appear}


def _newton(objective: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
            theta: np.ndarray, lower: np.ndarray, iterations: int = 100) -> np.ndarray:
    """Minimise a smooth objective (value, gradient, Hessian) of a small parameter vector:
    Newton steps with a backtracking line search (gradient steps where the Hessian is not
    positive definite), kept above `lower`."""
    value, grad, hess = objective(theta)
    for _ in range(iterations):
        try:
            step = -np.linalg.solve(hess, grad)
            if not step @ grad < 0:
                raise np.linalg.LinAlgError("not a descent direction")
        except np.linalg.LinAlgError:
            step = -grad / max(np.abs(grad).max(), 1e-12)
        size = 1.0
        while size > 1e-10:
            trial = np.maximum(theta + size * step, lower)
            trial_value, trial_grad, trial_hess = objective(trial)
            if trial_value <= value:
                break
            size /= 2
        else:
            break
        done = np.max(np.abs(trial - theta)) < 1e-10
        theta, value, grad, hess = trial, trial_value, trial_grad, trial_hess
        if done:
            break
    return theta


# ---------------------------------------------------------------------------------------
# News, topics
def _publications(logs: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Each item's publication time (time - item_age at its first impression) and topic,
    and whether the logs date items by their first impression (every first age is 0)."""
    first = logs.sort_values("time", kind="stable").drop_duplicates("item_id")
    items = pd.DataFrame({"pub_time": first["time"].to_numpy(np.float64)
                          - first["item_age"].to_numpy(np.float64),
                          "topic": first["topic"].to_numpy()})
    return items, bool((first["item_age"].to_numpy() <= 0).all())


def _news_rate(items: pd.DataFrame, start: float, end: float,
               first_seen: bool) -> tuple[float, float, float, float]:
    """(rate per hour, low, high, window hours): items published in the window, with a
    normal-approximation Poisson interval."""
    lo = start + (end - start) / 2 if first_seen else start
    hi = end - HOUR
    hours = (hi - lo) / HOUR
    if hours <= 0:
        return math.nan, math.nan, math.nan, 0.0
    count = float(((items["pub_time"] >= lo) & (items["pub_time"] < hi)).sum())
    half = 1.96 * math.sqrt(max(count, 1.0))
    return count / hours, max(count - half, 0.0) / hours, (count + half) / hours, hours


def _trend_volatility(items: pd.DataFrame, start: float, end: float,
                      n_topics: int) -> tuple[float, list[float]]:
    """Per sqrt(day): the excess variance of day-to-day changes in the topics' log shares
    of new items over multinomial noise, averaged over pairs of full days (NaN with fewer
    than 2 pairs); also the per-pair values (for an interval)."""
    day = np.floor((items["pub_time"].to_numpy() - start) / DAY).astype(np.int64)
    full_days = int((end - start) // DAY)
    keep = (day >= 0) & (day < full_days)
    counts = np.zeros((max(full_days, 0), n_topics))
    np.add.at(counts, (day[keep], items["topic"].to_numpy()[keep]), 1.0)
    pairs = []
    for a, b in zip(counts[:-1], counts[1:], strict=True):
        used = (a >= 5) & (b >= 5)
        if used.sum() < 3:
            continue
        change = np.log(b[used] / b.sum()) - np.log(a[used] / a.sum())
        change -= change.mean()
        noise = 1.0 / a[used] + 1.0 / b[used]
        pairs.append(float((np.sum(change ** 2) - np.sum(noise)) / (used.sum() - 1)))
    if len(pairs) < 2:
        return math.nan, pairs
    return math.sqrt(max(float(np.mean(pairs)), 0.0)), pairs


# ---------------------------------------------------------------------------------------
def _visits(logs: pd.DataFrame) -> pd.DataFrame:
    """One row per visit: visit_id, user_id, time, clicks, and whether it was explored."""
    explored = logs["explored"] if "explored" in logs.columns else pd.Series(True,
                                                                             logs.index)
    frame = logs.assign(explored=explored.astype(bool))
    return frame.groupby("visit_id", sort=False).agg(
        user_id=("user_id", "first"), time=("time", "first"), clicks=("click", "sum"),
        explored=("explored", "first")).reset_index()


def _randomised_rows(logs: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    if "explored" in logs.columns:
        explored = logs["explored"].astype(bool)
        if explored.any():
            share = logs.loc[explored, "visit_id"].nunique() / logs["visit_id"].nunique()
            notes.append(f"click statistics use the explored (uniformly random) visits: "
                         f"{share:.1%} of the visits")
            return logs[explored]
        notes.append("the logs mark no visit as explored: click statistics use every visit, "
                     "as if its slate had been randomised")
    else:
        notes.append("the logs have no 'explored' column: click statistics use every visit "
                     "and are valid only when positions were randomised")
    return logs


def simulate_logs(world: WorldConfig, days: float, seed: int = 0,
                  max_users: int | None = None) -> pd.DataFrame:
    """Logs of `world` under a uniformly random logging policy for `days` (at most
    `max_users` users): what calibrate matches and the fidelity report compares with.

    Batches hold about an hour of visits (n_users / mean_return_hours, 1 to 256): a
    batch's visits are of distinct users, so in a small world of rare visitors a batch of
    fixed size would span days, and a frequent visitor's next visit would come before the
    batch's latest."""
    from drnsim.logs import collect_logs

    if max_users is not None and world.n_users > max_users:
        world = world.replace(n_users=max_users)
    return collect_logs(world, None, days=days, seed=seed,
                        batch_size=int(np.clip(world.n_users // world.mean_return_hours,
                                               1, 256)))


def _candidates(logs: pd.DataFrame, slate_size: int, base: int, notes: list[str]) -> int:
    """n_candidates: the largest n_valid_candidates of the logs (at least `slate_size`),
    or without that column the base's (at least `slate_size`), with a note."""
    if "n_valid_candidates" not in logs.columns:
        notes.append(f"the logs have no 'n_valid_candidates' column: n_candidates is not "
                     f"identified (kept: {max(base, slate_size)})")
        return max(base, slate_size)
    values = pd.to_numeric(logs["n_valid_candidates"], errors="coerce").to_numpy(np.float64)
    first_bad(logs, ~(np.isfinite(values) & (values >= 1) & (values == np.round(values))),
              "n_valid_candidates", "must hold whole numbers >= 1")
    return max(int(values.max()), slate_size)


def _span_days(logs: pd.DataFrame) -> float:
    time = logs["time"].to_numpy(np.float64)
    return max(float(time.max() - time.min()) / DAY, 1.0 / 24)


def calibrate(logs: pd.DataFrame, base: WorldConfig | dict | None = None, seed: int = 0,
              n_bootstrap: int = 200, sim_users: int = 2000, sim_seeds: int = 3,
              echo: Callable[[str], None] | None = None) -> Calibration:
    """Fit the world parameters that `logs` identify (module docstring), starting from
    `base` (default `WorldConfig()`) for everything the logs leave open. `n_bootstrap`
    resamples of users give the intervals; the simulations that fit the attractiveness
    weights run `sim_seeds` worlds of at most `sim_users` users over the logs' span;
    `seed` seeds all of them."""
    check_options(seed, n_bootstrap, sim_users, sim_seeds)
    seed, n_bootstrap, sim_users, sim_seeds = map(int, (seed, n_bootstrap, sim_users, sim_seeds))
    check_logs(logs)
    base = WorldConfig.coerce(base)
    say = echo or (lambda _: None)
    notes: list[str] = []
    if base.tradeoff_strength != 0:
        notes.append(f"tradeoff_strength set to 0 (base: {base.tradeoff_strength:g}): the "
                     "estimators fit the clicks-only return and click model, and click logs "
                     "do not identify the long-term world (bait, satisfaction, engagement)")
        base = base.replace(tradeoff_strength=0.0)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xCA1B]))
    users = pd.Index(np.unique(logs["user_id"].to_numpy()))
    visits = _visits(logs)
    spec = FeatureSpec.from_logs(logs)
    rows = _randomised_rows(logs, notes)
    clicks = _Clicks(rows, users)
    returns = _Returns(visits, users, base)
    weights = rng.multinomial(len(users), np.full(len(users), 1.0 / len(users)),
                              size=n_bootstrap).astype(np.float64)

    say("fitting the return model and the click statistics")
    real = clicks.statistics()
    kappa = max(real["kappa"], 0.0)
    if spec.slate_size < 2 or clicks.k.max() < 2:
        kappa = base.position_bias_kappa
        notes.append("every slate has one item: position_bias_kappa is not identified (kept)")
    gaps = returns.fit()
    boot_clicks = [clicks.statistics(w) for w in weights]
    boot_returns = [returns.fit(w) for w in weights]
    age = rows["item_age"].to_numpy(np.float64) / HOUR
    lifetime = float(age.max())
    start, end = float(visits["time"].min()), float(visits["time"].max())
    items, first_seen = _publications(logs)
    rate, rate_low, rate_high, rate_hours = _news_rate(items, start, end, first_seen)
    if first_seen:
        notes.append("the logs date items by their first impression: news_per_hour counts "
                     "the items first shown in the second half of the span")
    volatility, pairs = _trend_volatility(items, start, end, spec.n_topics)
    n_users = int(round(len(users) / gaps["appear"]))

    table: list[dict[str, Any]] = []

    def add(name: str, value: float, low: float, high: float, estimator: str) -> None:
        table.append({"parameter": name, "value": value, "low": low, "high": high,
                      "base": getattr(base, name), "estimator": estimator})

    def interval(samples: list[float]) -> tuple[float, float]:
        lo, hi = np.nanpercentile(samples, [2.5, 97.5])
        return float(lo), float(hi)

    add("position_bias_kappa", kappa, *interval([max(b["kappa"], 0.0) for b in boot_clicks]),
        "Poisson fit of CTR by position, p_k = c k^-kappa (randomised slates)")
    for name in ("mean_return_hours", "return_rate_spread"):
        add(name, gaps[name], *interval([b[name] for b in boot_returns]),
            "frailty exponential-gap likelihood over users, conditional on appearing")
    users_low, users_high = interval([len(users) / b["appear"] for b in boot_returns])
    add("n_users", n_users, math.floor(users_low), math.ceil(users_high),  # whole, as n_users
        "users in the logs / P(a user appears in the span)")
    if rate > 0:
        add("news_per_hour", rate, rate_low, rate_high,
            f"items published per hour over {rate_hours:.0f} h (Poisson interval)")
    elif rate_hours <= 0:
        notes.append("the logs span under an hour: news_per_hour is not identified (kept)")
    else:
        notes.append(f"no item is published in the {rate_hours:.0f} h counted"
                     + (" (every item is first shown in the first half of the span)"
                        if first_seen else "") + ": news_per_hour is not identified (kept)")
    lifetime_boot = [float(np.max(age[w[clicks.user] > 0], initial=0.0)) for w in weights]
    add("item_lifetime_hours", max(lifetime, 1e-3), *interval(lifetime_boot),
        "largest item age shown")
    if math.isfinite(volatility):
        add("topic_trend_volatility", volatility,
            *interval([math.sqrt(max(float(np.mean(rng.choice(pairs, len(pairs)))), 0.0))
                       for _ in range(n_bootstrap)]),
            f"excess day-to-day change of topic log shares ({len(pairs)} day pairs)")
    else:
        notes.append("fewer than 3 full days of news: topic_trend_volatility is not "
                     "identified (kept)")

    fitted = {row["parameter"]: float(row["value"]) for row in table}
    if n_users < 16:
        notes.append(f"the fitted n_users ({n_users}) is below 16, the smallest world that "
                     "compare's batches allow: the fitted world has 16 users")
    world = base.replace(
        n_users=max(n_users, 16), n_topics=spec.n_topics, n_providers=spec.n_providers,
        n_age_buckets=spec.n_age_buckets, n_genders=spec.n_genders,
        n_regions=spec.n_regions, n_devices=spec.n_devices, slate_size=spec.slate_size,
        n_candidates=_candidates(logs, spec.slate_size, base.n_candidates, notes),
        **{k: v for k, v in fitted.items() if k != "n_users"})

    say("fitting click_bias, freshness and quality by simulation")
    world, matched, simulated = _match_attractiveness(
        world, real, boot_clicks, kappa, _span_days(logs), seed, sim_users, sim_seeds, notes,
        say)
    for name, (value, low, high, estimator) in matched.items():
        add(name, value, low, high, estimator)
    for name in ("n_topics", "n_providers", "n_age_buckets", "n_genders", "n_regions",
                 "n_devices", "slate_size"):
        value = getattr(world, name)
        add(name, value, value, value, "from the logs (largest id + 1)")
    if "n_valid_candidates" in logs.columns:
        add("n_candidates", world.n_candidates, world.n_candidates, world.n_candidates,
            "from the logs (largest n_valid_candidates, at least slate_size)")
    notes.append("not identified by click logs, kept at the base's values: "
                 + ", ".join(NOT_IDENTIFIED) + ", and the long-term fields of the world "
                 "(bait, satisfaction, dwell, boredom, engagement), if the base has them")
    parameters = pd.DataFrame(table)
    statistics = {**{f"real_{k}": v for k, v in real.items()},
                  **{f"simulated_{k}": v for k, v in simulated.items()}}
    return Calibration(world=world, base=base, parameters=parameters, notes=notes,
                       statistics=statistics)


_STATISTICS = ("log_c", "age_slope", "dispersion")


def _match_attractiveness(world: WorldConfig, real: dict[str, float],
                          boot: list[dict[str, float]], kappa: float, days: float, seed: int,
                          sim_users: int, sim_seeds: int, notes: list[str],
                          say: Callable[[str], None]) -> tuple[WorldConfig, dict, dict]:
    """(b0, log tau, b2) such that the world, logged with a random policy, gives the real
    logs' (log c, age slope, dispersion), averaged over `sim_seeds` simulated worlds (their
    random structure, e.g. how well the news' topics suit the users' interests, moves
    these statistics as much as sampling does). A start from the real statistics (module
    docstring), Gauss-Newton steps that must each fit better, with a finite-difference
    Jacobian (common random numbers), then one solve of the linear map fitted to every
    simulated point near the answer. A parameter whose statistic the model cannot reach
    stays fixed (with a note)."""
    names = list(SIMULATED_PARAMETERS)
    stats = list(_STATISTICS)
    if real["age_slope"] >= 0:
        notes.append(f"click-through does not fall with item age (slope {real['age_slope']:+.3g}"
                     " per hour): freshness_weight set to 0, freshness_tau_hours not fitted")
        world = world.replace(freshness_weight=0.0)
        names.remove("freshness_tau_hours")
        stats.remove("age_slope")
    target = np.array([real[s] for s in stats])
    # never the seeds of simulated logs (fidelity's)
    seeds = [_derived_seed(seed, 1000 + j) for j in range(sim_seeds)]

    def to_params(x: np.ndarray) -> dict[str, float]:
        values = dict(zip(names, map(float, x), strict=True))
        if "freshness_tau_hours" in values:
            values["freshness_tau_hours"] = math.exp(values["freshness_tau_hours"])
        if "quality_weight" in values:
            values["quality_weight"] = max(values["quality_weight"], 0.0)
        return values

    cache: dict[tuple, tuple[np.ndarray, list[_Clicks]]] = {}

    def simulate(x: np.ndarray) -> tuple[np.ndarray, list[_Clicks]]:
        """Mean statistics over the simulated worlds, and each world's rows."""
        key = tuple(np.round(x, 10))
        if key not in cache:
            fitted = world.replace(**to_params(x))
            sims = [_Clicks(logs, pd.Index(np.unique(logs["user_id"].to_numpy())))
                    for logs in (simulate_logs(fitted, days, s, sim_users) for s in seeds)]
            values = [sim.statistics(kappa=kappa) for sim in sims]
            cache[key] = (np.array([[v[s] for s in stats] for v in values]).mean(0), sims)
        return cache[key]

    x = np.array([math.log(world.freshness_tau_hours) if n == "freshness_tau_hours"
                  else getattr(world, n) for n in names])
    if "freshness_tau_hours" in names:  # d log a / d age ~ -(w_f / tau)(1 - a): the tau
        # this slope implies is the start when the base's is more than a factor e off
        mean_a = min(math.exp(real["log_c"]), 0.99)
        implied = math.log(np.clip(world.freshness_weight * (1.0 - mean_a)
                                   / -real["age_slope"], 0.05, 1e6))
        j = names.index("freshness_tau_hours")
        if abs(implied - x[j]) > 1.0:
            x[j] = implied
    steps = np.array([{"click_bias": 0.3, "freshness_tau_hours": 0.2,
                       "quality_weight": 0.3}[n] for n in names])
    current, sims = simulate(x)
    for _ in range(4):  # b0 alone first: shift the logit by the gap in mean attractiveness
        gap = _logit(math.exp(target[0])) - _logit(math.exp(current[0]))
        if abs(target[0] - current[0]) < 0.05:
            break
        x[0] += float(np.clip(gap, -4.0, 4.0))
        current, sims = simulate(x)
    noise = _bootstrap(sims[0], stats, kappa, 50, seed).std(0) / math.sqrt(len(seeds))
    real_boot = np.array([[b[s] for s in stats] for b in boot])
    scale = real_boot.std(0) + noise  # a statistic's residual counts in units of its noise
    lower = np.array([0.0 if n == "quality_weight" else -np.inf for n in names])

    def misfit(values: np.ndarray) -> float:
        return float(np.sum(((target - values) / scale) ** 2))

    def bounded_step(jac: np.ndarray, residual: np.ndarray) -> np.ndarray:
        """The noise-weighted least-squares step, a parameter it would take below its bound
        held at the bound and the others solved again for what is left (an active set)."""
        step, free = np.zeros(len(names)), np.ones(len(names), bool)
        while free.any():
            left = residual - jac[:, ~free] @ step[~free]
            step[free] = np.linalg.lstsq(jac[:, free] / scale[:, None], left / scale,
                                         rcond=None)[0]
            crossing = free & (x + step < lower)
            if not crossing.any():
                break
            free &= ~crossing
            step[crossing] = (lower - x)[crossing]
        return step

    jacobian = np.empty((len(stats), len(names)))
    for j in range(len(names)):
        moved = x.copy()
        moved[j] += steps[j]
        jacobian[:, j] = (simulate(moved)[0] - current) / steps[j]
    for iteration in range(6):
        residual = target - current
        say(f"  step {iteration}: " + ", ".join(
            f"{n}={v:.4g}" for n, v in to_params(x).items()) + "; residual " + ", ".join(
            f"{s} {r:+.3g}" for s, r in zip(stats, residual, strict=True)))
        if np.all(np.abs(residual) < noise):  # as close as the simulation can tell
            break
        step = bounded_step(jacobian, residual)  # Gauss-Newton within the bounds
        step /= max(np.max(np.abs(step) / (2 * steps)), 1.0)  # at most 2 probe steps
        for size in (1.0, 0.5, 0.25):  # backtrack: keep only a step that fits better
            trial = np.maximum(x + size * step, lower)
            values = simulate(trial)[0]
            if misfit(values) < misfit(current):
                break
        else:
            break  # no better point along the step: the closest this model gets
        moved = trial - x  # Broyden: the Jacobian learns what the step did
        jacobian += np.outer(values - current - jacobian @ moved, moved) / (moved @ moved)
        x, current = trial, values
    # every simulated point near the answer fixes a linear map x -> statistics: solve it,
    # and keep the answer when it fits better
    points = np.array([np.array(k) for k in cache])
    values = np.array([v[0] for v in cache.values()])
    near = np.all(np.abs(points - x) <= 3 * steps, axis=1)
    if near.sum() > len(names) + 1:
        design = np.c_[np.ones(near.sum()), points[near] - x]
        coef = np.linalg.lstsq(design, values[near], rcond=None)[0]
        if np.linalg.matrix_rank(coef[1:].T) == len(names):
            step = np.linalg.solve(coef[1:].T, target - coef[0])
            trial = np.maximum(x + step, lower)
            if np.all(np.abs(step) <= 2 * steps) and misfit(simulate(trial)[0]) < misfit(
                    current):
                jacobian, x = coef[1:].T, trial
    current, sims = simulate(x)
    missed = np.abs(target - current) > 3 * scale
    for s, t, c in zip(np.array(stats)[missed], target[missed], current[missed], strict=True):
        notes.append(f"the fitted world does not reproduce the logs' {s} ({c:.4g} simulated, "
                     f"{t:.4g} real): with the hidden weights at the base's values the "
                     "simulator cannot reach it; the simulation-fitted parameters are the "
                     "closest it got, not an estimate")
    # interval: the real statistics' bootstrap deviations, plus the spread between
    # simulated worlds twice (the real world is one such draw; the mean of the simulated
    # ones has it / sim_seeds), less the sampling noise already in the bootstrap
    rng = np.random.default_rng(seed + 3)
    per_world = np.array([[v[s] for s in stats] for v in
                          (sim.statistics(kappa=kappa) for sim in sims)])
    between = per_world.var(0, ddof=1) if len(sims) > 1 else np.zeros(len(stats))
    within = _bootstrap(sims[0], stats, kappa, 50, seed).var(0)
    world_var = np.maximum(between - within, 0.0) + between / len(sims)
    deviations = (real_boot - real_boot.mean(0)
                  + rng.standard_normal(real_boot.shape) * np.sqrt(world_var))
    draws = x + np.linalg.lstsq(jacobian, deviations.T, rcond=None)[0].T
    fitted = to_params(x)
    matched = {}
    for j, name in enumerate(names):
        values = np.array([to_params(d)[name] for d in draws])
        low, high = np.nanpercentile(values, [2.5, 97.5])
        matched[name] = (fitted[name], float(low), float(high),
                         f"simulation fit to the real {stats[j]} (random-policy logs, "
                         f"{len(seeds)} worlds of {min(world.n_users, sim_users)} users, "
                         f"{days:.3g} days)")
    simulated = dict(zip(stats, map(float, current), strict=True))
    return world.replace(**fitted), matched, simulated


def _bootstrap(clicks: _Clicks, stats: list[str], kappa: float, n_bootstrap: int,
               seed: int) -> np.ndarray:
    """(n_bootstrap, statistics) over resampled users of simulated logs."""
    weights = np.random.default_rng(seed + 2).multinomial(
        clicks.n_users, np.full(clicks.n_users, 1.0 / clicks.n_users), size=n_bootstrap)
    return np.array([[b[s] for s in stats] for b in
                     (clicks.statistics(w.astype(np.float64), kappa=kappa) for w in weights)])


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1.0 - p))


# ---------------------------------------------------------------------------------------
# Fidelity: real vs simulated statistics
DISTRIBUTIONS = {"clicks_per_user": "clicks per user over the span",
                 "visits_per_user": "visits per user over the span",
                 "gap_hours": "hours between a user's visits",
                 "item_popularity": "clicks per item / mean clicks per item",
                 "click_age_hours": "age of clicked items (hours)"}


def log_statistics(logs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The statistics the fidelity report compares: CTR by position (randomised slates),
    the distributions of `DISTRIBUTIONS`, and the topics' click shares, largest first."""
    rows = logs[logs["explored"].astype(bool)] if "explored" in logs.columns and \
        logs["explored"].astype(bool).any() else logs
    by_position = rows.groupby("position")["click"].mean()
    visits = _visits(logs).sort_values(["user_id", "time"], kind="stable")
    per_user = visits.groupby("user_id").agg(clicks=("clicks", "sum"), visits=("time", "size"))
    same_user = visits["user_id"].to_numpy()[1:] == visits["user_id"].to_numpy()[:-1]
    gaps = np.diff(visits["time"].to_numpy())[same_user] / HOUR
    item_clicks = logs.groupby("item_id")["click"].sum().to_numpy(np.float64)
    topic_clicks = np.sort(logs.groupby("topic")["click"].sum().to_numpy(np.float64))[::-1]
    return {"ctr_by_position": by_position.to_numpy(np.float64),
            "clicks_per_user": per_user["clicks"].to_numpy(np.float64),
            "visits_per_user": per_user["visits"].to_numpy(np.float64),
            "gap_hours": gaps,
            "item_popularity": item_clicks / max(item_clicks.mean(), 1e-12),
            "click_age_hours": logs.loc[logs["click"] == 1, "item_age"].to_numpy(np.float64)
            / HOUR,
            "topic_shares": topic_clicks / max(topic_clicks.sum(), 1e-12)}


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance: the largest gap between the two empirical CDFs."""
    if len(a) == 0 or len(b) == 0:
        return math.nan
    grid = np.union1d(a, b)
    fa = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


@dataclass
class FidelityReport:
    """Real vs simulated statistics: one table row per statistic, the figure, and the
    simulated logs they came from."""

    table: pd.DataFrame
    figure: Any
    simulated: pd.DataFrame


def fidelity(logs: pd.DataFrame, world: WorldConfig, seed: int = 0,
             max_users: int = 5000) -> FidelityReport:
    """Simulate `world` over the logs' span under a random logging policy (at most
    `max_users` users: every statistic is per user or relative, so the sizes need not
    match) and compare it with `logs`.

    Distances: for the distributions, the Kolmogorov-Smirnov distance (one scale, 0 to 1,
    for every statistic whatever its unit or tail, unchanged by a log scale; it is the
    largest vertical gap of the ECDFs plotted), with the two-sample 5% critical value
    1.358 sqrt((n + m) / (n m)) beside it (a distance above it is more than sampling noise);
    for CTR by position the relative L1 distance sum_k |real_k - sim_k| / sum_k real_k (the
    share of the click-through curve that is misplaced); for topic shares the total
    variation distance between the shares sorted largest first (the simulator's topics are
    not the real ones, so only how concentrated they are can match)."""
    seed = _validate.seed("seed", seed)
    check_logs(logs)
    world = WorldConfig.coerce(world)
    simulated = simulate_logs(world, _span_days(logs), _derived_seed(seed, 7), max_users)
    real, sim = log_statistics(logs), log_statistics(simulated)
    rows = []
    k = min(len(real["ctr_by_position"]), len(sim["ctr_by_position"]))
    r, s = real["ctr_by_position"][:k], sim["ctr_by_position"][:k]
    rows.append({"statistic": "ctr_by_position", "real_mean": float(r.mean()),
                 "sim_mean": float(s.mean()), "real_median": float(np.median(r)),
                 "sim_median": float(np.median(s)),
                 "distance": float(np.abs(r - s).sum() / max(r.sum(), 1e-12)),
                 "distance_kind": "relative L1", "critical_5pct": math.nan,
                 "n_real": len(r), "n_sim": len(s)})
    for name in DISTRIBUTIONS:
        a, b = real[name], sim[name]
        rows.append({"statistic": name, "real_mean": _mean(a), "sim_mean": _mean(b),
                     "real_median": _median(a), "sim_median": _median(b),
                     "distance": ks_distance(a, b), "distance_kind": "Kolmogorov-Smirnov",
                     "critical_5pct": 1.358 * math.sqrt((len(a) + len(b)) / (len(a) * len(b)))
                     if len(a) and len(b) else math.nan, "n_real": len(a), "n_sim": len(b)})
    a, b = real["topic_shares"], sim["topic_shares"]
    size = max(len(a), len(b))
    a, b = np.pad(a, (0, size - len(a))), np.pad(b, (0, size - len(b)))
    rows.append({"statistic": "topic_shares", "real_mean": float(a[0]),
                 "sim_mean": float(b[0]), "real_median": float(np.median(a)),
                 "sim_median": float(np.median(b)),
                 "distance": float(0.5 * np.abs(a - b).sum()),
                 "distance_kind": "total variation (sorted shares)", "critical_5pct": math.nan,
                 "n_real": int((real["topic_shares"] > 0).sum()),
                 "n_sim": int((sim["topic_shares"] > 0).sum())})
    table = pd.DataFrame(rows)
    return FidelityReport(table=table, figure=_fidelity_figure(real, sim, table),
                          simulated=simulated)


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else math.nan


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if len(x) else math.nan


def _fidelity_figure(real: dict[str, np.ndarray], sim: dict[str, np.ndarray],
                     table: pd.DataFrame) -> Any:
    """Side by side: CTR by position, the ECDFs of the distributions, the topic shares."""
    from drnsim.plotting import _figure

    fig = _figure((14.0, 6.5))
    axes = fig.subplots(2, 4).ravel()
    distance = table.set_index("statistic")["distance"]
    colors = {"real": "black", "simulated": "tab:orange"}
    ax = axes[0]
    for label, stats in (("real", real), ("simulated", sim)):
        ctr = stats["ctr_by_position"]
        ax.plot(np.arange(1, len(ctr) + 1), ctr, marker="o", color=colors[label], label=label)
    ax.set(xlabel="position", ylabel="CTR",
           title=f"CTR by position (rel. L1 {distance['ctr_by_position']:.3f})")
    ax.legend(fontsize="small")
    for ax, (name, label) in zip(axes[1:6], DISTRIBUTIONS.items(), strict=True):
        for which, stats in (("real", real), ("simulated", sim)):
            x = np.sort(stats[name])
            if len(x):
                ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post",
                        color=colors[which], label=which)
        if name in ("gap_hours", "item_popularity", "click_age_hours") and \
                np.concatenate([real[name], sim[name]]).min(initial=1.0) > 0:
            ax.set_xscale("log")
        ax.set(xlabel=label, ylabel="ECDF", title=f"{name} (KS {distance[name]:.3f})")
    ax = axes[6]
    for which, stats in (("real", real), ("simulated", sim)):
        shares = stats["topic_shares"]
        ax.plot(np.arange(1, len(shares) + 1), shares, marker=".", color=colors[which],
                label=which)
    ax.set(xlabel="topic rank", ylabel="share of clicks",
           title=f"topic shares (TV {distance['topic_shares']:.3f})")
    axes[7].axis("off")
    axes[7].text(0.0, 1.0, "real logs vs the fitted world\n(simulated with a random\n"
                 "logging policy, same span)", va="top", fontsize="small")
    for ax in axes[:7]:
        ax.grid(alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------------
# Writing the results
CALIBRATION_OUTPUTS = ("world.yaml", "parameters.csv", "fidelity.csv", "fidelity.png",
                       "report.md")
_MARKER = "# written by drnsim calibrate"


def check_output_folder(out: str | Path, option: str = "out") -> Path:
    """`out` may be written by calibrate: new, empty, or holding only an earlier calibrate's
    outputs (world.yaml starts with its marker) and temporary files of them (`atomic_path`'s,
    left by a killed run). Anything else is a file calibrate did not write: ValueError
    naming `option` and those files."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{option} {out} is a file, not a folder")
    names = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    world = out / "world.yaml"
    ours = world.is_file() and world.read_text(errors="replace").startswith(_MARKER)
    foreign = [name for name in names if not (
        (ours and name in CALIBRATION_OUTPUTS) or ((m := TEMPORARY_NAME.match(name)) is not None
                                                   and m.group(1) in CALIBRATION_OUTPUTS))]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                          if len(foreign) > 5 else "")
        raise ValueError(f"{option} {out} already holds {shown}, not written by drnsim "
                         "calibrate; choose a new or empty folder")
    return out


def write_calibration(out: str | Path, calibration: Calibration, report: FidelityReport,
                      source: str = "logs") -> list[Path]:
    """world.yaml (a valid `drnsim compare --config`, written first: it marks the folder
    as calibrate's), parameters.csv, fidelity.csv, fidelity.png and report.md, each
    written atomically."""
    from drnsim.results import Experiment, write_csv, write_figure, write_text

    out = check_output_folder(out)
    experiment = Experiment(agents={"random": {}, "popular": {}}, world=calibration.world)
    header = f"{_MARKER} from {source}; drnsim compare --config this-file --out DIR\n"
    paths = [write_text(out / "world.yaml", header + experiment.to_yaml()),
             write_csv(out / "parameters.csv", calibration.parameters),
             write_csv(out / "fidelity.csv", report.table),
             write_figure(out / "fidelity.png", report.figure),
             write_text(out / "report.md", format_report(calibration, report, source))]
    return paths


def format_report(calibration: Calibration, report: FidelityReport, source: str) -> str:
    """The calibration as Markdown: fitted parameters, fidelity, notes."""
    params = calibration.parameters.copy()
    fid = report.table.copy()
    lines = [f"# Calibration of {source}", "", "## Fitted parameters (95% intervals)", "",
             _markdown(params[["parameter", "value", "low", "high", "base", "estimator"]]), "",
             "## Fidelity: real vs simulated", "",
             _markdown(fid[["statistic", "real_mean", "sim_mean", "real_median", "sim_median",
                            "distance", "distance_kind", "critical_5pct"]]), "",
             "![fidelity](fidelity.png)", "", "## Notes", ""]
    lines += [f"- {note}" for note in calibration.notes]
    return "\n".join(lines) + "\n"


def _markdown(frame: pd.DataFrame) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *body])


__all__ = ["CALIBRATION_OUTPUTS", "Calibration", "FidelityReport", "NOT_IDENTIFIED",
           "OPTION_BOUNDS", "SIMULATED_PARAMETERS", "calibrate", "check_options",
           "check_output_folder", "fidelity", "format_report", "ks_distance",
           "log_statistics", "simulate_logs", "write_calibration"]
