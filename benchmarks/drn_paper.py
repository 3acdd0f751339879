"""The online comparison of the DRN paper (Zheng et al., WWW 2018, online evaluation) in
the simulator: static LR, FM and Wide&Deep trained on logs, LinUCB, HLinUCB and the DRN
variants DN, DDQN, DDQN+U, DDQN+U+EG and DRN (DDQN+U+DBGD), on identical worlds.

    python benchmarks/drn_paper.py                    # 5 seeds, 2000 users, 3 days, ~20 min
    python benchmarks/drn_paper.py --quick            # 2 seeds, 1000 users, 1 day, ~2.5 min
    python benchmarks/drn_paper.py --seeds 0 1 2 --days 2 --users 3000 --jobs 2

Prints CTR, precision@5, nDCG@K, ILS, activeness (mean survival estimate S) and the true
return rate (visits per user per day) with 95% intervals across seeds beside the paper's
figures (docs/design.md section 7), checks the paper's claims, saves the reward curves and the
tidy frame, and prints its wall time. Each (agent, seed) run is one task of a process pool;
every run of a seed starts from the same world and the same pre-period logs.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

# One process per core: the simulator's numba kernels keep to one thread per worker (idle
# OpenMP threads of several processes would spin on the same cores). Set before numba loads.
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import pandas as pd

from drnsim.loop import summarize

#: (paper label, agent name) in the paper's table order.
AGENTS = [("LR", "static:lr"), ("FM", "static:fm"), ("W&D", "static:wide_deep"),
          ("LinUCB", "linucb"), ("HLinUCB", "hlinucb"), ("DN", "drn:dn"),
          ("DDQN", "drn:ddqn"), ("DDQN+U", "drn:ddqn+u"), ("DDQN+U+EG", "drn:ddqn+u+eg"),
          ("DRN", "drn")]
STATIC = ["static:lr", "static:fm", "static:wide_deep"]
#: Online figures the paper reports (docs/design.md section 7); None where it gives none.
PAPER_CTR = {"LR": 0.0059, "FM": 0.0072, "W&D": 0.0052, "LinUCB": 0.0075, "HLinUCB": 0.0085,
             "DN": 0.0100, "DDQN": 0.0111, "DDQN+U": 0.0089, "DDQN+U+EG": 0.0083,
             "DRN": 0.0113}
PAPER_ILS = {"DDQN+U+EG": 0.1907, "DRN": 0.1216}
METRICS = ["ctr", "precision@5", "ndcg", "ils", "activeness", "return_rate"]


def run(job: tuple[str, int], days: float, world: dict, log_days: float) -> pd.DataFrame:
    """One (agent, seed) run of `drnsim.loop.compare`, single-threaded torch and numba (one
    process per core)."""
    import torch

    from drnsim.loop import compare

    torch.set_num_threads(1)
    agent, seed = job
    start = time.time()
    frame = compare([agent], seeds=[seed], days=days, world=world, log_days=log_days,
                    progress=False)
    print(f"  {agent:<18s} seed {seed}  {time.time() - start:6.1f} s", flush=True)
    return frame


def cell(row: pd.Series, digits: int) -> str:
    return f"{row['mean']:.{digits}f} [{row['low']:.{digits}f}, {row['high']:.{digits}f}]"


def table(summary: pd.DataFrame, ndcg: str) -> str:
    """Agent x metric, mean [95% interval], the paper's CTR and ILS beside them."""
    columns = [(m if m != "ndcg" else ndcg) for m in METRICS]
    head = (f"{'agent':<10s} {'paper CTR':>9s} " + " ".join(f"{c:>24s}" for c in columns)
            + f" {'paper ILS':>9s}")
    lines = [head, "-" * len(head)]
    for label, agent in AGENTS:
        cells = [cell(summary.loc[(agent, c)], 3 if c == "return_rate" else 4)
                 for c in columns]
        paper_ils = f"{PAPER_ILS[label]:.4f}" if label in PAPER_ILS else "-"
        lines.append(f"{label:<10s} {PAPER_CTR[label]:>9.4f} "
                     + " ".join(f"{c:>24s}" for c in cells) + f" {paper_ils:>9s}")
    return "\n".join(lines)


def paired(frame: pd.DataFrame, agent: str, baseline: str, metric: str) -> pd.Series:
    """value(agent) - value(baseline) per seed (same worlds): mean and 95% interval."""
    return summarize(frame, baseline=baseline).loc[(agent, metric)]


def lift_cell(row: pd.Series) -> str:
    return f"{row['lift']:+.4f} [{row['lift_low']:+.4f}, {row['lift_high']:+.4f}]"


def checks(frame: pd.DataFrame, summary: pd.DataFrame) -> str:
    """The paper's claims (the issue's "must show"), each PASS or FAIL with its figures:
    the unpaired intervals across seeds, and the paired lift per seed (same worlds, common
    random numbers), which removes the between-world spread."""

    def get(agent: str, metric: str) -> pd.Series:
        return summary.loc[(agent, metric)]

    lines = []

    def claim(ok: bool, text: str) -> None:
        lines.append(f"[{'PASS' if ok else 'FAIL'}] {text}")

    drn = get("drn", "ctr")
    for other in [*STATIC, "drn:ddqn+u+eg"]:
        o, lift = get(other, "ctr"), paired(frame, "drn", other, "ctr")
        claim(drn["low"] > o["high"], f"CTR drn {cell(drn, 4)} > {other} {cell(o, 4)} "
              "(non-overlapping 95% intervals)")
        claim(lift["lift_low"] > 0, f"CTR drn - {other}, paired per seed: {lift_cell(lift)}")
    ils, ils_eg = get("drn", "ils"), get("drn:ddqn+u+eg", "ils")
    claim(ils["mean"] < ils_eg["mean"], f"ILS drn {cell(ils, 4)} < drn:ddqn+u+eg "
          f"{cell(ils_eg, 4)}; paired: {lift_cell(paired(frame, 'drn', 'drn:ddqn+u+eg', 'ils'))}")
    for agent in ("drn:ddqn+u", "drn:ddqn+u+eg", "drn"):
        lift = paired(frame, agent, "drn:ddqn", "return_rate")
        claim(lift["lift_low"] > 0, f"return rate {agent} - drn:ddqn, paired per seed: "
              f"{lift_cell(lift)} visits/user/day")
    return "\n".join(lines)


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
    parser.add_argument("--report", type=Path, default=None,
                        help="only print the tables of a frame.csv saved by an earlier run")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.days, args.users = args.seeds[:2], 1.0, 1000
    world = {"n_users": args.users}
    started = time.time()
    if args.report is not None:
        frame = pd.read_csv(args.report)
    else:
        print(f"{len(AGENTS)} agents x seeds {args.seeds}: {args.days} days after a "
              f"{args.log_days}-day pre-period, world {world}, {args.jobs} processes",
              flush=True)
        jobs = [(agent, seed) for seed in args.seeds for _, agent in AGENTS]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            frames = list(pool.map(partial(run, days=args.days, world=world,
                                           log_days=args.log_days), jobs))
        frame = pd.concat(frames, ignore_index=True)

    from drnsim.plotting import plot_curves

    summary = summarize(frame)
    ndcg = next(m for m in summary.index.get_level_values("metric") if m.startswith("ndcg"))
    print("\nOnline comparison: mean [95% interval] across seeds; paper figures beside")
    print(table(summary, ndcg))
    print("\nClaims of the paper (docs/design.md section 7)")
    print(checks(frame, summary))
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report is None:
        frame.to_csv(args.out / "frame.csv", index=False)
    plot_curves(frame, "reward", path=args.out / "reward_curves.png",
                title="clicks per visit over simulated time (95% band across seeds)")
    print(f"\nframe and reward curves in {args.out}/; wall time {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
