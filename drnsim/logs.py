"""Logged impressions from a logging policy in the simulated world (for offline training and
off-policy evaluation).

`collect_logs` drives `NewsFeedVectorEnv` with a slate policy (`drnsim.policies`) and records
one row per shown item with the logging policy's probabilities. Any object with
`act(obs) -> scores (B, N)` (it imports no agent) is mixed per visit with a uniformly random
ranking (probability `epsilon`, `EpsilonGreedyPolicy`), whose per-slot propensity

    P(item at position k) = (1 - epsilon) * [the policy puts it at k] + epsilon / n_valid

is exact: a uniformly random permutation of the n_valid live candidates puts any one of
them at position k with probability 1 / n_valid. A `PlackettLucePolicy` logs exact slate and
prefix probabilities and Monte-Carlo per-slot ones with their standard error.

`ImpressionLogger` is the logging policy as an agent of the loop protocol: `collect_logs`
drives it through its own env, and `drnsim.loop.pre_period` through the world every agent
then continues from.

Columns: visit_id, user_id, time, position (0 = top), click, dwell (seconds read, 0 where not
clicked), churned (the visit's user left the world after it, the env's `info["churned"]`;
optional in logs from elsewhere), candidate_index, item_id, topic, provider, item_age, pop_*,
topic_clicks_*, provider_clicks_* (the windows 1h/6h/24h/1w), n_valid_candidates, user_age,
user_gender, user_region, user_device, hour, weekday, since_last_visit, gap, history_length, the
history as list columns hist_item_id, hist_topic, hist_provider, hist_age (valid entries only,
oldest first), and the logging policy's probabilities (what `drnsim.ope` reads):

* propensity: P(this item at this position | visit), the per-slot marginal;
* propensity_se: its Monte-Carlo standard error (0 where exact);
* prefix_propensity: P(the visit's items at positions 0..position | visit);
* slate_propensity: P(the whole shown slate | visit) (equal on a visit's rows);
* logging_epsilon: the probability of a uniformly random slate when the logging policy is an
  epsilon-uniform mixture (NaN otherwise);
* greedy_candidate_index: the candidate the logging policy's greedy slate puts at this
  position (-1 if none); explored: the visit's slate came from the random branch
  (epsilon-greedy) or differs from the greedy slate (Plackett-Luce).

With `candidates=True` a second table holds one row per valid candidate of every logged
visit (visit_id, candidate_index and the candidate's item and user-news columns), so that a
target policy can re-rank the candidates of each logged visit; with `truth=True` it also
holds the hidden attractiveness a_ui of each candidate (simulator ground truth, never read
by a learner).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from drnsim import _validate
from drnsim.config import DAY, WINDOW_NAMES, WorldConfig
from drnsim.results import atomic_path

_LIST_SEP = " "

# ---------------------------------------------------------------------------------------
# The logs schema (one row per shown item) and its checks
LOG_POP = tuple(f"pop_{w}" for w in WINDOW_NAMES)
LOG_TOPIC_CLICKS = tuple(f"topic_clicks_{w}" for w in WINDOW_NAMES)
LOG_PROVIDER_CLICKS = tuple(f"provider_clicks_{w}" for w in WINDOW_NAMES)
LOG_USER = ("user_age", "user_gender", "user_region", "user_device")
LOG_HISTORY = ("hist_item_id", "hist_topic", "hist_provider", "hist_age")
LOG_COLUMNS = (("visit_id", "user_id", "time", "position", "click", "item_id", "topic",
                "provider", "item_age") + LOG_POP + LOG_TOPIC_CLICKS + LOG_PROVIDER_CLICKS
               + LOG_USER + ("hour", "weekday", "since_last_visit", "history_length")
               + LOG_HISTORY)
"""The columns `drnsim.features.batch_from_logs` reads (the module docstring documents them);
others are ignored."""


#: The logging policy's probabilities (`drnsim.logs`): optional for training, read by
#: `drnsim.ope`; `check_logs` checks the ones present.
LOG_PROBABILITIES = ("propensity", "prefix_propensity", "slate_propensity")


_ID_MAX = 2**62
#: Whole-number columns and their ranges (ids are >= 0; a slate position at most 1023).
_LOG_RANGES = (("visit_id", 0, _ID_MAX), ("user_id", 0, _ID_MAX), ("item_id", 0, _ID_MAX),
               ("topic", 0, _ID_MAX), ("provider", 0, _ID_MAX), ("position", 0, 1023),
               ("hour", 0, 23), ("weekday", 0, 6), ("history_length", 0, _ID_MAX),
               *((column, 0, _ID_MAX) for column in LOG_USER))


def check_logs(logs: pd.DataFrame, require: tuple[str, ...] = ()) -> None:
    """ValueError naming what is wrong with a logs frame: missing columns (those of `LOG_COLUMNS`
    and the extra ones in ``require``), columns that are not numbers, missing or infinite
    values, clicks outside {0, 1}, ids below 0, positions outside [0, 1023], hours outside [0,
    23], weekdays outside [0, 6], dwell (optional) that is not a finite number >= 0, churned
    (optional) that is not 0/1 for the whole visit or is followed by another visit of the same
    user, two rows for one (visit, position), and, where present, the logging policy's
    probabilities (`LOG_PROBABILITIES`) outside (0, 1], a negative `propensity_se`, a
    `logging_epsilon` outside [0, 1] or a prefix probability that grows down the slate
    (`drnsim.ope` checks more: whole slates, candidates)."""
    if not isinstance(logs, pd.DataFrame):
        raise ValueError(f"logs must be a pandas DataFrame, got {type(logs).__name__}")
    if len(logs) == 0:
        raise ValueError("the logs are empty: collect some impressions first")
    needed = list(LOG_COLUMNS) + [c for c in require if c not in LOG_COLUMNS]
    missing = [c for c in needed if c not in logs.columns]
    if missing:
        raise ValueError(f"the logs lack the columns {missing}; the columns needed are "
                         f"{needed} (see drnsim.logs)")
    scalar = [c for c in LOG_COLUMNS if c not in LOG_HISTORY]
    not_numbers = [f"{c} ({logs[c].dtype})" for c in scalar
                   if not pd.api.types.is_numeric_dtype(logs[c])]
    if not_numbers:
        raise ValueError(f"the logs columns {not_numbers} must hold numbers (times, ids and "
                         f"counts stored as text would sort and compare as text): convert them, "
                         f"e.g. logs[column] = pd.to_numeric(logs[column])")
    holes = [c for c in scalar if logs[c].isna().any()]
    if holes:
        raise ValueError(f"the logs have missing values (NaN) in the columns {holes}")
    for column in scalar:
        first_bad(logs, ~np.isfinite(logs[column].to_numpy(np.float64)), column,
                  "must hold finite numbers")
    for column, low, high in _LOG_RANGES:
        values = logs[column].to_numpy()
        allowed = f"in [{low}, {high}]" if high < _ID_MAX else f">= {low}"
        first_bad(logs, (values < low) | (values > high) | (values != np.round(values)), column,
                  f"must hold whole numbers {allowed}")
    clicks = logs["click"].to_numpy()
    if not np.isin(clicks, (0, 1)).all():
        raise ValueError(f"logs column 'click' must hold 0 or 1, got "
                         f"{sorted(set(clicks[~np.isin(clicks, (0, 1))].tolist()))[:5]}")
    if "dwell" in logs.columns:  # optional: seconds read per click
        dwell = pd.to_numeric(logs["dwell"], errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(dwell) | (dwell < 0)
        if bad.any():
            raise ValueError(f"logs column 'dwell' must hold finite seconds >= 0, got "
                             f"{logs['dwell'].to_numpy()[bad][:5].tolist()}")
    if "churned" in logs.columns:  # optional: the visit's user left the world after it
        _check_churned(logs)
    repeated = logs.duplicated(["visit_id", "position"])
    if repeated.any():
        first = logs.iloc[int(np.argmax(repeated.to_numpy()))]
        raise ValueError(f"the logs have two rows for visit_id {first['visit_id']} at position "
                         f"{first['position']}: "
                         "each (visit_id, position) must occur once")
    _check_probabilities(logs)


def first_bad(logs: pd.DataFrame, bad: np.ndarray, column: str, rule: str) -> None:
    """ValueError naming the column, the first offending value and its visit (and
    position, for a logs frame)."""
    if bad.any():
        row = logs.iloc[int(np.argmax(bad))]
        where = f" position {row['position']}" if "position" in row else ""
        value = row[column].item() if hasattr(row[column], "item") else row[column]
        raise ValueError(f"logs column {column!r} {rule}, got {value!r} at visit_id "
                         f"{row['visit_id']}{where}")


def _check_probabilities(logs: pd.DataFrame) -> None:
    """The logging-probability columns of `check_logs`, where present."""
    for column in LOG_PROBABILITIES:
        if column in logs:
            p = pd.to_numeric(logs[column], errors="coerce").to_numpy(np.float64)
            first_bad(logs, ~((p > 0) & (p <= 1)), column,
                       "must hold probabilities in (0, 1] (the logging policy's probability "
                       "of what it showed; 0 means it could not have shown it)")
    if "propensity_se" in logs:
        se = pd.to_numeric(logs["propensity_se"], errors="coerce").to_numpy(np.float64)
        first_bad(logs, ~(se >= 0), "propensity_se", "must hold standard errors >= 0")
    if "logging_epsilon" in logs:
        eps = pd.to_numeric(logs["logging_epsilon"], errors="coerce").to_numpy(np.float64)
        first_bad(logs, ~np.isnan(eps) & ~((eps >= 0) & (eps <= 1)), "logging_epsilon",
                   "must hold probabilities in [0, 1] (NaN: not an epsilon-uniform mixture)")
    if "prefix_propensity" not in logs:
        return
    ordered = logs.sort_values(["visit_id", "position"], kind="stable")
    prefix = ordered["prefix_propensity"].to_numpy(np.float64)
    same_visit = ordered["visit_id"].to_numpy()[1:] == ordered["visit_id"].to_numpy()[:-1]
    grows = np.zeros(len(ordered), dtype=bool)
    grows[1:] = same_visit & (prefix[1:] > prefix[:-1] * (1 + 1e-9))
    first_bad(ordered, grows, "prefix_propensity",
               "must not grow down a slate (P(s_1..s_k) >= P(s_1..s_k+1))")


def _check_churned(logs: pd.DataFrame) -> None:
    """The churned column holds 0/1, one value per visit, and no user visits after churning."""
    churned = logs["churned"].to_numpy()
    if not np.isin(churned, (0, 1)).all():
        raise ValueError(f"logs column 'churned' must hold 0 or 1 (or bools), got "
                         f"{logs['churned'][~np.isin(churned, (0, 1))].tolist()[:5]}")
    mixed = logs.groupby("visit_id")["churned"].nunique() > 1
    if mixed.any():
        raise ValueError(f"logs column 'churned' differs between the rows of visit_id "
                         f"{mixed.index[mixed.to_numpy()][0]}; it is one value per visit")
    visits = logs.drop_duplicates("visit_id")
    left = visits[visits["churned"].astype(bool)].groupby("user_id")["time"].min()
    after = visits["time"] > visits["user_id"].map(left)
    if after.any():
        late = visits[after.to_numpy()].iloc[0]
        raise ValueError(f"logs column 'churned': user {late['user_id']} churned at time "
                         f"{left[late['user_id']]} but visits again at {late['time']} "
                         f"(visit_id {late['visit_id']})")




CANDIDATE_COLUMNS = (("visit_id", "candidate_index", "item_id", "topic", "provider", "item_age")
                     + LOG_POP + LOG_TOPIC_CLICKS + LOG_PROVIDER_CLICKS)
"""The columns of the candidates table (`collect_logs(..., candidates=True)`)."""


def _item_columns(obs: dict, rows: np.ndarray, cols: np.ndarray) -> dict[str, Any]:
    """The item and user-news columns of candidates (rows, cols) of a served batch."""
    cand, un = obs["candidates"], obs["user_news"]
    out: dict[str, Any] = {
        "item_id": cand["item_id"][rows, cols], "topic": cand["topic"][rows, cols],
        "provider": cand["provider"][rows, cols], "item_age": cand["age"][rows, cols]}
    for j, name in enumerate(LOG_POP):
        out[name] = cand["popularity"][rows, cols, j]
    for j, (tn, pn) in enumerate(zip(LOG_TOPIC_CLICKS, LOG_PROVIDER_CLICKS, strict=True)):
        out[tn] = un["topic_clicks"][rows, cols, j]
        out[pn] = un["provider_clicks"][rows, cols, j]
    return out


def _visit_rows(obs: dict, info: dict, probabilities: dict[str, np.ndarray],
                explored: np.ndarray) -> dict[str, Any]:
    """Columns for the shown items of one served batch; ``probabilities`` holds the logging
    policy's (B, K) arrays per slot and (B,) ones per visit."""
    shown, clicks = info["shown"], info["clicks"]
    b, k = shown.shape
    rows, pos = np.nonzero(shown >= 0)
    cols = shown[rows, pos]
    user, ctx, hist = obs["user"], obs["context"], obs["history"]
    n_valid = obs["candidates"]["mask"].astype(bool).sum(1)
    out: dict[str, Any] = {
        "visit_id": info["visit_id"][rows], "user_id": user["user_id"][rows],
        "time": info["sim_time"][rows], "position": pos.astype(np.int32),
        "click": clicks[rows, pos].astype(np.int8), "dwell": info["dwell"][rows, pos],
        "churned": info["churned"][rows]}
    for name, values in probabilities.items():
        out[name] = values[rows, pos] if values.ndim == 2 else values[rows]
    out.update(explored=explored[rows], candidate_index=cols.astype(np.int32))
    out.update(_item_columns(obs, rows, cols))
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


def _candidate_rows(obs: dict, visit_ids: np.ndarray,
                    attractiveness: np.ndarray | None) -> dict[str, Any]:
    """One row per valid candidate of a served batch (the candidates table)."""
    rows, cols = np.nonzero(obs["candidates"]["mask"].astype(bool))
    out: dict[str, Any] = {"visit_id": visit_ids[rows],
                           "candidate_index": cols.astype(np.int32)}
    out.update(_item_columns(obs, rows, cols))
    if attractiveness is not None:
        out["attractiveness"] = attractiveness[rows, cols].astype(np.float32)
    return out


def _logging_probabilities(dist: Any, shown: np.ndarray) -> dict[str, np.ndarray]:
    """The probability columns of the shown slates ``shown`` (B, K) under the logging
    policy's `drnsim.policies.SlateDistribution`."""
    propensity, se = dist.marginals(at=shown)
    prefix = dist.prefix(shown)
    greedy = dist.greedy if dist.greedy is not None else np.full_like(shown, -1)
    return {"propensity": propensity, "propensity_se": se, "prefix_propensity": prefix,
            "slate_propensity": prefix[:, -1],
            "logging_epsilon": np.full(len(shown), dist.epsilon),
            "greedy_candidate_index": greedy.astype(np.int32)}


def logging_policy(policy: Any, epsilon: float | None = None) -> Any:
    """The `drnsim.policies.SlatePolicy` that `collect_logs` serves: a slate policy as it is
    (``epsilon`` must then be None), None as uniformly random slates, any object with ``act``
    mixed with uniformly random rankings with probability ``epsilon`` (default 0.1)."""
    from drnsim.policies import EpsilonGreedyPolicy, UniformPolicy, is_slate_policy

    if is_slate_policy(policy):
        if epsilon is not None:
            raise ValueError(f"epsilon={epsilon!r} mixes an agent with random rankings; the "
                             f"slate policy {policy!r} has its own probabilities: drop epsilon")
        return policy
    epsilon = 0.1 if epsilon is None else epsilon
    if not (isinstance(epsilon, (int, float)) and 0.0 <= epsilon <= 1.0):
        raise ValueError(f"epsilon must be a probability in [0, 1], got {epsilon!r}")
    if policy is None:
        return UniformPolicy()
    if not callable(getattr(policy, "act", None)):
        raise ValueError("policy must have a method act(obs) -> scores (B, N), be a "
                         "drnsim.policies.SlatePolicy, or be None")
    return EpsilonGreedyPolicy(policy, epsilon)


class ImpressionLogger:
    """A logging policy as an agent (`drnsim.agents.base` protocol): `act` serves the slate
    policy of `logging_policy` (``policy``, ``epsilon``), `observe` records one row per shown
    item with the logging probabilities (module docstring) and passes the feedback on to the
    agent inside the policy (if it learns), `logs()` returns the rows in time order. Its
    random numbers come from (``seed``, a fixed tag): the logs of a seed are reproducible.
    ``record=False`` serves the same visits without building rows; ``candidates`` also
    records the candidates table and ``truth`` the hidden attractiveness in it (both need
    `bind` to the env, which `drnsim.loop.play` and `collect_logs` do)."""

    name = "logging"

    def __init__(self, policy: Any, epsilon: float | None = None, seed: int = 0,
                 record: bool = True, candidates: bool = False, truth: bool = False):
        if truth and not candidates:
            raise ValueError("truth=True records the hidden attractiveness of every candidate "
                             "in the candidates table: it needs candidates=True")
        self.sampler = logging_policy(policy, epsilon)
        self.agent = getattr(self.sampler, "scorer", None)  # the agent inside, if any
        self.record, self.candidates, self.truth = record, candidates, truth
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1095]))
        self.env: Any = None
        self.frames: list[pd.DataFrame] = []
        self.candidate_frames: list[pd.DataFrame] = []
        self._served: tuple[dict, Any, np.ndarray, np.ndarray | None] | None = None

    def bind(self, env: Any) -> None:
        self.env = getattr(env, "unwrapped", env)
        if hasattr(self.agent, "bind"):
            self.agent.bind(env)

    def act(self, obs: dict) -> np.ndarray:
        """Env scores (B, N) of the sampled slates."""
        from drnsim.policies import slate_scores

        if self.env is None:
            raise ValueError("bind(env) the ImpressionLogger before act(): it reads the "
                             "env's slate size")
        slates, dist, explored = self.sampler.sample(obs, self.env.config.slate_size, self.rng)
        truth = (self.env.world.attractiveness(self.env.current_batch) if self.truth
                 else None)
        self._served = (obs, dist, explored, truth)
        return slate_scores(slates, obs["candidates"]["mask"].shape[1])

    def observe(self, obs: dict, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray], keep: np.ndarray | None = None) -> None:
        """Record the rows of the visits just served (those of ``keep``, default all) and
        pass the feedback on to the agent inside the policy."""
        if self._served is None or self._served[0] is not obs:
            raise ValueError("observe() must follow act() on the same observation")
        _, dist, explored, truth = self._served
        keep = np.ones(len(explored), dtype=bool) if keep is None else keep
        if self.record and keep.any():
            probabilities = _logging_probabilities(dist, info["shown"])
            sub = {g: {k: v[keep] for k, v in d.items()} for g, d in obs.items()}
            inf = {k: v[keep] for k, v in info.items()}
            self.frames.append(pd.DataFrame(_visit_rows(
                sub, inf, {k: v[keep] for k, v in probabilities.items()}, explored[keep])))
            if self.candidates:
                self.candidate_frames.append(pd.DataFrame(_candidate_rows(
                    sub, inf["visit_id"], None if truth is None else truth[keep])))
        if hasattr(self.agent, "observe"):
            self.agent.observe(obs, action, reward, info)

    def update(self, sim_time: float) -> None:
        if hasattr(self.agent, "update"):
            self.agent.update(sim_time)

    def logs(self) -> pd.DataFrame:
        """Every recorded row, sorted by time, visit and position."""
        if not self.frames:
            raise ValueError("no visit was logged: the logging period served no visit")
        logs = pd.concat(self.frames, ignore_index=True)
        return logs.sort_values(["time", "visit_id", "position"], kind="stable",
                                ignore_index=True)

    def candidates_table(self) -> pd.DataFrame:
        """The candidates table (``candidates=True``), sorted by visit and candidate."""
        table = pd.concat(self.candidate_frames, ignore_index=True)
        table = table[list(CANDIDATE_COLUMNS) + (["attractiveness"] if self.truth else [])]
        return table.sort_values(["visit_id", "candidate_index"], kind="stable",
                                 ignore_index=True)


def collect_logs(config: WorldConfig | Mapping[str, Any] | None, policy: Any,
                 n_visits: int | None = None, days: float | None = None, seed: int = 0,
                 batch_size: int = 256, epsilon: float | None = None, candidates: bool = False,
                 truth: bool = False) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Serve visits with `policy` (see `logging_policy`: a `drnsim.policies.SlatePolicy`, an
    agent epsilon-mixed with random rankings, default epsilon 0.1, or None = uniformly
    random) until `n_visits` visits or `days` simulated days; one row per shown item
    (`ImpressionLogger`; `drnsim.loop.pre_period` logs the same way and also hands over the
    world it leaves). With ``candidates`` returns ``(logs, candidates)``, the second one row
    per valid candidate of each logged visit; ``truth`` adds the hidden attractiveness."""
    from drnsim.envs import NewsFeedVectorEnv, visits_per_step

    if n_visits is None and days is None:
        raise ValueError("give n_visits or days (how much to log)")
    if n_visits is not None:
        n_visits = _validate.int_at_least("n_visits", n_visits, 1)
    if days is not None:
        days = _validate.positive("days", days)
    seed = _validate.seed("seed", seed)
    batch_size = _validate.int_at_least("batch_size", batch_size, 1)
    logger = ImpressionLogger(policy, epsilon, seed, candidates=candidates, truth=truth)
    cfg = WorldConfig.coerce(config)
    if days is not None:
        cfg = cfg.replace(episode_days=max(cfg.episode_days, float(days)))
    env = NewsFeedVectorEnv(num_envs=visits_per_step(batch_size, cfg.n_users), config=cfg)
    obs, _ = env.reset(seed=seed)
    logger.bind(env)
    served = 0
    limit = days * DAY if days is not None else np.inf
    while env.current_batch.times.min() < limit:  # as `drnsim.loop.play`: a batch may straddle
        action = logger.act(obs)
        prev = obs
        obs, reward, terminated, truncated, info = env.step(action)
        keep = info["sim_time"] < limit
        if n_visits is not None:
            keep &= np.arange(len(keep)) < n_visits - served
        logger.observe(prev, action, reward, info, keep=keep)
        served += int(keep.sum())
        if terminated.any() or truncated.any() or (n_visits is not None and served >= n_visits):
            break
    env.close()
    if not logger.frames:
        raise ValueError(f"days={days!r} ends before the first visit: no impressions to log")
    logs = logger.logs()
    return (logs, logger.candidates_table()) if candidates else logs


def save_logs(df: pd.DataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write logs as Parquet (.parquet) or CSV (.csv, lists space-separated), atomically.
    An existing `path` is a ValueError unless `overwrite=True`."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a pandas DataFrame (the logs), got {type(df).__name__}")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"logs path must end in .parquet or .csv, got {path.name!r}")
    overwrite = _validate.boolean("overwrite", overwrite)
    if path.is_dir():
        raise ValueError(f"logs path {str(path)!r} is a folder; give a .parquet or .csv file")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise ValueError(f"logs file {str(path)!r} already exists; refusing to overwrite it "
                         "(pass overwrite=True to replace it, or choose another path)")
    with atomic_path(path) as tmp:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            out = df.copy()
            for name in (name for name in LOG_HISTORY if name in out):
                out[name] = [_LIST_SEP.join(map(str, np.asarray(v).tolist())) for v in out[name]]
            out.to_csv(tmp, index=False)
    return path


def load_logs(path: str | Path) -> pd.DataFrame:
    """Read logs (or a candidates table) written by `save_logs`; a file that is not Parquet
    or CSV is a ValueError naming it (`check_logs` then checks the columns)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"logs path must end in .parquet or .csv, got {path.name!r}")
    if not path.is_file():
        raise FileNotFoundError(f"logs file {str(path)!r} does not exist (or is not a file)")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        df = pd.read_csv(path, dtype={name: str for name in LOG_HISTORY})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"cannot read the logs file {str(path)!r} as "
                         f"{suffix[1:].upper()}: {reason}") from None
    for name, dtype in zip(LOG_HISTORY, (np.int64, np.int32, np.int32, np.float32), strict=True):
        if name in df:  # an empty list is written as an empty field, read as NaN
            df[name] = [np.array(s.split(), dtype=dtype) if isinstance(s, str)
                        else np.empty(0, dtype) for s in df[name]]
    return df


__all__ = ["CANDIDATE_COLUMNS", "LOG_COLUMNS", "LOG_HISTORY", "LOG_POP", "LOG_PROBABILITIES",
           "LOG_PROVIDER_CLICKS", "LOG_TOPIC_CLICKS", "LOG_USER", "ImpressionLogger",
           "check_logs", "collect_logs", "first_bad", "load_logs", "logging_policy", "save_logs"]
