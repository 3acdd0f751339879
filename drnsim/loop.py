"""The push -> feedback -> update loop (docs/design.md section 5).

    frame = run_episode(env, agent, days=1.0, seed=0)      # one agent, one world
    frame = compare(["oracle", "linucb", "random"], seeds=(0, 1, 2), days=3.0)
    table = summarize(frame, baseline="random")            # mean, 95% CI, paired lift

Each step the agent scores the candidates of the visits about to be served (`act`), the env
shows the top K and returns the clicks (push -> feedback), the agent sees them (`observe`)
and runs its own schedule (`update`). Frames are tidy: columns agent, seed, time (simulated
hours at the end of each bucket), metric, value; `drnsim.metrics.bucket_metrics` lists the
metrics and their formulas.

`pre_period` is the one logged pre-period of a seed: a single rollout of the logging policy
that both writes the logs and leaves the world every agent continues from, so the logs are
exactly the visits of that world (docs/design.md section 12). `compare` runs it once per seed and
gives each agent its own copy of the world (`PrePeriod.fork`).
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from drnsim._parallel import torch_threads
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
    COLUMNS,
    ActivenessTracker,
    bucket_metrics,
    intra_list_similarity,
    ndcg_at_k,
    precision_at_k,
    regret,
    retention,
)

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
    end = np.inf if days is None else start + days * DAY
    n_active = int((~world.users.churned).sum())  # the users of clicks_per_user
    churned = cfg.n_users - n_active  # users gone, counted visit by visit from here
    tracker = ActivenessTracker(cfg.n_users)
    records: list[pd.DataFrame] = []
    snapshots: list[dict[str, float]] = []
    bucket_seconds = bucket_hours * HOUR
    bucket = 0

    def take(users: np.ndarray, times: np.ndarray, left: np.ndarray) -> None:
        nonlocal churned
        tracker.visit(users, times)
        churned += int(left.sum())

    def snapshot(index: int, at: float) -> None:
        snapshots.append({"bucket": index, "activeness": tracker.mean(at),
                          "churn": churned / cfg.n_users})

    def record(batched: dict, info: dict, true_a: np.ndarray | None) -> None:
        """Per-visit records; each ended bucket's snapshot sees exactly the visits before its
        end (a vector-env batch may span a bucket's end)."""
        nonlocal bucket
        records.append(_visit_records(info, batched, true_a, world, start))
        users, times, left = info["user_id"], info["sim_time"], info["churned"]
        todo = times < end
        reached = int((min(times.max(), end) - start) // bucket_seconds)
        for done in range(bucket, reached):  # snapshot the buckets that just ended
            edge = start + (done + 1) * bucket_seconds
            now = todo & (times < edge)
            take(users[now], times[now], left[now])
            todo &= ~now
            snapshot(done, edge)
        take(users[todo], times[todo], left[todo])
        bucket = max(bucket, reached)

    play(env, agent, obs, days=days, progress=progress, name=name, on_step=record,
         with_regret=with_regret, logs=logs)
    if not records:
        return pd.DataFrame(columns=COLUMNS)
    snapshot(bucket, min(world.clock, end))
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


@torch_threads()
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
                     -1)
    record = {
        "time": info["sim_time"] - start,
        "user": info["user_id"],
        "clicks": clicks.sum(axis=1),
        "dwell": info["dwell"].sum(axis=1),
        "impressions": (shown >= 0).sum(axis=1),
        "p5": precision_at_k(clicks, shown, 5),
        "ndcg": ndcg_at_k(clicks.astype(np.float64)),
        "ils": intra_list_similarity(world.news.take("vector", items), clicks),
        "gap": info["gap"],
    }
    if true_a is not None:
        record["regret"] = regret(true_a, shown, world.position_bias, world.config.click_model)
    return pd.DataFrame(record)


# ---------------------------------------------------------------------------------------
@dataclass
class PrePeriod:
    """A world after its logged pre-period (`pre_period`): ``env`` (a `NewsFeedVectorEnv`
    whose next batch is the first visit after the pre-period), ``obs`` (that batch's
    observation) and ``logs`` (one row per shown item of every visit the pre-period served,
    `drnsim.logs` schema; None when not recorded)."""

    env: NewsFeedVectorEnv
    obs: dict
    logs: pd.DataFrame | None

    def fork(self) -> tuple[NewsFeedVectorEnv, dict]:
        """An independent deep copy of the env and its observation, for one agent. Copying
        (about a millisecond per thousand users) is far cheaper than re-running the
        pre-period (`benchmarks/pre_period.py` measures both)."""
        return copy.deepcopy((self.env, self.obs))


def pre_period(config: WorldConfig | Mapping[str, Any] | None, seed: int, days: float = 1.0,
               policy: Any = "popular", epsilon: float = 0.1, batch_size: int = 256,
               record: bool = True) -> PrePeriod:
    """Reset the world of ``seed`` and serve ``days`` of it with the logging policy
    (``policy``: an agent name or object, mixed per visit with uniformly random rankings
    with probability ``epsilon``, exact propensities: `drnsim.logs.ImpressionLogger`) in one
    rollout: its logs (``record``) are exactly the visits of the world it hands over, batch
    for batch (only whole batches that end before ``days`` are served, so the next agent
    takes over exactly where the logs stop). ``batch_size`` visits per step, at most
    n_users / 16 (`visits_per_step`). With ``days = 0`` nothing is served or logged."""
    from drnsim.logs import ImpressionLogger

    seed, days = check_seed("seed", seed), non_negative("days", days)
    probability("epsilon", epsilon)
    batch_size = int_at_least("batch_size", batch_size, 1)
    boolean("record", record)
    cfg = WorldConfig.coerce(config)
    env = NewsFeedVectorEnv(num_envs=visits_per_step(batch_size, cfg.n_users), config=cfg)
    obs, _ = env.reset(seed=seed)
    if days <= 0:
        return PrePeriod(env, obs, None)
    logger = ImpressionLogger(make_agent(policy) if isinstance(policy, str) else policy,
                              epsilon, seed, record=record)
    obs = play(env, logger, obs, days=days, whole_batches=True)
    return PrePeriod(env, obs, logger.logs() if record else None)


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
        try:
            make_agent(logging_policy)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"logging_policy: {exc}") from None
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
    one pre-period of ``log_days`` (`pre_period`): ``logging_policy`` with ``log_epsilon``
    random exploration serves it and its logs (with propensities) go to every agent's
    optional ``warm_start(logs)``; then each agent serves its own copy of the world the logs
    came from, for ``days`` (same users, same news, common random numbers; frame times count
    from the end of the pre-period; ``batch_size`` visits are served per step, at most
    n_users / 16, see `visits_per_step`). The pre-period runs once per seed, whatever the
    number of agents. Agents are names for `make_agent` (built afresh per seed) or objects
    (deep-copied per seed). ``backend="ray"`` runs the (agent, seed) pairs as Ray tasks, on a
    local Ray or the cluster at ``address``.
    Every argument is checked before anything runs: agents (built once to check names and
    keywords), seeds (distinct integers in [0, 2**63)), ranges, and the memory the world
    would need (`WorldConfig.check_memory`)."""
    specs, instances, seeds, cfg = check_compare(
        agents, seeds, days, world, batch_size, backend, address, log_days, logging_policy,
        log_epsilon, bucket_hours, with_regret, progress)
    settings = dict(days=days, bucket_hours=bucket_hours, with_regret=with_regret)
    wants_logs = log_days > 0 and any(hasattr(agent, "warm_start") for agent in instances)

    def pre_for(seed: int) -> PrePeriod:
        return pre_period(cfg, seed, log_days, logging_policy, log_epsilon, batch_size,
                          record=wants_logs)

    if backend == "ray":
        return pd.concat(_compare_ray(specs, seeds, pre_for, address, settings),
                         ignore_index=True)
    frames = []
    with tqdm(total=len(specs) * len(seeds), desc="compare", unit="run",
              disable=not progress) as bar:
        for seed in seeds:
            pre = pre_for(seed)
            for spec in specs:
                bar.set_postfix(agent=spec if isinstance(spec, str) else agent_name(spec),
                                seed=seed)
                frames.append(run_one(spec, pre, progress=progress, **settings))
                bar.update()
    return pd.concat(frames, ignore_index=True)


def _instance(spec: Any) -> Any:
    return make_agent(spec) if isinstance(spec, str) else check_agent(spec)


def run_one(spec: Any, pre: PrePeriod, days: float, bucket_hours: float = 1.0,
            with_regret: bool = True, progress: bool = False) -> pd.DataFrame:
    """One (agent, seed) run of `compare`: the agent (a name, or an object it deep-copies)
    gets its own copy of the pre-period's world, warm-starts from its logs and serves
    ``days``."""
    agent = make_agent(spec) if isinstance(spec, str) else copy.deepcopy(spec)
    env, obs = pre.fork()
    frame = drive(env, agent, obs, days=days, progress=progress, bucket_hours=bucket_hours,
                  with_regret=with_regret, name=spec if isinstance(spec, str) else None,
                  logs=pre.logs)
    env.close()
    return frame


def _run_one_single_threaded(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """`run_one` in a Ray worker: Ray runs one task per core, so torch keeps to one thread
    (and the simulator's numba kernels too, through the task's NUMBA_NUM_THREADS=1: idle
    OpenMP threads of several processes would otherwise spin on the same cores)."""
    import torch

    torch.set_num_threads(1)
    return run_one(*args, **kwargs)


def start_ray(address: str | None = None) -> None:
    """Start a local Ray (``address`` None or "local"), or connect to the cluster at
    ``address`` ("auto", HOST:PORT or ray://HOST:PORT) after checking that it answers (an
    unreachable address is a one-line error, not a long retry). No-op if Ray is running."""
    if address not in (None, "local", "auto"):
        check_reachable(address)
    try:
        import ray
    except ImportError:
        raise ImportError("backend='ray' (--backend ray) needs Ray: "
                          "pip install 'drnsim[ray]'") from None
    if ray.is_initialized():
        return
    if address in (None, "local"):
        ray.init(include_dashboard=False, logging_level="WARNING")
    else:
        ray.init(address=address, logging_level="WARNING")


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Open and close a TCP connection to HOST:PORT (``ray://`` prefix allowed)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"address (--address) must be HOST:PORT or ray://HOST:PORT, "
                         f"got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConnectionError(f"cannot reach a Ray cluster at {address}: {reason}") from None


def _compare_ray(specs: list[Any], seeds: list[int], pre_for: Callable[[int], PrePeriod],
                 address: str | None, settings: dict[str, Any]) -> list[pd.DataFrame]:
    """Fan the runs out as Ray tasks (each seed's pre-period runs once and is put in the
    object store; every task gets its own copy)."""
    start_ray(address)  # a one-line ImportError without Ray
    import ray

    task = ray.remote(runtime_env={"env_vars": {"NUMBA_NUM_THREADS": "1"}})(
        _run_one_single_threaded)
    refs = {seed: ray.put(pre_for(seed)) for seed in seeds}
    return ray.get([task.remote(spec, refs[seed], **settings)
                    for seed in seeds for spec in specs])
