"""The push -> feedback -> update loop (docs/design.md section 5).

    frame = run_episode(env, agent, days=1.0, seed=0)      # one agent, one world
    frame = compare(["oracle", "linucb", "random"], seeds=(0, 1, 2), days=3.0)
    table = summarize(frame, baseline="random")            # mean, 95% CI, paired lift

Each step the agent scores the candidates of the visits about to be served (`act`), the env
shows the top K and returns the clicks (push -> feedback), the agent sees them (`observe`)
and runs its own schedule (`update`). Frames are tidy: columns agent, seed, time (simulated
hours at the end of each bucket), metric, value; `drnsim.metrics.bucket_metrics` lists the
metrics and their formulas.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from drnsim._validate import (
    InvalidTypeError,
    boolean,
    int_at_least,
    non_negative,
    one_of,
    positive,
    probability,
)
from drnsim._validate import seed as check_seed
from drnsim._validate import (
    seeds as check_seeds,
)
from drnsim.agents import make_agent
from drnsim.agents.base import agent_name, check_agent, unwrap_env
from drnsim.config import DAY, HOUR, WorldConfig
from drnsim.envs import NewsFeedVectorEnv, action_from_scores, visits_per_step
from drnsim.metrics import (
    ActivenessTracker,
    bucket_metrics,
    episode_values,
    intra_list_similarity,
    mean_ci,
    ndcg_at_k,
    precision_at_k,
    regret,
    retention,
)

COLUMNS = ["agent", "seed", "time", "metric", "value"]
BACKENDS = ("local", "ray")
#: Most time buckets one run may have (days * 24 / bucket_hours): each is a row per metric.
MAX_BUCKETS = 100_000


# ---------------------------------------------------------------------------------------
def run_episode(env: Any, agent: Any, days: float | None = None, seed: int | None = None,
                progress: bool = True, bucket_hours: float = 1.0, with_regret: bool = True,
                name: str | None = None, logs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Reset ``env`` with ``seed`` and run ``agent`` for ``days`` simulated days (default:
    the env's horizon, ``episode_days``) with the single or the vector env; returns the tidy
    frame (agent, seed, time, metric, value). ``with_regret`` also computes the regret
    against the oracle (one extra attractiveness evaluation per step); ``logs`` go to the
    agent's ``warm_start`` after ``bind``. Arguments are checked before the env is reset
    (`check_run_settings`)."""
    base = unwrap_env(env)
    if not hasattr(base, "config") or not callable(getattr(base, "reset", None)):
        raise InvalidTypeError(f"env must be a drnsim NewsFeedEnv or NewsFeedVectorEnv (or a "
                               f"Gymnasium wrapper of one), got {type(env).__name__}")
    check_agent(agent)
    check_run_settings(days if days is not None else base.config.episode_days, bucket_hours,
                       with_regret, progress, name)
    if seed is not None:
        seed = check_seed("seed", seed)
    obs, _ = env.reset(seed=seed)
    return drive(env, agent, obs, days=days, progress=progress, bucket_hours=bucket_hours,
                 with_regret=with_regret, name=name, logs=logs)


def check_run_settings(days: float, bucket_hours: float, with_regret: bool = True,
                       progress: bool = True, name: str | None = None) -> None:
    """The settings `run_episode` and `compare` share: days > 0, bucket_hours > 0 with at
    most `MAX_BUCKETS` buckets in ``days``, booleans as booleans, a name as a string."""
    days = positive("days", days)
    bucket_hours = positive("bucket_hours", bucket_hours)
    if days * 24 / bucket_hours > MAX_BUCKETS:
        raise ValueError(f"days={days:g} with bucket_hours={bucket_hours:g} makes "
                         f"{days * 24 / bucket_hours:.3g} time buckets; at most {MAX_BUCKETS:,}"
                         f" are allowed: simulate fewer days or make bucket_hours >= "
                         f"{days * 24 / MAX_BUCKETS:.3g}")
    boolean("with_regret", with_regret)
    boolean("progress", progress)
    if name is not None and not isinstance(name, str):
        raise InvalidTypeError(f"name must be a string or None, got {name!r}")


def drive(env: Any, agent: Any, obs: dict, days: float | None = None, progress: bool = True,
          bucket_hours: float = 1.0, with_regret: bool = True, name: str | None = None,
          logs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Run ``agent`` from the env's current state (``obs`` = the last observation) for
    ``days``; times in the frame count from this start. `run_episode` resets first;
    `compare` continues after its pre-period."""
    base = unwrap_env(env)
    world, cfg = base.world, base.config
    name = name or agent_name(agent)
    start = float(base.current_batch.times.min())
    n_active = int((~world.users.churned).sum())  # the users of clicks_per_user
    tracker = ActivenessTracker(cfg.n_users)
    records: list[pd.DataFrame] = []
    snapshots: list[dict[str, float]] = []
    bucket_seconds = bucket_hours * HOUR
    bucket = 0

    def record(batched: dict, info: dict, true_a: np.ndarray | None) -> None:
        nonlocal bucket
        records.append(_visit_records(info, batched, true_a, world, start))
        tracker.visit(info["user_id"], info["sim_time"])
        reached = int((info["sim_time"].max() - start) // bucket_seconds)
        for done in range(bucket, reached):  # snapshot the buckets that just ended
            snapshots.append(_snapshot(done, tracker, world, start + (done + 1) * bucket_seconds))
        bucket = max(bucket, reached)

    play(env, agent, obs, days=days, progress=progress, name=name, on_step=record,
         with_regret=with_regret, logs=logs)
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    snapshots.append(_snapshot(bucket, tracker, world, world.clock))
    visits = pd.concat(records, ignore_index=True)
    if days is not None:  # the last batch may straddle the end: keep the visits before it
        visits = visits[visits["time"] < days * DAY]
    snapshots = pd.DataFrame(snapshots)
    frame = bucket_metrics(visits, snapshots[snapshots["bucket"] <= visits["time"].max()
                                             // bucket_seconds], bucket_hours, cfg.n_users,
                           cfg.slate_size, n_active)
    horizon = (cfg.episode_days * DAY - start) if days is None else days * DAY
    kept = retention(visits["user"].to_numpy(), visits["time"].to_numpy(), horizon)
    frame = pd.concat([frame, pd.DataFrame({
        "time": [(n + 1) * DAY / HOUR for n in kept], "metric": [f"retention@{n}d" for n in kept],
        "value": list(kept.values())})], ignore_index=True)
    frame.insert(0, "seed", world.seed)
    frame.insert(0, "agent", name)
    return frame[COLUMNS]


def play(env: Any, agent: Any, obs: dict, days: float | None = None, progress: bool = False,
         name: str | None = None, on_step: Callable[[dict, dict, Any], None] | None = None,
         with_regret: bool = False, logs: pd.DataFrame | None = None,
         whole_batches: bool = False) -> dict:
    """The bare loop: `bind`, `warm_start(logs)` when ``logs`` are given and the agent has
    one, then act -> step -> observe -> update until ``days`` have
    passed from the current visit (default: the env's horizon) or the env ends; calls
    ``on_step(batched_obs, batched_info, true_attractiveness or None)`` after each step and
    returns the last observation (to continue from). With ``whole_batches`` only batches that
    end before the end time are served, so that the next agent takes over exactly there
    (`compare`'s pre-period); otherwise the last batch may straddle the end."""
    base = unwrap_env(env)
    vector = hasattr(env, "num_envs")
    name = name or agent_name(agent)
    if hasattr(agent, "bind"):
        agent.bind(env)
    if logs is not None and hasattr(agent, "warm_start"):
        agent.warm_start(logs)
    start = float(base.current_batch.times.min())
    end = start + (base.config.episode_days if days is None else days) * DAY
    bar = tqdm(total=round((end - start) / HOUR, 2), unit="h", desc=name, disable=not progress,
               leave=False)
    def edge(batch: Any) -> float:
        return float(batch.times.max() if whole_batches else batch.times.min())

    while edge(base.current_batch) < end:
        batch = base.current_batch
        batched = obs if vector else _add_batch_axis(obs)
        scores = _checked_scores(agent, name, batched, batch.mask.shape)
        action = action_from_scores(scores).astype(np.float32)
        true_a = base.world.attractiveness(batch) if with_regret else None
        obs, reward, terminated, truncated, info = env.step(action if vector else action[0])
        if not vector:
            info, reward = _add_batch_axis(info), np.atleast_1d(reward)
        agent.observe(batched, action, np.asarray(reward, dtype=np.float64), info)
        now = float(info["sim_time"].max())
        agent.update(now)
        if on_step is not None:
            on_step(batched, info, true_a)
        bar.n = min(bar.total, round((min(now, end) - start) / HOUR, 2))
        bar.refresh()
        if np.any(terminated) or np.any(truncated):
            break
    bar.close()
    return obs


def _checked_scores(agent: Any, name: str, obs: dict, shape: tuple[int, int]) -> np.ndarray:
    """The agent's scores as (B, N) float64; ValueError naming the agent otherwise."""
    scores = np.asarray(agent.act(obs), dtype=np.float64)
    if shape[0] == 1 and scores.shape == shape[1:]:
        scores = scores[None, :]
    if scores.shape != shape:
        raise ValueError(f"agent {name!r} returned scores of shape {scores.shape}; expected "
                         f"{shape} (one score per candidate for each of the B visits)")
    if not np.isfinite(scores).all():
        raise ValueError(f"agent {name!r} returned non-finite scores (NaN or inf); scores "
                         "must be finite floats, higher shown first")
    return scores


def _add_batch_axis(tree: Any) -> Any:
    """A single-visit observation or info as a batch of one."""
    if isinstance(tree, Mapping):
        return {key: _add_batch_axis(value) for key, value in tree.items()}
    return np.asarray(tree)[None, ...]


def _visit_records(info: dict, obs: dict, true_a: np.ndarray | None, world: Any,
                   start: float) -> pd.DataFrame:
    """One row per visit of the step, the inputs of `drnsim.metrics.bucket_metrics`."""
    shown, clicks = info["shown"], info["clicks"].astype(bool)
    items = np.where(shown >= 0,
                     np.take_along_axis(obs["candidates"]["item_id"], np.maximum(shown, 0), 1),
                     0)
    record = {
        "time": info["sim_time"] - start,
        "user": info["user_id"],
        "clicks": clicks.sum(axis=1),
        "dwell": info["dwell"].sum(axis=1),
        "impressions": (shown >= 0).sum(axis=1),
        "p5": precision_at_k(clicks, shown, 5),
        "ndcg": ndcg_at_k(clicks.astype(np.float64)),
        "ils": intra_list_similarity(world.news.vector[items], clicks),
        "gap": info["gap"],
    }
    if true_a is not None:
        record["regret"] = regret(true_a, shown, world.position_bias, world.config.click_model)
    return pd.DataFrame(record)


def _snapshot(bucket: int, tracker: ActivenessTracker, world: Any, at: float) -> dict:
    return {"bucket": bucket, "activeness": tracker.mean(at),
            "churn": float(world.users.churned.mean())}


# ---------------------------------------------------------------------------------------
def check_compare(agents: Sequence[Any], seeds: Iterable[int] = (0,), days: float = 3.0,
                  world: WorldConfig | Mapping[str, Any] | None = None, batch_size: int = 256,
                  backend: str = "local", address: str | None = None, log_days: float = 1.0,
                  logging_policy: str = "popular", log_epsilon: float = 0.1,
                  bucket_hours: float = 1.0, with_regret: bool = True, progress: bool = True
                  ) -> tuple[list[Any], list[Any], list[int], WorldConfig]:
    """Check the arguments of `compare` (the same signature) without running anything:
    returns the agent specs, one instance of each (names built by `make_agent`, objects
    checked against the protocol), the seeds and the world config of the runs (its
    ``episode_days`` = log_days + days). Raises ValueError / TypeError naming the argument."""
    if isinstance(agents, str) or not isinstance(agents, Sequence | Iterable):
        raise InvalidTypeError(f"agents must be a list of agent names or objects, got "
                               f"{agents!r}" + (f" (did you mean [{agents!r}]?)"
                                                if isinstance(agents, str) else ""))
    specs = list(agents)
    if not specs:
        raise ValueError("agents must name at least one agent, got an empty list")
    instances = [_instance(spec) for spec in specs]
    names = [spec if isinstance(spec, str) else agent_name(spec) for spec in specs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"agent names must be unique within a comparison, repeated: {repeated}"
                         " (give the objects distinct `name` attributes)")
    seeds = check_seeds("seeds", seeds)
    days, log_days = positive("days", days), non_negative("log_days", log_days)
    batch_size = int_at_least("batch_size", batch_size, 1)
    probability("log_epsilon", log_epsilon)
    one_of("backend", backend, BACKENDS)
    if address is not None and not isinstance(address, str):
        raise InvalidTypeError(f"address must be a string such as 'HOST:6379', got {address!r}")
    if log_days > 0:
        make_agent(logging_policy)
    cfg = WorldConfig.coerce(world).replace(episode_days=log_days + days)
    step = visits_per_step(batch_size, cfg.n_users)
    try:
        cfg.check_memory(step)
    except ValueError as exc:
        parts = cfg.memory_estimate(step)
        if max(parts, key=parts.__getitem__).startswith("news"):  # the horizon is too long
            raise ValueError(f"days={days:g} (after log_days={log_days:g}): {exc}") from None
        raise
    check_run_settings(days, bucket_hours, with_regret, progress)
    return specs, instances, seeds, cfg


def compare(agents: Sequence[Any], seeds: Iterable[int] = (0,), days: float = 3.0,
            world: WorldConfig | Mapping[str, Any] | None = None, batch_size: int = 256,
            backend: str = "local", address: str | None = None, log_days: float = 1.0,
            logging_policy: str = "popular", log_epsilon: float = 0.1,
            bucket_hours: float = 1.0, with_regret: bool = True,
            progress: bool = True) -> pd.DataFrame:
    """Run every agent on identical worlds and stack their frames.

    Per seed, the world (``world``: a WorldConfig, a dict or None for the default) first runs
    a pre-period of ``log_days`` served by ``logging_policy``; that period's logs
    (`drnsim.logs.collect_logs`, with ``log_epsilon`` random exploration and propensities)
    go to every agent's optional ``warm_start(logs)``, then each agent serves the same world
    from the end of the pre-period for ``days`` (same users, same news, common random
    numbers; frame times count from the end of the pre-period; ``batch_size`` visits are
    served per step, at most n_users / 16, see `visits_per_step`). Agents are names for
    `make_agent` (built afresh per seed) or objects (deep-copied per seed). ``backend="ray"``
    runs the (agent, seed) pairs as Ray tasks, on a local Ray or the cluster at ``address``.

    Every argument is checked before anything runs: agents (built once to check names and
    keywords), seeds (distinct integers in [0, 2**63)), ranges, and the memory the world
    would need (`WorldConfig.check_memory`)."""
    specs, instances, seeds, cfg = check_compare(
        agents, seeds, days, world, batch_size, backend, address, log_days, logging_policy,
        log_epsilon, bucket_hours, with_regret, progress)
    settings = dict(days=days, batch_size=batch_size, log_days=log_days,
                    logging_policy=logging_policy, bucket_hours=bucket_hours,
                    with_regret=with_regret)
    wants_logs = log_days > 0 and any(hasattr(agent, "warm_start") for agent in instances)

    def logs_for(seed: int) -> pd.DataFrame | None:
        if not wants_logs:
            return None
        from drnsim.logs import collect_logs

        return collect_logs(cfg, make_agent(logging_policy), days=log_days, seed=seed,
                            batch_size=batch_size, epsilon=log_epsilon)

    jobs = [(spec, seed) for seed in seeds for spec in specs]
    if backend == "local":
        frames = []
        with tqdm(total=len(jobs), desc="compare", unit="run", disable=not progress) as bar:
            for seed in seeds:
                logs = logs_for(seed)
                for spec in specs:
                    bar.set_postfix(agent=agent_name(spec) if not isinstance(spec, str)
                                    else spec, seed=seed)
                    frames.append(run_one(spec, seed, cfg, logs, progress=progress, **settings))
                    bar.update()
    else:
        frames = _compare_ray(jobs, seeds, logs_for, cfg, address, settings)
    return pd.concat(frames, ignore_index=True)


def _instance(spec: Any) -> Any:
    return make_agent(spec) if isinstance(spec, str) else check_agent(spec)


def run_one(spec: Any, seed: int, config: WorldConfig, logs: pd.DataFrame | None, days: float,
            batch_size: int, log_days: float, logging_policy: str, bucket_hours: float,
            with_regret: bool, progress: bool = False) -> pd.DataFrame:
    """One (agent, seed) run of `compare`: pre-period with the logging policy, warm start,
    then the agent for ``days``."""
    agent = make_agent(spec) if isinstance(spec, str) else copy.deepcopy(spec)
    env = NewsFeedVectorEnv(num_envs=visits_per_step(batch_size, config.n_users), config=config)
    obs, _ = env.reset(seed=seed)
    if log_days > 0:
        obs = play(env, make_agent(logging_policy), obs, days=log_days, whole_batches=True)
    frame = drive(env, agent, obs, days=days, progress=progress, bucket_hours=bucket_hours,
                  with_regret=with_regret, name=spec if isinstance(spec, str) else None,
                  logs=logs)
    env.close()
    return frame


def _run_one_single_threaded(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """`run_one` in a Ray worker: Ray runs one task per core, so torch keeps to one thread
    (and the simulator's numba kernels too, through the task's NUMBA_NUM_THREADS=1: idle
    OpenMP threads of several processes would otherwise spin on the same cores)."""
    import torch

    torch.set_num_threads(1)
    return run_one(*args, **kwargs)


def _compare_ray(jobs: list[tuple[Any, int]], seeds: list[int],
                 logs_for: Callable[[int], pd.DataFrame | None], config: WorldConfig,
                 address: str | None, settings: dict[str, Any]) -> list[pd.DataFrame]:
    """Fan the runs out as Ray tasks (the logs of a seed are put in the object store once)."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError("backend='ray' needs Ray: pip install 'drnsim[ray]'") from exc
    if not ray.is_initialized():
        ray.init(address=address)
    task = ray.remote(runtime_env={"env_vars": {"NUMBA_NUM_THREADS": "1"}})(
        _run_one_single_threaded)
    log_refs = {seed: ray.put(logs_for(seed)) for seed in seeds}
    return ray.get([task.remote(spec, seed, config, log_refs[seed], **settings)
                    for spec, seed in jobs])


# ---------------------------------------------------------------------------------------
def summarize(frame: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Agent x metric table of the episode values (`drnsim.metrics.episode_values`): mean
    and 95% interval across seeds (mean +- t sd / sqrt(n)); with ``baseline``, also the
    paired lift per seed, value(agent, seed) - value(baseline, seed) (same worlds), its mean
    and 95% interval. Every (agent, metric) of the frame has a row: one that is never
    defined (e.g. CTR when no item could be shown) has NaN and ``n_seeds`` 0."""
    if not isinstance(frame, pd.DataFrame) or not set(COLUMNS) <= set(frame.columns):
        raise InvalidTypeError(f"frame must be a tidy DataFrame with columns {COLUMNS} (what "
                               f"run_episode and compare return), got {type(frame).__name__}")
    if frame.empty:
        raise ValueError("frame has no rows: no visit was served (too few days or users?), "
                         "so there is nothing to summarize")
    values = episode_values(frame)
    groups = {key: group["value"] for key, group in values.groupby(["agent", "metric"],
                                                                  sort=False)}
    rows = []
    for agent, metric in frame[["agent", "metric"]].drop_duplicates().itertuples(index=False):
        series = groups.get((agent, metric), pd.Series(dtype=np.float64))
        mean, low, high = mean_ci(series)
        rows.append({"agent": agent, "metric": metric, "mean": mean, "low": low, "high": high,
                     "n_seeds": int(np.isfinite(series.to_numpy(np.float64)).sum())})
    table = pd.DataFrame(rows).set_index(["agent", "metric"])
    if baseline is None:
        return table
    wide = values.pivot_table(index=["metric", "seed"], columns="agent", values="value",
                              dropna=False)
    if baseline not in wide.columns:
        raise ValueError(f"baseline {baseline!r} is not among the agents "
                         f"{sorted(values['agent'].unique())}")
    diffs = wide.sub(wide[baseline], axis=0)
    lifts = []
    for (agent, metric) in table.index:
        known = metric in diffs.index.get_level_values("metric")
        mean, low, high = mean_ci(diffs.loc[metric, agent] if known else [])
        lifts.append((mean, low, high))
    table[["lift", "lift_low", "lift_high"]] = lifts
    return table
