"""Stock RL libraries on drnsim/UserJourney-v0: does PPO learn, and is the env fast enough?

    python benchmarks/rl_libraries.py                       # both parts (about 1.5 hours)
    python benchmarks/rl_libraries.py --parts learning --seeds 0   # one seed per process ...
    python benchmarks/rl_libraries.py --parts report        # ... and the tables over all
    python benchmarks/rl_libraries.py --quick               # smoke run, a few minutes

* **learning**: per seed, Stable-Baselines3 PPO trained by the README recipe ("box"
  observation, "weights" action, SB3's defaults, one env, a 1,000-user world with the
  default long-term trade-off, docs/design.md section 8) for at most --minutes of wall time
  (and --timesteps visits), once on reward "clicks" and once on "clicks+return"; then the
  two trained policies (deterministic), uniform random scores, `popular`, `oracle` (myopic)
  and `oracle:longterm` serve the same --journeys fresh journeys (worlds of a seed no
  training env used). Reported: clicks per visit of PPO (clicks) vs random and vs popular,
  and clicks per user over the 7-day journeys, retention@3d/7d, churn and clicks per visit
  of every policy against PPO trained on clicks: paired differences across seeds with 95%
  t-intervals; "higher" / "lower" when the interval excludes 0, else "tie".
* **headroom**: hand-set constant "weights" actions (popularity, the user's topic and
  provider clicks) beside `popular` and random on the same fresh journeys: what the action
  space offers without learning, the yardstick for a PPO policy that ties with `popular`.
* **throughput**: the vector journey env vs NewsFeed-v0, both at B = 1024 in the same run
  (each in a fresh process, alternating, --rounds times): visits per second, counting the
  background and warm-up visits a journey world simulates, with the default journeys per
  world and with 32,768 (fewer background run-ups per journey, more memory). Target
  (issue 15): the journey env serves at least half of NewsFeed's visits/s.

Results (tables) are printed and written under --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from drnsim.results import write_csv

RECIPE = dict(obs_mode="box", action_mode="weights")
FRESH = 1_000_000  # evaluation worlds: seed FRESH + s, never used in training


# ----------------------------------------------------------------------------------------
def train_ppo(env_kwargs: dict, seed: int, minutes: float, timesteps: int):
    """The README recipe: SB3 PPO, MlpPolicy, defaults, one env; stops after `timesteps`
    visits or `minutes` of wall time, whichever comes first. Returns (model, visits, s)."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    import drnsim

    torch.set_num_threads(1)
    deadline = time.perf_counter() + 60 * minutes

    class Deadline(BaseCallback):
        def _on_step(self) -> bool:
            return time.perf_counter() < deadline

    env = gym.make(drnsim.JOURNEY_ENV_ID, **env_kwargs)
    start = time.perf_counter()
    model = PPO("MlpPolicy", env, seed=seed).learn(timesteps, callback=Deadline())
    return model, model.num_timesteps, time.perf_counter() - start


def evaluate(policies: dict, journeys: int, seed: int, env_kwargs: dict) -> pd.DataFrame:
    """One row per (policy, figure) of `journey_summary` on the same fresh journeys."""
    from drnsim.rl import evaluate_journeys, journey_summary

    rows = []
    for name, policy in policies.items():
        try:
            figures = journey_summary(evaluate_journeys(policy, journeys, seed=seed,
                                                        **env_kwargs))
        except ValueError as exc:  # an agent this version does not have (oracle:longterm)
            print(f"  {name}: skipped ({str(exc).splitlines()[0][:90]})", flush=True)
            continue
        rows += [{"policy": name, "figure": k, "value": v} for k, v in figures.items()]
    return pd.DataFrame(rows)


def paired(table: pd.DataFrame, figure: str, baseline: str) -> pd.DataFrame:
    """Mean per policy and the paired difference against `baseline` across seeds, with
    95% t-intervals: "higher" (interval above 0), "lower" (below 0) or "tie"."""
    from drnsim.metrics import mean_ci

    wide = table[table["figure"] == figure].pivot(index="seed", columns="policy", values="value")
    out = []
    for policy in wide.columns:
        mean, low, high = mean_ci(wide[policy])
        row = {"policy": policy, figure: mean, "low": low, "high": high}
        if policy != baseline and baseline in wide.columns:
            d_mean, d_low, d_high = mean_ci(wide[policy] - wide[baseline])
            row |= {f"minus_{baseline}": d_mean, "diff_low": d_low, "diff_high": d_high,
                    "verdict": "higher" if d_low > 0 else "lower" if d_high < 0 else "tie"}
        out.append(row)
    return pd.DataFrame(out)


REWARDS = ("clicks", "clicks+return")
BASELINES = {"random": "random", "popular": "popular", "oracle": "oracle",
             "oracle:longterm": "oracle:longterm"}


def learning(args: argparse.Namespace) -> None:
    """Per seed: PPO by the README recipe on each reward of REWARDS, then every policy on the
    same fresh journeys; one CSV per seed (so that finished seeds survive an interrupted
    run), then the report over every seed found under --out."""
    env_kwargs = dict(RECIPE, n_users=args.n_users)
    for seed in args.seeds:
        policies: dict = {}
        for reward in REWARDS:
            model, visits, seconds = train_ppo(dict(env_kwargs, reward_mode=reward), seed,
                                               args.minutes, args.timesteps)
            print(f"seed {seed}: PPO on {reward} trained on {visits:,} visits in {seconds:.0f} s",
                  flush=True)
            policies[f"ppo[{reward}]"] = (lambda obs, m=model:
                                          m.predict(obs, deterministic=True)[0])
        start = time.perf_counter()
        table = evaluate(policies | BASELINES, args.journeys, FRESH + seed, env_kwargs)
        print(f"seed {seed}: evaluated on {args.journeys} fresh journeys in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        write_csv(args.out / f"learning_seed{seed}.csv", table.assign(seed=seed))
    report(args)


def report(args: argparse.Namespace) -> None:
    """The tables of the learning part from every learning_seed*.csv under --out."""
    files = sorted(args.out.glob("learning_seed*.csv"))
    if not files:
        print(f"no learning_seed*.csv under {args.out}")
        return
    table = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    n_seeds = table["seed"].nunique()
    print(f"\n{n_seeds} seeds ({sorted(table['seed'].unique().tolist())}), "
          f"{args.journeys} fresh journeys per seed, world: {args.n_users:,} users, defaults "
          f"(the long-term trade-off world)")
    recipe = table[table["policy"].isin(["ppo[clicks]", "ppo[clicks+return]", "random",
                                         "popular"])]
    for baseline in ("random", "popular"):
        print(f"\nclicks per visit, PPO (README recipe) vs {baseline}:")
        print(paired(recipe, "clicks_per_visit", baseline).to_string(index=False,
                                                                       float_format="%.3f"))
    for figure in ("clicks_per_user", "retention@3d", "retention@7d", "churn",
                   "clicks_per_visit"):
        print(f"\n{figure} (paired against PPO trained on clicks):")
        print(paired(table, figure, "ppo[clicks]").to_string(index=False, float_format="%.3f"))


def constant_weights() -> dict[str, np.ndarray]:
    """Hand-set "weights" actions (the same for every visit) over `CANDIDATE_FEATURES`."""
    from drnsim.envs import CANDIDATE_FEATURES

    def weights(**named: float) -> np.ndarray:
        out = np.zeros(len(CANDIDATE_FEATURES), np.float32)
        for name, value in named.items():
            out[CANDIDATE_FEATURES.index(name)] = value
        return out

    return {"w:popular_1h": weights(popularity_1h=1.0, age_hours=-0.01),
            "w:popular_24h": weights(popularity_24h=1.0, age_hours=-0.01),
            "w:topic_1w": weights(user_topic_clicks_1w=1.0, age_hours=-0.01),
            "w:popular_1h+topic_1w": weights(popularity_1h=1.0, user_topic_clicks_1w=1.0,
                                             age_hours=-0.01),
            "w:popular_1h+topic_1w+provider_1w": weights(
                popularity_1h=1.0, user_topic_clicks_1w=1.0, user_provider_clicks_1w=0.5,
                age_hours=-0.01)}


def headroom(args: argparse.Namespace) -> None:
    """What the "weights" action can reach without learning: hand-set constant weight
    vectors beside `popular` and random on the learning part's fresh journeys (a PPO policy
    below the best of them has not learned what its action space offers)."""
    env_kwargs = dict(RECIPE, n_users=args.n_users)
    tables = []
    for seed in args.seeds:
        policies = {name: (lambda obs, w=w: np.broadcast_to(w, (len(obs), len(w))))
                    for name, w in constant_weights().items()}
        table = evaluate(policies | {"popular": "popular", "random": "random"}, args.journeys,
                         FRESH + seed, env_kwargs)
        tables.append(table.assign(seed=seed))
        print(f"seed {seed} done", flush=True)
    table = pd.concat(tables, ignore_index=True)
    write_csv(args.out / "headroom.csv", table)
    for figure in ("clicks_per_visit", "clicks_per_user"):
        print(f"\n{figure} of constant weights (paired against popular):")
        print(paired(table, figure, "popular").to_string(index=False, float_format="%.3f"))


# ----------------------------------------------------------------------------------------
def measure_throughput(kind: str, batch: int, n_users: int, steps: int) -> dict:
    """Visits per second of `steps` vector steps after a 3-step warm-up (fresh process)."""
    from drnsim.envs import NewsFeedVectorEnv, UserJourneyVectorEnv

    if kind.startswith("journey"):  # "journey" or "journey:R" (R journeys per world)
        _, _, per_world = kind.partition(":")
        env = UserJourneyVectorEnv(batch, n_users=n_users,
                                   journeys_per_world=int(per_world) if per_world else None)
    else:
        env = NewsFeedVectorEnv(batch, n_users=n_users, episode_days=365.0)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (8, *env.action_space.shape))
    actions = actions.astype(np.float32)
    for i in range(3):
        env.step(actions[i])

    def simulated() -> int:
        return env.journeys.simulated_visits if kind.startswith("journey") else 0

    before, start = simulated(), time.perf_counter()
    for i in range(steps):
        env.step(actions[i % 8])
    seconds = time.perf_counter() - start
    agent, background = steps * batch, simulated() - before
    return {"env": kind, "agent_visits_per_s": agent / seconds,
            "background_visits_per_s": background / seconds,
            "visits_per_s": (agent + background) / seconds, "seconds": seconds}


def throughput(args: argparse.Namespace) -> None:
    rows = []
    for round_ in range(args.rounds):
        for kind, steps in (("newsfeed", args.news_steps), ("journey", args.journey_steps),
                            ("journey:32768", args.journey_steps)):
            out = subprocess.run([sys.executable, __file__, "--one-throughput",
                                  json.dumps([kind, 1024, args.throughput_users, steps])],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1]) | {"round": round_}
            rows.append(row)
            print(f"round {round_}: {kind:<9} {row['visits_per_s']:>10,.0f} visits/s "
                  f"(agent {row['agent_visits_per_s']:,.0f}, background and warm-up "
                  f"{row['background_visits_per_s']:,.0f}) over {row['seconds']:.0f} s",
                  flush=True)
    table = pd.DataFrame(rows)
    write_csv(args.out / "throughput.csv", table)
    means = table.groupby("env")[["visits_per_s", "agent_visits_per_s"]].mean()
    news = means.loc["newsfeed", "visits_per_s"]
    for kind in ("journey", "journey:32768"):
        ratio = means.loc[kind, "visits_per_s"] / news
        print(f"{kind} / NewsFeed visits/s at B = 1024, {args.throughput_users:,} users: "
              f"{ratio:.2f} (target >= 0.5: {'meets' if ratio >= 0.5 else 'BELOW'}); the "
              f"agent's visits alone: {means.loc[kind, 'agent_visits_per_s'] / news:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["learning", "throughput"],
                        choices=["learning", "report", "headroom", "throughput"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per run")
    parser.add_argument("--timesteps", type=int, default=150_000)
    parser.add_argument("--n-users", type=int, default=1000)
    parser.add_argument("--journeys", type=int, default=512)
    parser.add_argument("--throughput-users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--journey-steps", type=int, default=400,
                        help="vector steps per measurement (about 2 world lifetimes)")
    parser.add_argument("--news-steps", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("results/rl_libraries"))
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny budgets")
    parser.add_argument("--one-throughput", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_throughput:
        print(json.dumps(measure_throughput(*json.loads(args.one_throughput))))
        return
    if args.quick:
        args.seeds, args.minutes, args.timesteps, args.journeys = [0, 1], 0.5, 2048, 64
        args.throughput_users, args.rounds, args.journey_steps, args.news_steps = 3000, 1, 30, 60
    args.out.mkdir(parents=True, exist_ok=True)
    for part in args.parts:
        print(f"\n=== {part} ===", flush=True)
        {"learning": learning, "report": report, "headroom": headroom,
         "throughput": throughput}[part](args)


if __name__ == "__main__":
    main()
