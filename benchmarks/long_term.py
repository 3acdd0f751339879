"""Does looking ahead pay? The myopic and the far-sighted oracle (and random, popular,
LinUCB) on the long-term world (docs/design.md section 8), paired on identical worlds.

    python benchmarks/long_term.py                       # default world, 7 days, 5 seeds
    python benchmarks/long_term.py --seeds 0 1 2 --n-users 2000 --jobs 2    # smaller

Prints, for the default trade-off (tradeoff_strength = 1) and the clicks-only control (0):
CTR, clicks per user over the horizon, visits per user per day, retention and dwell per
agent (mean and 95% interval across seeds), then the paired lift of `oracle:longterm` over
`oracle` per seed with its 95% interval, relative (clicks per user) and absolute (CTR), and
checks the claims: with the trade-off the far-sighted oracle earns at least 10% more clicks
per user with a lower CTR; without it it does not beat the myopic one. A sweep of
tradeoff_strength (0, 0.5, 1, 2) shows how the gap grows with the knob. Each run is cached
under OUT/runs (a killed benchmark resumes); the pre-period is off (log_days 0): no agent
here learns from logs.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd
from _runs import run_all

from drnsim.metrics import episode_values, mean_ci
from drnsim.results import write_csv

AGENTS = ["oracle", "oracle:longterm", "popular", "linucb", "random"]
ORACLES = ["oracle", "oracle:longterm"]
METRICS = ["ctr", "clicks_per_user", "visits_per_user_day", "retention@1d", "retention@3d",
           "retention@7d", "churn", "dwell", "ils"]
SWEEP = (0.0, 0.5, 1.0, 2.0)


def cell(values: pd.Series, digits: int = 4) -> str:
    mean, low, high = mean_ci(values)
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def table(values: pd.DataFrame) -> str:
    """Agent x metric: mean [95% interval] across seeds."""
    metrics = [m for m in METRICS if m in set(values["metric"])]
    lines = [f"{'agent':<16s} " + " ".join(f"{m:>22s}" for m in metrics)]
    for agent in [a for a in AGENTS if a in set(values["agent"])]:
        rows = values[values["agent"] == agent]
        cells = [cell(rows[rows["metric"] == m]["value"],
                      2 if m in ("clicks_per_user", "dwell") else 4) for m in metrics]
        lines.append(f"{agent:<16s} " + " ".join(f"{c:>22s}" for c in cells))
    return "\n".join(lines)


def oracle_gap(values: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """Paired per seed: clicks_per_user ratio - 1 and CTR difference, longterm vs myopic."""
    wide = values[values["agent"].isin(ORACLES)].pivot_table(
        index=["metric", "seed"], columns="agent", values="value")
    cpu, ctr = wide.loc["clicks_per_user"], wide.loc["ctr"]
    return {"clicks_per_user": mean_ci(cpu["oracle:longterm"] / cpu["oracle"] - 1.0),
            "ctr": mean_ci(ctr["oracle:longterm"] - ctr["oracle"])}


def gap_line(gap: dict[str, tuple[float, float, float]]) -> str:
    (m, lo, hi), (c, clo, chi) = gap["clicks_per_user"], gap["ctr"]
    return (f"clicks_per_user {m:+.1%} [{lo:+.1%}, {hi:+.1%}]   "
            f"CTR {c:+.4f} [{clo:+.4f}, {chi:+.4f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--n-users", type=int, default=None, help="override the world size")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("results/long_term"))
    args = parser.parse_args()
    started = time.time()
    base = {} if args.n_users is None else {"n_users": args.n_users}
    runs = args.out / "runs"

    def tasks(strength: float, agents: list[str]) -> list:
        world = {**base, "tradeoff_strength": strength}
        settings = dict(days=args.days, log_days=0.0, world=world, with_regret=False)
        size = f"u{args.n_users}" if args.n_users else "default"
        return [(runs / f"{agent.replace(':', '-')}_seed{seed}_lambda{strength}_d{args.days}_"
                 f"{size}.csv", agent, seed, settings) for agent in agents for seed in args.seeds]

    print(f"agents {AGENTS}, seeds {args.seeds}, {args.days} days, world "
          f"{base or 'default'}; sweep of tradeoff_strength {SWEEP} for the oracles",
          flush=True)
    values = {strength: episode_values(run_all(
        tasks(strength, AGENTS if strength in (0.0, 1.0) else ORACLES), args.jobs))
        for strength in SWEEP}
    write_csv(args.out / "episode_values.csv",
              pd.concat(values, names=["tradeoff_strength"]).reset_index(level=0))

    for strength, title in ((1.0, "default trade-off (tradeoff_strength = 1)"),
                            (0.0, "control: clicks-only world (tradeoff_strength = 0)")):
        print(f"\n{title}: mean [95% interval] across {len(args.seeds)} seeds")
        print(table(values[strength]))
    gaps = {s: oracle_gap(v) for s, v in values.items()}
    print("\noracle:longterm vs oracle, paired per seed (relative clicks per user, CTR "
          "difference), mean [95% interval]")
    for strength in SWEEP:
        print(f"  tradeoff_strength {strength:<4}: {gap_line(gaps[strength])}")
    on, off = gaps[1.0], gaps[0.0]
    claims = [
        (on["clicks_per_user"][1] > 0.10,
         "with the trade-off, oracle:longterm earns >= 10% more clicks per user "
         "(interval above +10%)"),
        (on["clicks_per_user"][1] > 0, "... and more at all (interval above 0)"),
        (on["ctr"][2] < 0, "... while its CTR per visit is lower (interval below 0)"),
        (not off["clicks_per_user"][1] > 0,
         "with tradeoff_strength = 0 it does not beat the myopic oracle"),
        (all(gaps[a]["clicks_per_user"][0] <= gaps[b]["clicks_per_user"][0]
             for a, b in zip(SWEEP, SWEEP[1:], strict=False)),
         f"the gap grows with the knob over {SWEEP}"),
    ]
    print("\nClaims")
    for holds, text in claims:
        print(f"  [{'holds' if holds else 'does not hold'}] {text}")
    print(f"\nwall time {time.time() - started:.0f} s; episode values in "
          f"{args.out / 'episode_values.csv'}")


if __name__ == "__main__":
    main()
