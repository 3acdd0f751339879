"""`estimate(logs, policy, ...)`: a target policy's value from logged slates, every
estimator with a 95% interval, as a DataFrame.

The steps, each usable on its own (the benchmark reuses the logs and the reward model
across targets): `LoggedSlates.from_logs` checks and lays out the logs; `make_target` binds
and trains the target; a `ZooRewardModel` is fitted on the logs for DM and DR;
`target_feedback` ranks every logged visit's candidates with the target and collects the
`SlateFeedback` the estimators read; `run_estimators` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from drnsim.config import WorldConfig
from drnsim.features import FeatureSpec
from drnsim.logs import LOG_PROBABILITIES
from drnsim.metrics import expected_clicks
from drnsim.ope.data import TRUTH_COLUMN, LoggedSlates
from drnsim.ope.estimators import ESTIMATORS, SlateFeedback, missing_inputs, value_and_interval
from drnsim.ope.reward import RewardModel, ZooRewardModel
from drnsim.ope.targets import make_target
from drnsim.policies import SlateDistribution, SlatePolicy

METRICS = ("clicks_per_visit", "ctr")
COLUMNS = ["estimator", "metric", "estimate", "low", "high", "se", "n_visits", "interval",
           "assumption", "note"]
TARGET_FIELDS = {"target_marginal", "target_prefix", "target_slate", "target_inclusion",
                 "target_marginal_greedy", "target_inclusion_greedy"}
MODEL_FIELDS = {"rhat", "dm_slot", "next_expected"}
#: Slate IPS and SNIPS get a note when fewer logged slates than this carry weight.
FEW_MATCHES = 30


@dataclass
class Diagnostics:
    """What the estimators do not report: ``overlap`` = mean over logged slots of
    pi_k(s_ik), the share of logged (slot, item) pairs the target would also show there
    (an unbiased estimate of E_mu[pi_k(s_k)]); ``logged_truth`` (n,) = the target's expected
    clicks on each logged visit under the hidden truth (simulator logs with
    ``truth=True``; the exact estimand of every estimator), else None."""

    overlap: float
    logged_truth: np.ndarray | None = None


def position_bias(config: WorldConfig, slate_size: int) -> np.ndarray:
    """theta_k of the world's position-based click model (docs/design.md section 2)."""
    from drnsim.world import World

    return World(config).position_bias[:slate_size]


def _expected_clicks_of(dist: SlateDistribution, attractiveness: np.ndarray,
                        config: WorldConfig, rng: np.random.Generator,
                        marginals: np.ndarray | None, n_samples: int = 256) -> np.ndarray:
    """E_{s ~ dist}[E[clicks | s]] per visit under the hidden attractiveness (B, N): exact
    from the marginals for the position model (sum_k theta_k sum_a P_k(a) a_a) or for a
    deterministic slate; a Monte-Carlo mean over sampled slates for a stochastic one under
    the cascade."""
    k = dist.slate_size
    theta = position_bias(config, k)
    deterministic = dist.epsilon == 0.0 and dist.greedy is not None
    if config.click_model == "position" and not deterministic:
        p = marginals if marginals is not None else dist.marginals()[0]
        return (p * attractiveness[:, None, :]).sum(axis=2) @ theta
    slates = [dist.greedy] if deterministic else [dist.sample(rng) for _ in range(n_samples)]
    values = [expected_clicks(np.where(s >= 0, np.take_along_axis(
        attractiveness, np.maximum(s, 0), axis=1), 0.0), theta, config.click_model)
        for s in slates]
    return np.mean(values, axis=0)


def target_feedback(data: LoggedSlates, target: SlatePolicy, fields: set[str],
                    reward_model: RewardModel | None = None, chunk: int = 1024, seed: int = 0,
                    truth: bool = False) -> tuple[SlateFeedback, Diagnostics]:
    """Rank every logged visit's candidates with ``target`` and collect the `SlateFeedback`
    ``fields`` (plus the logging side the logs have) and the `Diagnostics`."""
    if not data.complete:
        raise ValueError("the logs hold only the shown items of visits with more valid "
                         "candidates (logs column 'n_valid_candidates'): a target policy "
                         "ranks candidates the logs never had. Log the candidates "
                         "(collect_logs(..., candidates=True)) and pass that table "
                         "(candidates=..., drnsim ope --candidates FILE)")
    n, k = data.slates.shape
    slates, shown = data.slates, data.shown
    greedy = data.slot.get("greedy_candidate_index")
    wants_pi = bool(fields & {"target_marginal_greedy", "target_inclusion_greedy",
                              "target_inclusion"})
    if wants_pi and greedy is None:
        fields = fields - {"target_marginal_greedy", "target_inclusion_greedy"}
    if (fields & MODEL_FIELDS) and reward_model is None:
        raise ValueError("DM and DR need a reward model (reward_model=)")
    out = {name: np.zeros((n, k)) for name in fields & (TARGET_FIELDS | MODEL_FIELDS)
           if name != "target_slate"}
    out["target_marginal"] = np.zeros((n, k))  # always: the overlap diagnostic
    wants_prefix = bool(fields & {"target_prefix", "target_slate"})
    if wants_prefix:
        out.update(target_prefix=np.zeros((n, k)), target_slate=np.zeros(n))
    logged_truth = np.zeros(n) if truth else None
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0BE]))
    reads_truth = bool(getattr(target, "reads_truth", False))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        rows = slice(start, stop)
        obs = data.observations(start, stop, truth=truth or reads_truth)
        dist = target.distribution(obs, k, rng)
        _check_support(dist, obs, data, start)
        s = slates[rows]
        out["target_marginal"][rows] = dist.marginals(at=s)[0]
        if wants_prefix:
            prefix = dist.prefix(s)
            out["target_prefix"][rows] = prefix
            last = np.maximum(shown[rows].sum(axis=1) - 1, 0)
            out["target_slate"][rows] = prefix[np.arange(stop - start), last]
        if "target_inclusion" in fields:
            out["target_inclusion"][rows] = dist.inclusion(s)[0]
        if "target_marginal_greedy" in fields:
            g = np.where(greedy[rows] >= 0, greedy[rows], -1)
            out["target_marginal_greedy"][rows] = dist.marginals(at=g)[0]
            out["target_inclusion_greedy"][rows] = dist.inclusion(g)[0]
        full = None
        if fields & MODEL_FIELDS:
            r_hat = reward_model.predict(obs, k)
            full = dist.marginals()[0]
            out["dm_slot"][rows] = (full * r_hat).sum(axis=2)
            out["rhat"][rows] = np.where(
                s >= 0, np.take_along_axis(r_hat, np.maximum(s, 0)[..., None], 2)[..., 0], 0.0)
            if "next_expected" in fields:
                out["next_expected"][rows] = (dist.next_item(s) * r_hat).sum(axis=2)
        if truth:
            logged_truth[rows] = _expected_clicks_of(dist, obs["candidates"][TRUTH_COLUMN],
                                                     data.config, rng, full)
    feedback = SlateFeedback(reward=data.reward, shown=shown, n_valid=data.n_valid,
                             logging_marginal=data.slot.get("propensity"),
                             logging_prefix=data.slot.get("prefix_propensity"),
                             logging_slate=data.visit.get("slate_propensity"),
                             logging_epsilon=data.visit.get("logging_epsilon"), **out)
    if greedy is not None:
        feedback.greedy_match = (greedy == slates) & shown
        feedback.greedy_overlap = ((slates[:, :, None] == greedy[:, None, :])
                                   & shown[:, :, None] & (greedy[:, None, :] >= 0)
                                   ).sum(axis=(1, 2))
    overlap = float(out["target_marginal"][shown].mean()) if shown.any() else float("nan")
    return feedback, Diagnostics(overlap=overlap, logged_truth=logged_truth)


def _check_support(dist: SlateDistribution, obs: dict, data: LoggedSlates, start: int) -> None:
    """A target whose greedy slate holds a candidate the visit does not have (an index
    outside the logged candidates) is an error naming the column."""
    if dist.greedy is None:
        return
    mask = obs["candidates"]["mask"] > 0
    g = dist.greedy
    bad = (g >= 0) & ~np.take_along_axis(mask, np.maximum(g, 0), axis=1)
    if bad.any():
        row = int(np.argmax(bad.any(axis=1)))
        raise ValueError(f"the target policy ranks candidate_index {int(g[row][bad[row]][0])} "
                         f"in visit_id {data.visit_id[start + row]}, which the logs never had "
                         "(no row of the candidates table, column 'candidate_index')")


def resolve_estimators(estimators: Any) -> tuple[list[str], bool]:
    """(names, explicit): the estimators to run (all by default) and whether the user
    named them (then a missing input is an error rather than a note)."""
    if estimators is None:
        return list(ESTIMATORS), False
    names = [estimators] if isinstance(estimators, str) else list(estimators)
    unknown = [name for name in names if name not in ESTIMATORS]
    if unknown or not names:
        raise ValueError(f"unknown estimators {unknown}; known: {', '.join(ESTIMATORS)}")
    return names, True


def run_estimators(feedback: SlateFeedback, names: list[str], explicit: bool = True,
                   interval: str = "analytic", n_bootstrap: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """The estimates of ``names`` (tidy: one row per estimator and metric, `COLUMNS`); ctr =
    clicks_per_visit / the logs' mean impressions per visit (the same for every policy on
    these candidates). A missing input is a ValueError naming it when ``explicit``, else a
    row of NaN with a note."""
    impressions = float(feedback.shown.sum(axis=1).mean())
    rows = []
    for name in names:
        spec = ESTIMATORS[name]
        missing = missing_inputs(name, feedback)
        if missing and explicit:
            raise ValueError(f"estimator {name!r} needs the logs columns {missing} "
                             f"({spec.assumption}); these logs lack them or hold NaN")
        note = ""
        if missing:
            value = low = high = se = float("nan")
            note = f"skipped: the logs lack these columns or hold NaN in them: {missing}"
        else:
            terms, weights = spec.function(feedback)
            value, low, high, se = value_and_interval(terms, weights, interval, n_bootstrap,
                                                      seed)
        if not missing and "target_slate" in spec.reads:
            matched = int((feedback.target_slate > 0).sum())
            if matched < FEW_MATCHES:
                note = (f"only {matched} logged slates have a positive weight: the interval "
                        "is unreliable")
        for metric, scale in zip(METRICS, (1.0, 1.0 / impressions), strict=True):
            rows.append({"estimator": name, "metric": metric, "estimate": value * scale,
                         "low": low * scale, "high": high * scale, "se": se * scale,
                         "n_visits": len(feedback), "interval": interval,
                         "assumption": spec.assumption, "note": note})
    return pd.DataFrame(rows, columns=COLUMNS)


def fit_reward_model(reward_model: Any, logs: pd.DataFrame, config: WorldConfig,
                     seed: int = 0) -> RewardModel:
    """A zoo model name -> `ZooRewardModel` fitted on ``logs``; an object with ``predict``
    as it is."""
    if isinstance(reward_model, str):
        return ZooRewardModel(reward_model, config, seed=seed).fit(logs)
    if not callable(getattr(reward_model, "predict", None)):
        raise ValueError("reward_model must be a zoo model name (drnsim.models.MODELS) or an "
                         "object with predict(obs, slate_size) -> (B, K, N)")
    return reward_model


#: FeatureSpec vocabularies that are WorldConfig fields of the same name.
_VOCABULARIES = ("n_users", "n_topics", "n_providers", "n_age_buckets", "n_genders",
                 "n_regions", "n_devices")


def check_world_fits(logs: pd.DataFrame, config: WorldConfig, name: str = "logs") -> None:
    """ValueError naming the `WorldConfig` field when the logs hold ids its world lacks (a
    user id >= n_users, a topic >= n_topics, ...): the target policy and the reward model
    see the logged visits as observations of that world."""
    logged, world = FeatureSpec.from_logs(logs), FeatureSpec.from_config(config)
    for field in _VOCABULARIES:
        needed, held = getattr(logged, field), getattr(world, field)
        if needed > held:
            raise ValueError(f"{name} hold ids up to {needed - 1} for {field}, but the world "
                             f"has {field}={held}: evaluate in the logs' world ({field} >= "
                             f"{needed}; on the command line --world {field}={needed})")


def evaluate(logs: pd.DataFrame, policy: Any, candidates: pd.DataFrame | None = None,
             estimators: Any = None, config: WorldConfig | dict | None = None,
             train_logs: pd.DataFrame | None = None, reward_model: Any = "lr",
             slate_size: int | None = None, interval: str = "analytic",
             n_bootstrap: int = 1000, seed: int = 0, chunk: int = 1024,
             with_truth: bool = False) -> tuple[pd.DataFrame, Diagnostics]:
    """`estimate` and its `Diagnostics` (the target's overlap with the logged slates)."""
    cfg = WorldConfig.coerce(config)
    if slate_size is not None:
        cfg = cfg.replace(slate_size=slate_size)
    names, explicit = resolve_estimators(estimators)
    if interval not in ("analytic", "bootstrap"):
        raise ValueError(f"interval must be 'analytic' or 'bootstrap', got {interval!r}")
    data = LoggedSlates.from_logs(logs, candidates, cfg)
    for name, frame in (("logs", logs), ("train_logs", train_logs)):
        if frame is not None:
            check_world_fits(frame, cfg, name)
    if not any(column in logs for column in LOG_PROBABILITIES) and (
            set(names) - {"naive", "dm"}):
        raise ValueError(f"the logs have no logging probabilities (columns "
                         f"{list(LOG_PROBABILITIES)}): the weighting estimators need the "
                         "logging policy's propensities (collect_logs records them)")
    if train_logs is None and isinstance(policy, str):
        train_logs = logs  # a named agent learns from the logs unless told otherwise
    target = make_target(policy, cfg, train_logs, seed)
    fields = set().union(*(ESTIMATORS[name].reads for name in names))
    model = None
    if fields & MODEL_FIELDS:
        model = fit_reward_model(reward_model, logs, cfg, seed)
    feedback, diagnostics = target_feedback(data, target, fields, model, chunk, seed,
                                            truth=with_truth)
    table = run_estimators(feedback, names, explicit, interval, n_bootstrap, seed)
    if with_truth:
        value = float(diagnostics.logged_truth.mean())
        impressions = float(data.shown.sum(axis=1).mean())
        truth_rows = pd.DataFrame([{
            "estimator": "logged_truth", "metric": metric, "estimate": value * scale,
            "low": np.nan, "high": np.nan, "se": np.nan, "n_visits": len(data),
            "interval": "", "assumption": "hidden truth (simulator only)",
            "note": "the target's expected clicks on the logged visits"}
            for metric, scale in zip(METRICS, (1.0, 1.0 / impressions), strict=True)])
        table = pd.concat([table, truth_rows], ignore_index=True)
    return table, diagnostics


def estimate(logs: pd.DataFrame, policy: Any, candidates: pd.DataFrame | None = None,
             estimators: Any = None, config: WorldConfig | dict | None = None,
             train_logs: pd.DataFrame | None = None, reward_model: Any = "lr",
             slate_size: int | None = None, interval: str = "analytic",
             n_bootstrap: int = 1000, seed: int = 0, chunk: int = 1024,
             with_truth: bool = False) -> pd.DataFrame:
    """Estimate the value of ``policy`` from ``logs`` (`drnsim.logs` schema) with every
    estimator of `ESTIMATORS` (or ``estimators``), each with a 95% interval (``interval``:
    'analytic' or 'bootstrap').

    ``policy``: an agent name, an agent or a `drnsim.policies.SlatePolicy` (`make_target`);
    a named agent that learns is trained on ``train_logs``, by default on ``logs``
    themselves (the target then depends on the rewards it is evaluated on; give other logs
    to avoid that); an agent object is trained only when ``train_logs`` is given.
    ``candidates``: the candidates table of the logged visits (needed unless every visit
    showed all its candidates). ``config``: the logs' world (feature sizes, slate size,
    position bias). ``reward_model``: a zoo model name or an object with ``predict`` (DM
    and DR). ``with_truth`` adds the row ``logged_truth``: the target's expected clicks on
    the logged visits under the hidden truth (simulator logs with ``truth=True``). Returns
    the tidy frame of `run_estimators`."""
    return evaluate(logs, policy, candidates, estimators, config, train_logs, reward_model,
                    slate_size, interval, n_bootstrap, seed, chunk, with_truth)[0]


__all__ = ["COLUMNS", "Diagnostics", "METRICS", "check_world_fits", "estimate", "evaluate",
           "fit_reward_model", "position_bias", "resolve_estimators", "run_estimators",
           "target_feedback"]
