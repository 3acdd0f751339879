"""The online comparison of the DRN paper (Zheng et al., WWW 2018, online evaluation) in the
simulator, on the long-term world (docs/design.md section 8) and on its clicks-only control
(`tradeoff_strength=0`): static LR, FM and Wide&Deep trained on the logs, LinUCB, HLinUCB and
the DRN variants DN, DDQN, DDQN+U, DDQN+R (the true return instead of the activeness),
DDQN+U+EG and DRN (DDQN+U+DBGD), on identical worlds.

    python benchmarks/drn_paper.py                    # 5 seeds, 2000 users, 3 days, both worlds
    python benchmarks/drn_paper.py --quick            # 2 seeds, 1000 users, 1 day: a smoke run
    python benchmarks/drn_paper.py --seeds 0 1 2 3 4 --days 2 --users 1000  # the smaller run

The full run is 110 (world, seed, agent) runs; its seed-0 runs on the trade-off world took
about 290 s of CPU time (DRN variants 20-45 s each, static models and bandits 5-9 s), so
about 2,900 CPU-seconds in all: about 25 minutes on 2 idle cores (the 2026-12-01 figure was
measured on a machine shared by several jobs, whose wall time says nothing).
    python benchmarks/drn_paper.py --seeds 0 1 2 --days 2 --users 3000 --jobs 2

Per (world, seed) one pre-period (`drnsim.loop.pre_period`: 1 day of `popular` with 10%
exploration) writes the logs and leaves the world; every agent gets its own copy of that
world and the logs (the same path as `drnsim.compare`). Each run is a task of a process pool
(one per core), cached under OUT/runs (a killed benchmark resumes).

Prints, per world, CTR, clicks per user over the horizon, the true return rate (visits per
user per day), retention@1d, ILS, DRN's activeness estimate and churn with 95% intervals
across seeds beside the paper's figures (docs/design.md section 7); then the paper's claims,
each paired per seed on identical worlds (mean [95% interval] of the per-seed difference),
with "holds" / "does not hold" on both worlds: (a) DRN's CTR above LR, FM and W&D; (b) DDQN
above DN on clicks per user; (c) DDQN+U above DDQN on return rate and retention (and DDQN+R,
the true return, against both); (d) DRN's ILS below DDQN+U+EG's. Then diagnostics measured in
the seed-0 runs (what the learners' targets are made of, how far DBGD's explore network moves
the list), and the wall time, CPU time and load.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

# One process per core: torch and the simulator's numba kernels keep to one thread per
# worker (idle OpenMP threads of several processes would spin on the same cores).
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from drnsim.metrics import episode_values, mean_ci  # noqa: E402
from drnsim.results import write_csv, write_text  # noqa: E402

#: (paper label, agent name) in the paper's table order, DDQN+R added after DDQN+U.
AGENTS = [("LR", "static:lr"), ("FM", "static:fm"), ("W&D", "static:wide_deep"),
          ("LinUCB", "linucb"), ("HLinUCB", "hlinucb"), ("DN", "drn:dn"),
          ("DDQN", "drn:ddqn"), ("DDQN+U", "drn:ddqn+u"), ("DDQN+R", "drn:ddqn+r"),
          ("DDQN+U+EG", "drn:ddqn+u+eg"), ("DRN", "drn")]
STATIC = ["static:lr", "static:fm", "static:wide_deep"]
WORLDS = {"trade-off": 1.0, "control": 0.0}  # tradeoff_strength
#: Online figures the paper reports (docs/design.md section 7); None where it gives none.
PAPER_CTR = {"LR": 0.0059, "FM": 0.0072, "W&D": 0.0052, "LinUCB": 0.0075, "HLinUCB": 0.0085,
             "DN": 0.0100, "DDQN": 0.0111, "DDQN+U": 0.0089, "DDQN+R": None,
             "DDQN+U+EG": 0.0083, "DRN": 0.0113}
PAPER_ILS = {"DDQN+U+EG": 0.1907, "DRN": 0.1216}
METRICS = ["ctr", "clicks_per_user", "return_rate", "retention@1d", "ils", "activeness",
           "churn"]
DIAGNOSED = ["drn:dn", "drn:ddqn", "drn:ddqn+u", "drn:ddqn+r", "drn"]


# ---------------------------------------------------------------------------------------
# Runs (in worker processes)
def pre_path(out: Path, world: str, seed: int) -> Path:
    return out / "pre" / f"{world}_seed{seed}.pkl"


def make_pre_period(out: Path, world: str, seed: int, config: dict, log_days: float) -> Path:
    """The (world, seed) pre-period, pickled (skipped when already there)."""
    from drnsim.loop import pre_period

    path = pre_path(out, world, seed)
    if not path.exists():
        pre = pre_period(config, seed, log_days)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(pre, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)
    return path


_LOADED: dict[str, Any] = {}


def run(out: Path, world: str, seed: int, agent_name: str, days: float) -> Path:
    """One (world, seed, agent) run from the pickled pre-period, cached as CSV; DRN variants
    on seed 0 also write their diagnostics (JSON)."""
    path = out / "runs" / f"{world}_seed{seed}_{agent_name.replace(':', '-')}.csv"
    if path.exists():
        return path
    import torch

    from drnsim.agents import make_agent
    from drnsim.loop import drive

    torch.set_num_threads(1)
    source = str(pre_path(out, world, seed))
    if source not in _LOADED:  # one pre-period per worker at a time
        _LOADED.clear()
        _LOADED[source] = pickle.loads(Path(source).read_bytes())
    pre = _LOADED[source]
    start, cpu = time.time(), time.process_time()
    agent = make_agent(agent_name)
    probe = DuelProbe(agent) if agent_name == "drn" and seed == 0 else agent
    env, obs = pre.fork()
    frame = drive(env, probe, obs, days=days, progress=False, with_regret=False,
                  name=agent_name, logs=pre.logs)
    write_csv(path, frame)
    if agent_name in DIAGNOSED and seed == 0:
        figures = target_figures(getattr(agent, "base", agent))
        if isinstance(probe, DuelProbe):
            figures.update(probe.figures())
        write_text(path.with_suffix(".json"), json.dumps(figures, indent=1))
    print(f"  {world:<9s} seed {seed}  {agent_name:<16s} {time.time() - start:6.1f} s wall "
          f"{time.process_time() - cpu:6.1f} s cpu", flush=True)
    return path


# ---------------------------------------------------------------------------------------
# Diagnostics
class DuelProbe:
    """Wraps the DRN agent and measures DBGD: how many of the current network's top-K
    items the explore network W~ also ranks in its top K, how many of the shown (interleaved)
    items come from outside the current network's top K, and how often W~ wins a duel."""

    def __init__(self, agent: Any):
        self.agent, self.name = agent, agent.name
        self.overlap: list[float] = []
        self.outside: list[float] = []
        self.duels: list[bool] = []
        minor = agent.minor_update

        def recorded() -> bool:
            won = minor()
            self.duels.append(won)
            return won

        agent.minor_update = recorded

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.agent, attr)

    def act(self, obs: dict) -> np.ndarray:
        from drnsim.envs import rank_slates

        agent, k = self.agent, self.agent.config.slate_size
        scores = agent.act(obs)  # the agent's own push, unchanged (the probe draws nothing)
        batch, mask = agent._features(obs), obs["candidates"]["mask"]
        mine = rank_slates(agent.model.score(batch), mask, k)
        theirs = rank_slates(agent.explorer.score(batch), mask, k)
        shown = rank_slates(scores, mask, k)
        self.overlap.append(np.mean([len(set(a) & set(b)) / k
                                     for a, b in zip(mine, theirs, strict=True)]))
        self.outside.append(np.mean([len(set(s) - set(a)) / k
                                     for a, s in zip(mine, shown, strict=True)]))
        return scores

    def figures(self) -> dict[str, float]:
        return {"dbgd_top_k_overlap": float(np.mean(self.overlap)),
                "dbgd_shown_outside_w_top_k": float(np.mean(self.outside)),
                "dbgd_explore_win_share": float(np.mean(self.duels)) if self.duels else np.nan,
                "dbgd_duels": len(self.duels)}


def target_figures(agent: Any) -> dict[str, float]:
    """What the Double-DQN targets of the agent's memory are made of, per shown item: the
    click, the return term beta * R and the future term gamma * Q'(s', argmax Q(s', .)),
    with their spread across transitions; the share of terminal transitions and of R at
    its cap 1 (S saturated); the replay counts."""
    import torch

    from drnsim.agents.drn import double_dqn_target

    memory = agent.replay.memory
    rows = memory.get(memory.held_ids())
    shown = rows["shown"] >= 0
    clicks = rows["clicks"][shown]
    figures = {**{f"replay_{k}": v for k, v in agent.replay_stats().items()},
               "click_mean": float(clicks.mean()), "click_sd": float(clicks.std()),
               "return_R_mean": float(rows["return_reward"].mean()),
               "return_R_sd": float(rows["return_reward"].std()),
               "return_R_at_1": float((rows["return_reward"] >= 1.0 - 1e-6).mean()),
               "return_term_sd": float(agent.beta * rows["return_reward"].std()),
               "terminal_share": float(rows["done"].mean()), "gamma": agent.gamma,
               "beta": agent.beta}
    if agent.gamma > 0:
        with torch.no_grad():
            zero = torch.zeros((len(rows["shown"]), 1))
            future = double_dqn_target(agent.model, agent.target, zero,
                                       agent._q_input(rows, "next_"), agent.gamma)[:, 0]
            q = agent.model(agent._q_input(rows))
        figures.update(future_term_mean=float(future.mean()), future_term_sd=float(future.std()),
                       q_spread_within_visit=float(
                           q.masked_fill(~torch.as_tensor(rows["mask"]), float("nan"))
                           .nanquantile(0.9, dim=1).sub(q.masked_fill(
                               ~torch.as_tensor(rows["mask"]), float("nan"))
                               .nanquantile(0.1, dim=1)).mean()))
        gaps = rows["next_time"] - rows["time"]
        alive = ~rows["done"]
        figures["next_visit_gap_h_median"] = float(np.median(gaps[alive]) / 3600)
        figures["future_vs_gap_corr"] = float(np.corrcoef(future.numpy()[alive],
                                                          gaps[alive])[0, 1])
    return figures


# ---------------------------------------------------------------------------------------
# Tables and claims
def cell(values: pd.Series, digits: int) -> str:
    mean, low, high = mean_ci(values)
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


DIGITS = {"ctr": 4, "clicks_per_user": 2, "return_rate": 3, "retention@1d": 3, "ils": 4,
          "activeness": 3, "churn": 3}


def table(values: pd.DataFrame) -> str:
    """Agent x metric, mean [95% interval] across seeds, the paper's CTR and ILS beside."""
    metrics = [m for m in METRICS if m in set(values["metric"])]
    head = (f"{'agent':<10s} {'paper CTR':>9s} " + " ".join(f"{m:>24s}" for m in metrics)
            + f" {'paper ILS':>9s}")
    lines = [head, "-" * len(head)]
    for label, agent in AGENTS:
        rows = values[values["agent"] == agent]
        if rows.empty:
            continue
        cells = [cell(rows[rows["metric"] == m]["value"], DIGITS[m]) for m in metrics]
        paper_ctr = f"{PAPER_CTR[label]:.4f}" if PAPER_CTR[label] else "-"
        paper_ils = f"{PAPER_ILS[label]:.4f}" if label in PAPER_ILS else "-"
        lines.append(f"{label:<10s} {paper_ctr:>9s} " + " ".join(f"{c:>24s}" for c in cells)
                     + f" {paper_ils:>9s}")
    return "\n".join(lines)


def paired(values: pd.DataFrame, agent: str, baseline: str, metric: str
           ) -> tuple[float, float, float]:
    """value(agent) - value(baseline) per seed (same worlds): mean and 95% interval."""
    wide = values[values["metric"] == metric].pivot(index="seed", columns="agent",
                                                    values="value")
    return mean_ci(wide[agent] - wide[baseline])


#: (claim, agent, baseline, metric, sign): the claim holds when the paired interval lies
#: on the sign's side of 0 (+1 above, -1 below).
CLAIMS = [
    *[("a", "drn", other, "ctr", 1) for other in STATIC],
    ("b", "drn:ddqn", "drn:dn", "clicks_per_user", 1),
    ("c", "drn:ddqn+u", "drn:ddqn", "return_rate", 1),
    ("c", "drn:ddqn+u", "drn:ddqn", "retention@1d", 1),
    ("c", "drn:ddqn+r", "drn:ddqn", "return_rate", 1),
    ("c", "drn:ddqn+r", "drn:ddqn", "retention@1d", 1),
    ("c", "drn:ddqn+r", "drn:ddqn+u", "return_rate", 1),
    ("d", "drn", "drn:ddqn+u+eg", "ils", -1),
]


def verdict(low: float, high: float, sign: int) -> str:
    return "holds" if (low > 0 if sign > 0 else high < 0) else "does not hold"


def claims(values: dict[str, pd.DataFrame]) -> str:
    """Each claim on both worlds, paired per seed: difference and verdict; (e) is whether a
    claim that holds with the trade-off vanishes (does not hold) on the control."""
    lines = [f"{'':3s} {'claim':<46s} " + " ".join(f"{w + ': diff [95% interval]':>44s}"
                                                 for w in WORLDS) + "  (e) on the control"]
    for key, agent, baseline, metric, sign in CLAIMS:
        side = ">" if sign > 0 else "<"
        text = f"{agent} {side} {baseline} on {metric}"
        cells, held = [], {}
        for world in WORLDS:
            if metric not in set(values[world]["metric"]):
                cells.append(f"{'n/a':>44s}")
                continue
            mean, low, high = paired(values[world], agent, baseline, metric)
            held[world] = verdict(low, high, sign)
            cells.append(f"{mean:+.4f} [{low:+.4f}, {high:+.4f}] {held[world]:>13s}")
        vanish = ("-" if held.get("trade-off") != "holds" else
                  "vanishes" if held.get("control") == "does not hold" else "stays")
        lines.append(f"({key}) {text:<46s} " + " ".join(f"{c:>44s}" for c in cells)
                     + f"  {vanish}")
    return "\n".join(lines)


def diagnostics(out: Path) -> str:
    """The seed-0 diagnostics of each world, one line per agent."""
    lines = []
    for world in WORLDS:
        for agent in DIAGNOSED:
            path = out / "runs" / f"{world}_seed0_{agent.replace(':', '-')}.json"
            if path.exists():
                figures = json.loads(path.read_text())
                text = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in figures.items())
                lines.append(f"  {world:<9s} {agent:<12s} {text}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--days", type=float, default=3.0, help="online days after the logs")
    parser.add_argument("--users", type=int, default=2000, help="n_users of the world")
    parser.add_argument("--log-days", type=float, default=1.0)
    parser.add_argument("--quick", action="store_true",
                        help="2 seeds, 1 day, 1000 users: a smoke run")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("results/drn_paper"))
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.days, args.users = args.seeds[:2], 1.0, 1000
        args.out = args.out.with_name(args.out.name + "_quick")
    started, load = time.time(), os.getloadavg()
    configs = {world: {"n_users": args.users, "tradeoff_strength": strength,
                       "episode_days": args.log_days + args.days}
               for world, strength in WORLDS.items()}
    print(f"{len(AGENTS)} agents x seeds {args.seeds} x worlds {list(WORLDS)}: {args.days} "
          f"days after a {args.log_days}-day pre-period, {args.users} users, {args.jobs} "
          f"processes; load average {load[0]:.1f}", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(make_pre_period, *zip(*[
            (args.out, world, seed, configs[world], args.log_days)
            for world in WORLDS for seed in args.seeds], strict=True)))
        tasks = [(args.out, world, seed, agent, args.days)  # seed by seed: a partial run
                 for seed in args.seeds for world in WORLDS for _, agent in AGENTS]
        paths = list(pool.map(run, *zip(*tasks, strict=True)))
    frames = pd.concat([pd.read_csv(p).assign(world=t[1])
                        for p, t in zip(paths, tasks, strict=True)], ignore_index=True)
    values = {world: episode_values(frames[frames["world"] == world].drop(columns="world"))
              for world in WORLDS}
    write_csv(args.out / "episode_values.csv",
              pd.concat(values, names=["world"]).reset_index(level=0))
    for world, strength in WORLDS.items():
        print(f"\n{world} world (tradeoff_strength = {strength}): mean [95% interval] across "
              f"{len(args.seeds)} seeds; the paper's figures beside")
        print(table(values[world]))
    print("\nClaims of the paper, paired per seed on identical worlds (docs/design.md "
          "section 7)")
    print(claims(values))
    print("\nDiagnostics (seed 0): replay counts; per shown item the click, the return term "
          "beta R and the future term gamma Q'(s', a'); DBGD's lists")
    print(diagnostics(args.out))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu = children.ru_utime + children.ru_stime + own.ru_utime + own.ru_stime
    end_load = os.getloadavg()
    print(f"\nwall time {time.time() - started:.0f} s, CPU time {cpu:.0f} s (this run, all "
          f"processes); load average {load[0]:.1f} at the start, {end_load[0]:.1f} "
          f"({end_load[2]:.1f} over 15 min) at the end on {os.cpu_count()} cores; "
          f"episode values in {args.out / 'episode_values.csv'}")


if __name__ == "__main__":
    main()
